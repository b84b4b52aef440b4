// A synchronous hiredis connection for inspecting and poking Redis from
// tests, plus snapshots and the queue invariants.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

struct redisContext;

namespace ticketq::test {

// A reply copied out of hiredis.
struct Reply {
  enum class Type { kNil, kInteger, kString, kStatus, kError, kArray, kNoConnection };
  Type type = Type::kNil;
  int64_t integer = 0;
  std::string str;  // string, status or error text
  std::vector<Reply> elements;
  bool is_error() const { return type == Type::kError || type == Type::kNoConnection; }
};

// One key's type and full content, in a canonical order.
struct KeyDump {
  std::string type;                // "string", "list", "set", "hash", "zset", ...
  std::vector<std::string> items;  // string: {value}; list: in order; set: sorted;
                                   // hash: sorted "field=value"; zset: "member=score" by rank
  bool has_ttl = false;
  bool operator==(const KeyDump&) const = default;
};

// Every key under a prefix.
using Snapshot = std::map<std::string, KeyDump>;

// A readable list of differences between two snapshots ("" when equal).
std::string diff(const Snapshot& before, const Snapshot& after);

class RedisClient {
 public:
  // `password` is sent with AUTH and `db` chosen with SELECT on every
  // (re)connection.
  explicit RedisClient(int port, std::string host = "127.0.0.1", int timeout_ms = 2000,
                       std::string password = "", int db = 0);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Runs one command (binary safe). Should the kept connection turn out dead
  // (Redis was killed or restarted), reconnects and sends it once more;
  // kNoConnection when Redis cannot be reached or does not answer in time.
  Reply command(const std::vector<std::string>& args);

  bool ping();
  std::set<std::string> smembers(const std::string& key);
  std::vector<std::string> lrange(const std::string& key, int64_t start = 0, int64_t stop = -1);
  std::map<std::string, std::string> hgetall(const std::string& key);
  std::optional<std::string> get(const std::string& key);
  int64_t scard(const std::string& key);
  int64_t llen(const std::string& key);
  // An event's line, head first, and its length (src/core/scripts.h).
  std::vector<std::string> line(const std::string& event, const std::string& prefix = "ticketq");
  int64_t waiting(const std::string& event, const std::string& prefix = "ticketq");
  // The ticket of a waiting user's join, as the scripts write it ("" when
  // not in line): what the heartbeats in `seen` are keyed by.
  std::string ticket_of(const std::string& event, const std::string& user,
                        const std::string& prefix = "ticketq");
  bool exists(const std::string& key);
  std::string type(const std::string& key);
  std::vector<std::string> keys(const std::string& prefix);  // SCAN MATCH prefix*
  void flushall();
  void script_flush();

  // Every key whose name starts with `prefix` ("" = the whole database).
  Snapshot snapshot(const std::string& prefix);

  // The queue invariants of one event (key layout of
  // src/core/scripts.h), with the event's capacity. Returns the
  // violations, empty when all hold:
  //   each key has its type (cfg, stats, seats: hash; reserved: set;
  //   queued, holds, seen: sorted set) or is absent;
  //   SCARD reserved <= capacity; nobody both reserved and in the line;
  //   the seat holders are exactly the fields of seats; holds names seat
  //   holders only, each with a whole ms or inf; seen names waiting users
  //   only, each with a whole ms;
  //   tickets (the line's scores, the seats' values without their "u") are
  //   whole numbers > 0, no two alike, none above cfg's `tickets`, and
  //   strictly growing along the line.
  std::vector<std::string> check_invariants(const std::string& event, int64_t capacity,
                                            const std::string& prefix = "ticketq");

  // The name of one of an event's keys: PREFIX:{event}:what.
  static std::string key(const std::string& event, const std::string& what,
                         const std::string& prefix = "ticketq");

 private:
  bool connect();

  std::string host_;
  int port_;
  int timeout_ms_;
  std::string password_;
  int db_;
  redisContext* ctx_ = nullptr;
};

}  // namespace ticketq::test
