// Where ticketq finds Redis, from the `redis` setting:
//
//   redis://[:password@]host[:port][/db]      one server (port 6379)
//   unix:///path/to/redis.sock[?db=N]         one server on a local socket
//   sentinel://[:password@]h1[:p1],h2[:p2],.../master-name
//                                             the master a group of Sentinels
//                                             watches (ports 26379)
//   cluster://[:password@]h1[:p1],h2[:p2],... any nodes of a Redis Cluster,
//                                             asked for its slot map (6379)
//
// The password is the data nodes' (requirepass); with sentinel:// it is also
// sent to the Sentinels, which may ignore it. IPv6 hosts go in brackets.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/validate.h"

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

enum class RedisMode { kSingle, kSentinel, kCluster };

// A parsed `redis` setting.
struct RedisTarget {
  RedisMode mode = RedisMode::kSingle;
  // kSingle: the server. kSentinel and kCluster: where the password (and the
  // db, always 0) of every data node come from.
  RedisEndpoint endpoint;
  // kSentinel: the Sentinels; kCluster: the nodes first asked for the map.
  std::vector<RedisEndpoint> seeds;
  std::string master_name;       // kSentinel
  std::string describe() const;  // for logs; never shows the password
};

constexpr size_t kMaxRedisSeeds = 32;

// A whole decimal number in [lo, hi] (ports, slots, db numbers in URLs and
// Redis replies).
bool parse_int_in(std::string_view text, int lo, int hi, int* out);

// Any of the forms above.
Parsed<RedisTarget> parse_redis_target(std::string_view url);

}  // namespace ticketq
