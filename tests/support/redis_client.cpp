#include "support/redis_client.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <sstream>

namespace ticketq::test {

namespace {

Reply convert(const redisReply* r) {
  Reply out;
  if (r == nullptr) {
    out.type = Reply::Type::kNoConnection;
    return out;
  }
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::kArray;
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      out.type = Reply::Type::kNil;
      break;
  }
  return out;
}

std::vector<std::string> strings_of(const Reply& r) {
  std::vector<std::string> out;
  for (const auto& e : r.elements) out.push_back(e.str);
  return out;
}

std::string join(const std::vector<std::string>& items, size_t max_items = 20) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < items.size() && i < max_items; ++i) os << (i ? ", " : "") << items[i];
  if (items.size() > max_items) os << ", ... (" << items.size() << " in all)";
  os << "]";
  return os.str();
}

}  // namespace

std::string diff(const Snapshot& before, const Snapshot& after) {
  std::ostringstream os;
  for (const auto& [k, v] : before) {
    auto it = after.find(k);
    if (it == after.end())
      os << "key removed: " << k << " (" << v.type << ")\n";
    else if (!(it->second == v))
      os << "key changed: " << k << " " << v.type << join(v.items) << " -> " << it->second.type
         << join(it->second.items) << "\n";
  }
  for (const auto& [k, v] : after)
    if (before.find(k) == before.end())
      os << "key added: " << k << " " << v.type << join(v.items) << "\n";
  return os.str();
}

RedisClient::RedisClient(int port, std::string host, int timeout_ms, std::string password, int db)
    : host_(std::move(host)),
      port_(port),
      timeout_ms_(timeout_ms),
      password_(std::move(password)),
      db_(db) {}

RedisClient::~RedisClient() {
  if (ctx_ != nullptr) redisFree(ctx_);
}

bool RedisClient::connect() {
  if (ctx_ != nullptr && ctx_->err == 0) return true;
  if (ctx_ != nullptr) redisFree(ctx_);
  timeval tv{timeout_ms_ / 1000, (timeout_ms_ % 1000) * 1000};
  ctx_ = redisConnectWithTimeout(host_.c_str(), port_, tv);
  if (ctx_ == nullptr) return false;
  if (ctx_->err != 0) {
    redisFree(ctx_);
    ctx_ = nullptr;
    return false;
  }
  redisSetTimeout(ctx_, tv);
  auto setup = [&](std::vector<std::string> args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()));
    bool ok = r != nullptr && r->type != REDIS_REPLY_ERROR;
    if (r != nullptr) freeReplyObject(r);
    return ok;
  };
  if ((!password_.empty() && !setup({"AUTH", password_})) ||
      (db_ != 0 && !setup({"SELECT", std::to_string(db_)}))) {
    redisFree(ctx_);
    ctx_ = nullptr;
    return false;
  }
  return true;
}

Reply RedisClient::command(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  Reply out;
  // A kept connection may have died with the Redis it led to (kill -9,
  // restart); then it is opened anew and the command sent once more.
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool reused = ctx_ != nullptr;
    if (!connect()) return Reply{Reply::Type::kNoConnection, 0, "cannot connect", {}};
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()));
    out = convert(r);
    if (r != nullptr) {
      freeReplyObject(r);
      return out;
    }
    out.str = ctx_->errstr;
    bool timed_out = ctx_->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
    redisFree(ctx_);  // unusable after an I/O error
    ctx_ = nullptr;
    if (!reused || timed_out) break;
  }
  return out;
}

bool RedisClient::ping() {
  Reply r = command({"PING"});
  return r.type == Reply::Type::kStatus && r.str == "PONG";
}

std::set<std::string> RedisClient::smembers(const std::string& key) {
  auto v = strings_of(command({"SMEMBERS", key}));
  return {v.begin(), v.end()};
}

std::vector<std::string> RedisClient::lrange(const std::string& key, int64_t start, int64_t stop) {
  return strings_of(command({"LRANGE", key, std::to_string(start), std::to_string(stop)}));
}

