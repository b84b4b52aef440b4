// The Sentinel and Cluster harness (tests/support/redis_topology.h) against
// real redis-server processes: a Sentinel group fails over on request and
// after a kill -9 and takes the old master back as a replica; a Cluster
// moves a slot by hand and by redis-cli, fails over on request and after a
// kill -9. Timings are printed as FIGURE lines, never asserted.
#include "support/redis_topology.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "redis/cluster_slot.h"

namespace ticketq::test {
namespace {

bool is_ok_reply(const Reply& r) {
  return r.type == Reply::Type::kStatus && r.str == "OK";
}

void figure(const std::string& what, int64_t since_ms) {
  std::printf("FIGURE %s: %lld ms\n", what.c_str(), static_cast<long long>(now_ms() - since_ms));
  std::fflush(stdout);
}

TEST(RedisTopology, SentinelFailover) {
  SentinelOptions o;
  o.password = "sekret";
  SentinelSetup s(o);
  int64_t t = now_ms();
  ASSERT_EQ(s.start(), "");
  figure("sentinel_setup_start", t);
  EXPECT_EQ(s.url(), "sentinel://:sekret@127.0.0.1:" + std::to_string(s.sentinel(0).port()) +
                         ",127.0.0.1:" + std::to_string(s.sentinel(1).port()) +
                         ",127.0.0.1:" + std::to_string(s.sentinel(2).port()) + "/tqmaster");
  const int first = s.current_master_port();
  ASSERT_EQ(first, s.data_ports()[0]);
  EXPECT_EQ(s.replica_ports().size(), 2u);
  // The password is required on data nodes and on Sentinels.
  RedisClient anonymous(first, "127.0.0.1", 2000);
  EXPECT_NE(anonymous.command({"GET", "k"}).str.find("NOAUTH"), std::string::npos);
  RedisClient anonymous_sentinel(s.sentinel(0).port(), "127.0.0.1", 2000);
  EXPECT_NE(anonymous_sentinel.command({"PING"}).str.find("NOAUTH"), std::string::npos);

  ASSERT_TRUE(is_ok_reply(s.command(first, {"SET", "k", "v1"})));
  ASSERT_EQ(s.wait_replicas_synced(), "");
  for (int p : s.replica_ports()) EXPECT_EQ(s.command(p, {"GET", "k"}).str, "v1");

  // The master killed: the Sentinels agree it is down and promote a replica.
  t = now_ms();
  s.node_by_port(first).kill9();
  const int second = s.wait_master_change(first);
  ASSERT_NE(second, 0);
  figure("sentinel_kill9_to_new_master", t);
  EXPECT_EQ(s.command(second, {"GET", "k"}).str, "v1");

  // The killed one comes back as a replica of the new master.
  t = now_ms();
  ASSERT_EQ(s.restart_node(first), "");
  figure("sentinel_restart_node_to_settled", t);
  Reply role = s.command(first, {"ROLE"});
  ASSERT_EQ(role.type, Reply::Type::kArray);
  EXPECT_EQ(role.elements.at(0).str, "slave");
  EXPECT_EQ(role.elements.at(2).integer, second);
  EXPECT_EQ(s.command(first, {"GET", "k"}).str, "v1");
  EXPECT_EQ(s.current_master_port(), second);

  // A failover on request; the old master turns replica.
  ASSERT_TRUE(is_ok_reply(s.command(second, {"SET", "k", "v2"})));
  ASSERT_EQ(s.wait_replicas_synced(), "");
  t = now_ms();
  ASSERT_EQ(s.failover(), "");
  const int third = s.wait_master_change(second);
  ASSERT_NE(third, 0);
  figure("sentinel_failover_command_to_new_master", t);
  EXPECT_EQ(s.command(third, {"GET", "k"}).str, "v2");
  ASSERT_EQ(s.wait_settled(), "");
  figure("sentinel_failover_command_to_settled", t);
  EXPECT_EQ(s.command(second, {"ROLE"}).elements.at(0).str, "slave");
  // No second, needless failover.
  EXPECT_EQ(s.current_master_port(), third);
}

TEST(RedisTopology, ClusterMigrateAndFailover) {
  ClusterOptions o;
  o.password = "sekret";
  ClusterSetup c(o);
  int64_t t = now_ms();
  ASSERT_EQ(c.start(), "");
  figure("cluster_setup_start", t);
  std::vector<int> masters = c.masters();
  ASSERT_EQ(masters.size(), 3u);
  EXPECT_EQ(c.url(), "cluster://:sekret@127.0.0.1:" + std::to_string(masters[0]) + ",127.0.0.1:" +
                         std::to_string(masters[1]) + ",127.0.0.1:" + std::to_string(masters[2]));
  for (int m : masters) {
    EXPECT_EQ(c.replicas_of(m).size(), 1u) << m;
    EXPECT_EQ(c.node_id(m).size(), 40u);
  }

  // Events on each master, by the slots of their keys.
  auto events = c.events_by_master(2);
  ASSERT_EQ(events.size(), 3u);
  for (const auto& [port, names] : events) {
    ASSERT_EQ(names.size(), 2u);
    for (const auto& e : names) {
      EXPECT_EQ(c.master_of_slot(ClusterSetup::event_slot(e)), port) << e;
      EXPECT_EQ(ClusterSetup::event_slot(e), key_slot(e));
    }
  }
  EXPECT_EQ(ClusterSetup::event_slot(ClusterSetup::event_in_slot(777)), 777);

  // One event's slot moved by hand, with its key.
  const int from = masters[0];
  const int to = masters[1];
  const std::string event = events[from][0];
  const int slot = ClusterSetup::event_slot(event);
  const std::string key = RedisClient::key(event, "cfg");
  ASSERT_TRUE(is_ok_reply(c.command(from, {"SET", key, "here"})));
  const int from_replica = c.replicas_of(from).at(0);
  // A replica (no READONLY) sends clients to its master.
  Reply on_replica = c.command(from_replica, {"GET", key});
  std::printf("replica answers: %s\n", on_replica.str.c_str());
  EXPECT_EQ(on_replica.str, "MOVED " + std::to_string(slot) + " 127.0.0.1:" + std::to_string(from));

  t = now_ms();
  ASSERT_EQ(c.begin_migration(slot, from, to), "");
  // While it migrates, CLUSTER SLOTS still names the source, and the
  // target sends clients that do not say ASKING to the source.
  EXPECT_EQ(c.master_of_slot(slot), from);
  EXPECT_EQ(c.command(to, {"GET", key}).str,
            "MOVED " + std::to_string(slot) + " 127.0.0.1:" + std::to_string(from));
  std::string error;
  EXPECT_EQ(c.migrate_keys(slot, from, to, 1000, &error), 1u);
  EXPECT_EQ(error, "");
  // The key gone from the source: it sends the client on with ASK.
  Reply asked = c.command(from, {"GET", key});
  std::printf("source answers during migration: %s\n", asked.str.c_str());
  EXPECT_EQ(asked.str, "ASK " + std::to_string(slot) + " 127.0.0.1:" + std::to_string(to));
  ASSERT_EQ(c.finish_migration(slot, to), "");
  figure("cluster_manual_slot_migration", t);
  EXPECT_EQ(c.master_of_slot(slot), to);
  EXPECT_EQ(c.command(to, {"GET", key}).str, "here");
  EXPECT_EQ(c.command(from, {"GET", key}).str,
            "MOVED " + std::to_string(slot) + " 127.0.0.1:" + std::to_string(to));

  // redis-cli --cluster reshard (with the password, MIGRATE ... AUTH).
  t = now_ms();
  ASSERT_EQ(c.reshard(masters[2], from, 10), "");
  figure("cluster_reshard_10_slots", t);

  // A failover on request: the target's replica takes its slots.
  const int to_replica = c.replicas_of(to).at(0);
  t = now_ms();
  ASSERT_EQ(c.cluster_failover(to_replica), "");
  figure("cluster_failover_command", t);
  EXPECT_EQ(c.master_of_slot(slot), to_replica);
  EXPECT_EQ(c.command(to_replica, {"GET", key}).str, "here");
  EXPECT_EQ(c.replicas_of(to_replica), std::vector<int>{to});

  // A master killed: its replica takes over.
  const int victim = masters[2];
  const int heir = c.replicas_of(victim).at(0);
  t = now_ms();
  c.node(victim).kill9();
  const int new_master = c.wait_failover_after_kill(victim);
  figure("cluster_kill9_to_failover", t);
  EXPECT_EQ(new_master, heir);

  // Back on its port and directory, it is the heir's replica.
  t = now_ms();
  ASSERT_EQ(c.restart_node(victim), "");
  figure("cluster_restart_node_to_agreement", t);
  EXPECT_EQ(c.replicas_of(heir), std::vector<int>{victim});
}

}  // namespace
}  // namespace ticketq::test
