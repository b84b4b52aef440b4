// The Redis gateway: one hiredis async connection on one event loop.
//
// Every call is pipelined on the connection and answered exactly once:
// by Redis, by the deadline timer (the call's deadline passed), or with
// kUnavailable when the connection is down or drops. Replies come back in
// the order calls were sent, so pending calls sit in a FIFO whose expired
// entries always form a prefix (all calls share one timeout).
//
// On every (re)connect the scripts are loaded before anything else is sent;
// should Redis still answer NOSCRIPT (SCRIPT FLUSH), the call is resent once
// as EVAL, so NOSCRIPT never reaches a caller. Lost connections are retried
// with exponential backoff and jitter.
//
// Each connection also reads the server's maxmemory-policy (INFO memory):
// Redis must never evict our keys (an evicted key is a lost reservation), so
// any policy but noeviction keeps the gateway not ready unless
// allow_eviction accepts it.
//
// A broken invariant that could match a reply to the wrong call (a reply
// with no call waiting for it) is checked in release builds too: it is
// logged and the connection is dropped, so every call in flight gets
// kUnavailable instead of someone else's answer.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "ticketq/metrics.h"
#include "ticketq/script_runner.h"
#include "ticketq/validate.h"

struct event_base;
struct event;
struct redisAsyncContext;
struct redisReply;

namespace ticketq {

struct RedisEndpoint {
  bool is_unix = false;
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string path;  // unix socket
  std::string password;
  int db = 0;
  std::string describe() const;  // for logs; never shows the password
};

// redis://[:password@]host[:port][/db], rediss is refused, unix:///path[?db=N].
Parsed<RedisEndpoint> parse_redis_url(std::string_view url);

// The value of the maxmemory_policy field of an INFO reply, or nullopt when
// the reply has no such field.
std::optional<std::string> parse_maxmemory_policy(std::string_view info);

struct GatewayOptions {
  RedisEndpoint endpoint;
  int64_t timeout_ms = 1000;
  size_t max_inflight = 10000;
  int64_t backoff_min_ms = 50;
  int64_t backoff_max_ms = 1000;  // every loop is back within ~1 s of Redis
  // Accept a maxmemory-policy other than noeviction (logged as a warning)
  // instead of staying not ready.
  bool allow_eviction = false;
  LoopMetrics* metrics = nullptr;  // optional
};

class RedisGateway final : public ScriptRunner {
 public:
  RedisGateway(event_base* base, GatewayOptions options);
  ~RedisGateway() override;
  RedisGateway(const RedisGateway&) = delete;
  RedisGateway& operator=(const RedisGateway&) = delete;

  void start();  // first connection attempt
  void stop();   // drop the connection, answer pending calls, never reconnect

  void run(const Script& script, int numkeys, std::vector<std::string> argv,
           ReplyCallback cb) override;
  void ping(ReplyCallback cb) override;
  // Connected, every script loaded, no call overdue (a stalled Redis is not
  // ready even while its socket stays open), and Redis not allowed to evict
  // our keys (or allowed by allow_eviction).
  bool ready() const override {
    return connected_ && loaded_mask_ == (1u << scripts().all().size()) - 1 && expired_ == 0 &&
           !eviction_refused_;
  }

 private:
  struct Pending {
    ReplyCallback cb;  // empty once answered by the deadline timer
    int64_t deadline_ms;
    const Script* script;  // set for EVALSHA calls, for the NOSCRIPT retry
    int numkeys;
    std::vector<std::string> argv;  // kept only for script calls
    int64_t sent_us = 0;
    bool internal = false;  // connection setup: not subject to max_inflight
  };

  void connect();
  void open_connection(const std::string& address);
  void check_eviction_policy();
  void load_scripts();
  void drop_connection();
  void schedule_reconnect();
  void send(std::vector<std::string_view> words, Pending p);
  void send_script(const Script& script, bool by_sha, int numkeys, std::vector<std::string> argv,
                   ReplyCallback cb, int64_t deadline_ms);
  void arm_timer();
  // Answers a call that Redis did not answer, and counts it.
  void fail(ReplyCallback& cb, Fault f, const char* detail);

  static void on_reply(redisAsyncContext* c, void* reply, void* privdata);
  static void on_connect(const redisAsyncContext* c, int status);
  static void on_disconnect(const redisAsyncContext* c, int status);
  static void on_timer(int fd, short what, void* arg);
  static void on_reconnect_timer(int fd, short what, void* arg);
  static void on_script_retry(int fd, short what, void* arg);
  static void on_resolved(int fd, short what, void* arg);

  event_base* base_;
  GatewayOptions options_;
  redisAsyncContext* ctx_ = nullptr;
  bool connected_ = false;
  bool ever_connected_ = false;
  bool stopping_ = false;
  unsigned loaded_mask_ = 0;       // bit i: scripts().all()[i] is loaded on ctx_
  bool eviction_refused_ = false;  // ctx_'s Redis may evict keys and that is not allowed
  int attempts_ = 0;               // failed connection attempts in a row
  std::deque<Pending> pending_;
  size_t expired_ = 0;  // leading entries of pending_ already answered by the timer
  event* deadline_timer_ = nullptr;
  bool timer_armed_ = false;
  event* reconnect_timer_ = nullptr;
  event* script_retry_timer_ = nullptr;
  struct Lookup;  // a host name lookup in progress
  std::shared_ptr<Lookup> lookup_;
  event* resolved_event_ = nullptr;  // activated by the lookup's thread
  bool script_retry_armed_ = false;
};

}  // namespace ticketq
