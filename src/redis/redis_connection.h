// One hiredis async connection to one Redis server, on one event loop: the
// plain connection every deployment builds on (redis_gateway.h keeps one
// open to a data node, redis_sentinel.h and redis_cluster.h several). It
// knows no topology, resolves no names and never reconnects by itself: its
// owner opens it again, and hears through Hooks when it connects or ends.
//
// Every call is pipelined on the connection and answered exactly once:
// by Redis, by the deadline timer (the call's deadline passed), or with
// kUnavailable when the connection is down or drops. Replies come back in
// the order calls were sent, so pending calls sit in a FIFO whose expired
// entries always form a prefix: most calls share one timeout, and the few
// that keep an earlier deadline of their own (a redirected Cluster call, a
// WAIT) are answered at worst when the call before them times out. At most
// max_inflight calls of the owner's callers are in flight; more get
// kOverloaded at once (the owner's own setup commands are not counted).
//
// Scripts are called by sha (EVALSHA); should Redis answer NOSCRIPT (a
// failover, SCRIPT FLUSH), the call is resent once as EVAL, so NOSCRIPT
// never reaches a caller. With wait_replicas, a write script's reply is
// held until WAIT says that many replicas have it.
//
// A broken invariant that could match a reply to the wrong call (a reply
// with no call waiting for it) is checked in release builds too: it is
// logged and the connection is dropped, so every call in flight gets
// kUnavailable instead of someone else's answer.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/metrics.h"
#include "redis/redis_url.h"
#include "redis/script_runner.h"

struct event_base;
struct event;
struct redisAsyncContext;

namespace ticketq {

// Whether a Redis error reply means the server is not (or no longer) the
// one to write to: READONLY, NOREPLICAS, LOADING, MASTERDOWN.
bool is_trouble_error(std::string_view error);

struct ConnectionOptions {
  int64_t timeout_ms = 1000;  // of calls given no deadline of their own
  size_t max_inflight = 10000;
  // Durability: a write script's reply is held until WAIT says this many
  // replicas have it (0: not waited for), at most wait_timeout_ms; without
  // them the call fails kUnavailable (the write stays on the master).
  int wait_replicas = 0;
  int64_t wait_timeout_ms = 100;
  LoopMetrics* metrics = nullptr;  // optional: call latencies and faults
  // The calls in flight here are the loop's ticketq_redis_inflight.
  bool inflight_gauge = false;
  // AUTH refused for its password is said at debug level, not as an error:
  // a Sentinel without a password of its own refuses the data nodes'.
  bool password_optional = false;
};

class RedisConnection {
 public:
  enum class End {
    kConnectFailed,  // never connected
    kLost,           // was connected: dropped by the server, the network or close()
    kDropped,        // close() before it connected
  };
  struct Hooks {
    std::function<void()> connected;
    // However an opened connection ends (close() included); calls in
    // flight were answered kUnavailable.
    std::function<void(End end, const std::string& error)> ended;
    // A reply said READONLY, NOREPLICAS, LOADING or MASTERDOWN (after the
    // call got it). Optional; without it such a script failure is logged.
    std::function<void(const std::string& why)> trouble;
  };
  using MessageCallback = std::function<void(const std::string& channel, const std::string& text)>;

  RedisConnection(event_base* base, ConnectionOptions options, Hooks hooks);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Connects to `address` (an IP address; a Unix endpoint's path is its
  // own) with the rest of `endpoint`: AUTH and SELECT go first, then the
  // subscription if any. False, with `error`, when hiredis cannot even
  // start; no hook runs then.
  bool open(const RedisEndpoint& endpoint, const std::string& address, std::string* error);
  // Drops the connection at once, from anywhere including a reply's
  // callback: every call in flight gets kUnavailable, and `ended` runs
  // (later, when called from inside hiredis).
  void close();

  bool is_open() const { return ctx_ != nullptr; }
  bool connected() const { return connected_; }
  // Still the connection opened as `generation` (an answer to an older
  // one is told apart).
  bool is_current(uint64_t generation) const {
    return ctx_ != nullptr && generation == generation_;
  }
  uint64_t generation() const { return generation_; }
  size_t inflight() const { return pending_.size() - expired_; }
  bool overdue() const { return expired_ != 0; }  // a call's deadline passed unanswered
  const RedisEndpoint& endpoint() const { return endpoint_; }

  // Any command; `internal` ones (the owner's setup) skip max_inflight.
  void command(std::vector<std::string_view> words, ReplyCallback cb, int64_t deadline_ms,
               bool internal = false);
  // With the deadline timeout_ms from now.
  void command(std::vector<std::string_view> words, ReplyCallback cb);
  // A script by sha; `asking` sends ASKING first (a Cluster slot being
  // imported by this server).
  void script(const Script& script, int numkeys, std::vector<std::string> argv, ReplyCallback cb,
              int64_t deadline_ms, bool asking = false);
  // Subscribes to `channels`, now and on every open (a connection that only
  // listens: nothing else may be sent on it after).
  void subscribe(std::vector<std::string> channels, MessageCallback on_message);

 private:
  struct Pending {
    ReplyCallback cb;  // empty once answered by the deadline timer
    int64_t deadline_ms;
    const Script* script = nullptr;  // set for script calls
    int numkeys = 0;
    std::vector<std::string> argv;  // kept only by EVALSHA calls, for the NOSCRIPT retry
    int64_t sent_us = 0;
    bool internal = false;  // not subject to max_inflight
    bool by_sha = false;
    bool asking = false;
  };
  // A write's reply held for the next WAIT (hold_for_replicas).
  struct HeldWrite {
    ScriptReply reply;
    ReplyCallback cb;
    int64_t deadline_ms;
    redisAsyncContext* conn;  // the connection that made the write
  };

  void send(std::vector<std::string_view> words, Pending p);
  void send_script(const Script& script, bool by_sha, int numkeys, std::vector<std::string> argv,
                   ReplyCallback cb, int64_t deadline_ms, bool asking);
  void send_subscribe();
  void hold_for_replicas(ScriptReply&& reply, ReplyCallback cb, int64_t deadline_ms);
  void send_wait();
  void arm_timer();
  // Answers a call that Redis did not answer, and counts it.
  void fail(ReplyCallback& cb, Fault f, const char* detail);
  void set_inflight_gauge();
  void answer_left_calls();

  static void on_reply(redisAsyncContext* c, void* reply, void* privdata);
  static void on_message(redisAsyncContext* c, void* reply, void* privdata);
  static void on_connect(const redisAsyncContext* c, int status);
  static void on_disconnect(const redisAsyncContext* c, int status);
  static void on_timer(int fd, short what, void* arg);

  event_base* base_;
  ConnectionOptions options_;
  Hooks hooks_;
  RedisEndpoint endpoint_;
  redisAsyncContext* ctx_ = nullptr;
  uint64_t generation_ = 0;
  bool connected_ = false;
  bool noscript_seen_ = false;  // on ctx_ (logged once)
  std::deque<Pending> pending_;
  size_t expired_ = 0;  // leading entries of pending_ already answered by the timer
  event* deadline_timer_ = nullptr;
  bool timer_armed_ = false;
  std::vector<HeldWrite> held_;
  bool waiting_ = false;               // a WAIT is in flight
  std::vector<std::string> channels_;  // subscribed to, when any
  MessageCallback on_message_;
};

}  // namespace ticketq