std::map<std::string, std::string> RedisClient::hgetall(const std::string& key) {
  auto v = strings_of(command({"HGETALL", key}));
  std::map<std::string, std::string> out;
  for (size_t i = 0; i + 1 < v.size(); i += 2) out[v[i]] = v[i + 1];
  return out;
}

std::optional<std::string> RedisClient::get(const std::string& key) {
  Reply r = command({"GET", key});
  if (r.type != Reply::Type::kString) return std::nullopt;
  return r.str;
}

int64_t RedisClient::scard(const std::string& key) {
  return command({"SCARD", key}).integer;
}
int64_t RedisClient::llen(const std::string& key) {
  return command({"LLEN", key}).integer;
}
std::vector<std::string> RedisClient::line(const std::string& event, const std::string& prefix) {
  return strings_of(command({"ZRANGE", key(event, "queued", prefix), "0", "-1"}));
}
std::string RedisClient::ticket_of(const std::string& event, const std::string& user,
                                   const std::string& prefix) {
  return command({"ZSCORE", key(event, "queued", prefix), user}).str;
}

int64_t RedisClient::waiting(const std::string& event, const std::string& prefix) {
  return command({"ZCARD", key(event, "queued", prefix)}).integer;
}
bool RedisClient::exists(const std::string& key) {
  return command({"EXISTS", key}).integer == 1;
}
std::string RedisClient::type(const std::string& key) {
  return command({"TYPE", key}).str;
}

std::vector<std::string> RedisClient::keys(const std::string& prefix) {
  // MATCH takes a glob: escape its special characters in the prefix.
  std::string pattern;
  for (char c : prefix) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') pattern += '\\';
    pattern += c;
  }
  pattern += '*';
  std::set<std::string> found;
  std::string cursor = "0";
  for (int round = 0; round < 100000; ++round) {  // bounded; SCAN ends far sooner
    Reply r = command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
    if (r.type != Reply::Type::kArray || r.elements.size() != 2) break;
    for (const auto& k : r.elements[1].elements) found.insert(k.str);
    cursor = r.elements[0].str;
    if (cursor == "0") break;
  }
  return {found.begin(), found.end()};
}

void RedisClient::flushall() {
  command({"FLUSHALL"});
}
void RedisClient::script_flush() {
  command({"SCRIPT", "FLUSH"});
}

Snapshot RedisClient::snapshot(const std::string& prefix) {
  Snapshot snap;
  for (const auto& k : keys(prefix)) {
    KeyDump d;
    d.type = type(k);
    if (d.type == "string") {
      d.items.push_back(get(k).value_or(""));
    } else if (d.type == "list") {
      d.items = lrange(k);
    } else if (d.type == "set") {
      auto s = smembers(k);
      d.items.assign(s.begin(), s.end());
    } else if (d.type == "hash") {
      for (const auto& [f, v] : hgetall(k)) d.items.push_back(f + "=" + v);
    } else if (d.type == "zset") {
      auto v = strings_of(command({"ZRANGE", k, "0", "-1", "WITHSCORES"}));
      for (size_t i = 0; i + 1 < v.size(); i += 2) d.items.push_back(v[i] + "=" + v[i + 1]);
    } else {
      d.items.push_back("(unsupported type)");
    }
    d.has_ttl = command({"PTTL", k}).integer >= 0;
    snap[k] = std::move(d);
  }
  return snap;
}

std::string RedisClient::key(const std::string& event, const std::string& what,
                             const std::string& prefix) {
  return prefix + ":{" + event + "}:" + what;
}

