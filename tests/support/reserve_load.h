// Steady reservation load for fault tests, and the check of what clients
// were told against what Redis holds afterwards.
//
// "Acknowledged" means the client got 200 (reserved, queued, already_*) or
// 409 (sold_out). "Sent" means the client tried to send the request (a
// superset of what reached the server). After a fault:
//   lost      acknowledged users Redis no longer holds,
//   wrong     acknowledged users Redis holds in another state (reserved vs
//             queued, another position, or present despite sold_out),
//   phantoms  users in Redis that were never sent,
//   unacked_in_redis  users sent without an acknowledgement (503 or no
//             reply) that Redis holds anyway: allowed, and worth knowing.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/process_util.h"
#include "support/redis_client.h"

namespace ticketq::test {

// Microseconds of a steady clock.
int64_t now_us();
// Microseconds as milliseconds with one decimal, for FIGURE lines.
std::string fmt_ms(int64_t us);

// One reserve as a client saw it.
struct Outcome {
  std::string user;
  std::string event = "default";
  int worker = 0;
  int status = 0;            // 0: no HTTP response (see error)
  std::string state;         // the reply's "status" field
  int64_t position = -1;     // queued / already_in_queue
  bool retry_after = false;  // a Retry-After: 1 header came with it
  int64_t sent_us = 0;       // before the request was written
  int64_t done_us = 0;       // after the whole response was read (or the failure)
  std::string error;
  std::string body;  // kept for replies other than 200 and 409
  int64_t latency_us() const { return done_us - sent_us; }
  bool acked() const { return status == 200 || status == 409; }
};

// `connections` client threads, each on its own keep-alive connection,
// reserving distinct users back to back until stop() (or `max_run`). With
// `events`, each request goes to the next of them in turn
// (/v1/events/{event}/reserve); without, to POST /reserve.
class ReserveLoad {
 public:
  ReserveLoad(int port, int connections, std::string tag, Millis max_run = Millis(40000),
              std::vector<std::string> events = {});
  ~ReserveLoad() { stop(); }

  void start();
  void stop();

  int64_t acked() const { return acked_.load(); }
  int64_t answered(int status);  // replies with this status so far
  // Per worker: completion time of its first response with `status` that
  // completed at or after `since_us`, or -1. Each worker appends its
  // outcomes in completion order, so its first match is its earliest.
  std::vector<int64_t> first_done_per_worker(int status, int64_t since_us);
  // The earliest of first_done_per_worker, or -1.
  int64_t first_done(int status, int64_t since_us);
  // Waits (bounded) until first_done(status, since_us) exists; returns it or -1.
  int64_t wait_first(int status, int64_t since_us, Millis timeout);
  // Waits (bounded) until `n` more replies with `status` came after the call.
  bool wait_more(int status, int64_t n, Millis timeout);
  // Every outcome (call after stop()).
  const std::vector<Outcome>& outcomes() const { return outcomes_; }
  int connections() const { return connections_; }

 private:
  void run(int w);

  const int port_;
  const int connections_;
  const std::string tag_;
  const Millis max_run_;
  const std::vector<std::string> events_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> acked_{0};
  std::mutex mu_;
  std::vector<Outcome> outcomes_;
  std::vector<std::thread> threads_;
};

// What clients were told about `event`, checked against what Redis holds.
struct AckCheck {
  int64_t sent = 0, acked = 0, lost = 0, wrong = 0, phantoms = 0;
  // Sent but not acknowledged (503, or no reply at all), yet in Redis: a
  // 503 after a deadline or a lost connection does not undo the call.
  int64_t unacked_in_redis = 0;
  std::vector<std::string> examples;  // the first few problems
  void problem(const std::string& what) {
    if (examples.size() < 10) examples.push_back(what);
  }
  void add(const AckCheck& other);
};

// `db` must be the Redis (or the Cluster master) holding `event`'s keys.
// Positions are compared as told: nobody may have been promoted.
AckCheck check_acks(RedisClient& db, const std::vector<Outcome>& outcomes,
                    const std::set<std::string>& also_sent = {},
                    const std::string& event = "default");

void expect_clean(const AckCheck& c);
void expect_invariants(RedisClient& db, int64_t capacity, const std::string& event = "default");

// Counts of replies by status, and 503s that came without Retry-After: 1.
struct StatusCounts {
  std::map<int, int64_t> by_status;
  int64_t other_5xx = 0, transport_errors = 0, missing_retry_after = 0;
  std::string first_error;
  explicit StatusCounts(const std::vector<Outcome>& outcomes);
  int64_t n(int status) const {
    auto it = by_status.find(status);
    return it == by_status.end() ? 0 : it->second;
  }
};

// What a fault may show clients: 200, 409, or 503 with Retry-After, never
// a transport error, and no body with the text of a Redis error (NOSCRIPT,
// MOVED, READONLY, ...) in it.
void expect_only_503s(const std::vector<Outcome>& outcomes);

}  // namespace ticketq::test
