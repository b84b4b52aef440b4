// Tests of src/redis/cluster_slot.cpp against the Redis Cluster specification's
// vectors. tests/integration/cluster_slot_test.cpp checks many more keys
// against a real redis-server's CLUSTER KEYSLOT.
#include "redis/cluster_slot.h"

#include <gtest/gtest.h>

#include <string>

#include "core/queue_core.h"
#include "redis/script_runner.h"

namespace ticketq {
namespace {

// The queue core names the keys; it runs nothing here.
class FakeRunnerForKeys : public ScriptRunner {
 public:
  void run(const Script&, int, std::vector<std::string>, ReplyCallback) override {}
  void ping(ReplyCallback) override {}
  bool ready() const override { return true; }
};

TEST(Crc16, TheSpecificationsCheckValue) {
  // "The CRC16 of 123456789 is 0x31C3" (Cluster specification, appendix A).
  EXPECT_EQ(crc16("123456789"), 0x31C3);
  EXPECT_EQ(crc16(""), 0);
}

TEST(KeySlot, KnownSlots) {
  // Slots Redis answers to CLUSTER KEYSLOT.
  EXPECT_EQ(key_slot("foo"), 12182);
  EXPECT_EQ(key_slot("bar"), 5061);
  EXPECT_EQ(key_slot("somekey"), 11058);
  EXPECT_EQ(key_slot("hello"), 866);
  EXPECT_EQ(key_slot(""), 0);
}

TEST(KeySlot, HashTagsAsTheSpecificationDefinesThem) {
  // The specification's examples.
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
  EXPECT_EQ(key_slot("{user1000}.followers"), key_slot("user1000"));
  // An empty tag: the whole key is hashed.
  EXPECT_EQ(key_slot("foo{}{bar}"), crc16("foo{}{bar}") % kClusterSlots);
  EXPECT_EQ(key_slot("{}"), crc16("{}") % kClusterSlots);
  EXPECT_EQ(key_slot("foo{{bar}}zap"), key_slot("{bar"));  // from the first '{' to the first '}'
  EXPECT_EQ(key_slot("foo{bar}{zap}"), key_slot("bar"));   // the first tag only
  EXPECT_EQ(key_slot("foo{bar"), crc16("foo{bar") % kClusterSlots);  // no '}': the whole key
  EXPECT_EQ(key_slot("}foo{bar}"), key_slot("bar"));
}

TEST(KeySlot, EveryKeyOfAnEventIsOnTheEventsSlot) {
  QueueOptions options;
  for (const char* event : {"default", "concert-2026.11", "a", "E_x"}) {
    SCOPED_TRACE(event);
    FakeRunnerForKeys runner;
    QueueCore core(runner, options);
    for (const std::string& key : core.keys(event))
      EXPECT_EQ(key_slot(key), key_slot(event)) << key;
  }
}

}  // namespace
}  // namespace ticketq