std::vector<std::string> RedisClient::check_invariants(const std::string& event, int64_t capacity,
                                                       const std::string& prefix) {
  std::vector<std::string> bad;
  auto k = [&](const char* what) { return key(event, what, prefix); };
  const std::pair<const char*, const char*> types[] = {
      {"cfg", "hash"},   {"reserved", "set"}, {"queued", "zset"}, {"stats", "hash"},
      {"seats", "hash"}, {"holds", "zset"},   {"seen", "zset"}};
  for (const auto& [what, want] : types)
    if (std::string t = type(k(what)); t != want && t != "none")
      bad.push_back(k(what) + " has type " + t + ", want " + want);
  if (!bad.empty()) return bad;

  // A whole number from its text, or nullopt.
  auto whole = [](const std::string& text) -> std::optional<int64_t> {
    if (text.empty() || text.size() > 18 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return std::nullopt;
    return std::stoll(text);
  };
  auto zset = [&](const std::string& z) {
    std::vector<std::pair<std::string, std::string>> out;
    std::vector<std::string> v = strings_of(command({"ZRANGE", z, "0", "-1", "WITHSCORES"}));
    for (size_t i = 0; i + 1 < v.size(); i += 2) out.emplace_back(v[i], v[i + 1]);
    return out;
  };

  const std::set<std::string> reserved = smembers(k("reserved"));
  const auto line = zset(k("queued"));
  const std::map<std::string, std::string> seats = hgetall(k("seats"));
  if (static_cast<int64_t>(reserved.size()) > capacity)
    bad.push_back("SCARD reserved = " + std::to_string(reserved.size()) + " > capacity " +
                  std::to_string(capacity));

  const std::optional<std::string> cfg_tickets = [&]() -> std::optional<std::string> {
    Reply r = command({"HGET", k("cfg"), "tickets"});
    if (r.type != Reply::Type::kString) return std::nullopt;
    return r.str;
  }();
  std::optional<int64_t> last_ticket = cfg_tickets ? whole(*cfg_tickets) : int64_t{0};
  if (!last_ticket) {
    bad.push_back(k("cfg") + " tickets = " + *cfg_tickets + ", not a whole number");
    last_ticket = INT64_MAX;
  }
  std::map<int64_t, std::string> ticket_owner;  // ticket -> whose ("queued u" / "seat u")
  auto take_ticket = [&](int64_t ticket, const std::string& who) {
    if (ticket <= 0 || ticket > *last_ticket)
      bad.push_back(who + " has ticket " + std::to_string(ticket) + ", outside 1.." +
                    std::to_string(*last_ticket) + " (cfg tickets)");
    auto [it, fresh] = ticket_owner.emplace(ticket, who);
    if (!fresh)
      bad.push_back(who + " has ticket " + std::to_string(ticket) + ", as " + it->second + " has");
  };

  int64_t previous = 0;
  for (const auto& [u, score] : line) {
    if (reserved.count(u) != 0) bad.push_back("user " + u + " is both reserved and in the line");
    std::optional<int64_t> ticket = whole(score);
    if (!ticket) {
      bad.push_back("user " + u + " has ticket " + score + " in the line, not a whole number");
      continue;
    }
    if (*ticket <= previous)
      bad.push_back("user " + u + " has ticket " + score + " after " + std::to_string(previous));
    previous = *ticket;
    take_ticket(*ticket, "queued " + u);
  }

  for (const auto& u : reserved)
    if (seats.count(u) == 0) bad.push_back("seat holder " + u + " has no entry in seats");
  for (const auto& [u, value] : seats) {
    if (reserved.count(u) == 0) bad.push_back("seats names " + u + ", who holds no seat");
    std::string digits = value;
    if (!digits.empty() && digits.back() == 'u') digits.pop_back();
    std::optional<int64_t> ticket = whole(digits);
    if (!ticket) {
      bad.push_back("seat of " + u + " = " + value + ", not a ticket");
      continue;
    }
    take_ticket(*ticket, "seat " + u);
  }

  for (const auto& [u, ends] : zset(k("holds"))) {
    if (reserved.count(u) == 0) bad.push_back("holds names " + u + ", who holds no seat");
    if (ends != "inf" && !whole(ends)) bad.push_back("hold of " + u + " ends at " + ends);
  }
  std::set<std::string> line_tickets;  // seen is keyed by the ticket of a waiter's join
  for (const auto& [u, ticket] : line) line_tickets.insert(ticket);
  for (const auto& [t, beat] : zset(k("seen"))) {
    if (line_tickets.count(t) == 0)
      bad.push_back("seen names ticket " + t + ", which is not in the line");
    if (!whole(beat)) bad.push_back("heartbeat of ticket " + t + " = " + beat);
  }
  return bad;
}

}  // namespace ticketq::test
