// Tests of src/redis/redis_connection.cpp without Redis: calls on a connection
// that is not open, to a port nobody listens on, and to a server that
// takes the connection and never answers (a listening socket of the test's
// own: the kernel completes the handshake), which is where deadlines, the
// cap on calls in flight and close() can be seen. What Redis answers is the
// integration tests' (real redis-server processes).
#include "redis/redis_connection.h"

#include <event2/event.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "base/clock.h"

namespace ticketq {
namespace {

// The replies after which a Sentinel deployment asks again for the master.
TEST(IsTroubleError, TheRepliesOfAServerThatIsNoLongerTheMaster) {
  EXPECT_TRUE(is_trouble_error("READONLY You can't write against a read only replica."));
  EXPECT_TRUE(is_trouble_error("NOREPLICAS Not enough good replicas to write."));
  EXPECT_TRUE(is_trouble_error("LOADING Redis is loading the dataset in memory"));
  EXPECT_TRUE(is_trouble_error("MASTERDOWN Link with MASTER is down"));
  EXPECT_FALSE(is_trouble_error("ERR wrong number of arguments"));
  EXPECT_FALSE(is_trouble_error("MOVED 1 h:1"));
  EXPECT_FALSE(is_trouble_error("WRONGTYPE Operation against a key"));
  EXPECT_FALSE(is_trouble_error(""));
}

// A loop, and a socket that listens on loopback and never reads.
struct Fixture {
  event_base* base = event_base_new();
  int listener = -1;
  int port = 0;
  Fixture() {
    listener = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(listener, 8) != 0 ||
        getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      ADD_FAILURE() << "cannot listen on loopback";
    port = ntohs(addr.sin_port);
  }
  ~Fixture() {
    if (listener >= 0) close(listener);
    event_base_free(base);
  }
  RedisEndpoint endpoint(int p) const {
    RedisEndpoint ep;
    ep.host = "127.0.0.1";
    ep.port = p;
    return ep;
  }
  // Hooks that record how connections end, and whether one connected.
  std::vector<RedisConnection::End> ends;
  bool connected = false;
  RedisConnection::Hooks hooks() {
    RedisConnection::Hooks h;
    h.connected = [this] { connected = true; };
    h.ended = [this](RedisConnection::End e, const std::string&) { ends.push_back(e); };
    return h;
  }
  // Opens `conn` to the listener that never answers.
  bool open_silent(RedisConnection& conn) {
    std::string error;
    bool ok = conn.open(endpoint(port), "127.0.0.1", &error);
    EXPECT_TRUE(ok) << error;
    return ok;
  }
  void run_for(int ms) {
    timeval tv = timeval_of_ms(ms);
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
  }
};

// Collects the answers calls get.
struct Answers {
  std::vector<ScriptReply> got;
  ReplyCallback cb() {
    return [this](ScriptReply&& r) { got.push_back(std::move(r)); };
  }
};

TEST(RedisConnectionTest, CallsOnAConnectionNotOpenAreAnsweredUnavailableAtOnce) {
  Fixture f;
  RedisConnection conn(f.base, {}, {});
  Answers a;
  conn.command({"PING"}, a.cb(), now_ms() + 1000);
  ASSERT_EQ(a.got.size(), 1u);
  EXPECT_EQ(a.got[0].fault, Fault::kUnavailable);
  EXPECT_FALSE(conn.is_open());
}

TEST(RedisConnectionTest, ARefusedConnectionEndsAndAnswersItsQueuedCalls) {
  Fixture f;
  int unused_port = f.port;
  close(f.listener);  // nobody listens there any more
  f.listener = -1;
  RedisConnection conn(f.base, {}, f.hooks());
  std::string error;
  if (!conn.open(f.endpoint(unused_port), "127.0.0.1", &error)) {
    // Refused before connect() returned: said at once, and no hook runs.
    EXPECT_FALSE(error.empty());
    EXPECT_TRUE(f.ends.empty());
    return;
  }
  Answers a;
  conn.command({"PING"}, a.cb(), now_ms() + 1000);
  f.run_for(200);
  EXPECT_FALSE(f.connected);
  ASSERT_EQ(f.ends.size(), 1u);
  EXPECT_EQ(f.ends[0], RedisConnection::End::kConnectFailed);
  ASSERT_EQ(a.got.size(), 1u);
  EXPECT_EQ(a.got[0].fault, Fault::kUnavailable);
  EXPECT_FALSE(conn.is_open());
}

TEST(RedisConnectionTest, ASilentServerTimesCallsOutAtTheirDeadline) {
  Fixture f;
  RedisConnection conn(f.base, {}, f.hooks());
  ASSERT_TRUE(f.open_silent(conn));
  Answers a;
  const int64_t start = now_ms();
  conn.command({"PING"}, a.cb(), start + 50);
  conn.command({"PING"}, a.cb(), start + 5000);
  EXPECT_EQ(conn.inflight(), 2u);
  f.run_for(300);
  EXPECT_TRUE(f.connected);
  ASSERT_EQ(a.got.size(), 1u);  // the second one's deadline has not come
  EXPECT_EQ(a.got[0].fault, Fault::kTimeout);
  EXPECT_TRUE(conn.overdue());  // its reply is still owed: matched and dropped if it comes
  EXPECT_EQ(conn.inflight(), 1u);
  conn.close();  // the other is answered now
  ASSERT_EQ(a.got.size(), 2u);
  EXPECT_EQ(a.got[1].fault, Fault::kUnavailable);
  EXPECT_FALSE(conn.overdue());
}

TEST(RedisConnectionTest, CallsBeyondMaxInflightAreOverloadedButSetupIsNotCounted) {
  Fixture f;
  ConnectionOptions o;
  o.max_inflight = 2;
  RedisConnection conn(f.base, o, {});
  ASSERT_TRUE(f.open_silent(conn));
  Answers a;
  const int64_t deadline = now_ms() + 5000;
  conn.command({"PING"}, a.cb(), deadline);
  conn.command({"PING"}, a.cb(), deadline);
  conn.command({"PING"}, a.cb(), deadline);
  ASSERT_EQ(a.got.size(), 1u);
  EXPECT_EQ(a.got[0].fault, Fault::kOverloaded);
  conn.command({"PING"}, a.cb(), deadline, /*internal=*/true);
  EXPECT_EQ(a.got.size(), 1u);
  EXPECT_EQ(conn.inflight(), 3u);
  conn.close();
  EXPECT_EQ(a.got.size(), 4u);
}

TEST(RedisConnectionTest, CloseAnswersCallsInFlightAndEndsAConnectedConnectionAsLost) {
  Fixture f;
  RedisConnection conn(f.base, {}, f.hooks());
  ASSERT_TRUE(f.open_silent(conn));
  const uint64_t generation = conn.generation();
  EXPECT_TRUE(conn.is_current(generation));
  f.run_for(100);
  ASSERT_TRUE(conn.connected());
  EXPECT_TRUE(f.connected);
  Answers a;
  conn.command({"PING"}, a.cb(), now_ms() + 5000);
  conn.close();
  ASSERT_EQ(a.got.size(), 1u);
  EXPECT_EQ(a.got[0].fault, Fault::kUnavailable);
  ASSERT_EQ(f.ends.size(), 1u);
  EXPECT_EQ(f.ends[0], RedisConnection::End::kLost);
  EXPECT_FALSE(conn.is_current(generation));
  // Closed before it connected: ended all the same, as dropped.
  ASSERT_TRUE(f.open_silent(conn));
  EXPECT_NE(conn.generation(), generation);
  conn.close();
  ASSERT_EQ(f.ends.size(), 2u);
  EXPECT_EQ(f.ends[1], RedisConnection::End::kDropped);
}

}  // namespace
}  // namespace ticketq
