// Tests of src/core/scripts.cpp: names, SHA1s (checked independently with
// OpenSSL's EVP interface), the shared prologue, the KEYS used, and no
// command that is O(N) in the line length where O(1) is needed.
#include "core/scripts.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace ticketq {
namespace {

std::string sha1_hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(data.data(), data.size(), md, &len, EVP_sha1(), nullptr), 1);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

TEST(Scripts, Sha1OfKnownInput) {
  // Guards the helper itself (FIPS 180 test vector).
  EXPECT_EQ(sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

TEST(Scripts, NamesAreTheThirteenOperationsAndDistinct) {
  const Scripts& s = scripts();
  const std::vector<std::pair<const Script*, const char*>> named = {
      {&s.reserve, "reserve"}, {&s.status, "status"}, {&s.promote, "promote"},
      {&s.reset, "reset"},     {&s.put, "put"},       {&s.get, "get"},
      {&s.leave, "leave"},     {&s.cancel, "cancel"}, {&s.confirm, "confirm"},
      {&s.verify, "verify"},   {&s.tick, "tick"},     {&s.events, "events"},
      {&s.history, "history"}};
  for (auto [sc, name] : named) EXPECT_STREQ(sc->name, name);
  std::set<std::string> names, shas;
  for (const Script* sc : s.all()) {
    names.insert(sc->name);
    shas.insert(sc->sha1);
  }
  EXPECT_EQ(names.size(), 13u);
  EXPECT_EQ(shas.size(), 13u);
  // all() lists each member once, in declaration order.
  auto all = s.all();
  ASSERT_EQ(all.size(), named.size());
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], named[i].first) << i;
  EXPECT_EQ(&scripts(), &s);  // one instance
}

TEST(Scripts, Sha1IsTheLowerHexSha1OfTheBody) {
  for (const Script* sc : scripts().all()) {
    SCOPED_TRACE(sc->name);
    ASSERT_EQ(sc->sha1.size(), 40u);
    for (char c : sc->sha1) EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << c;
    EXPECT_EQ(sc->sha1, sha1_hex(sc->body));
  }
}

// The prologue is everything up to the end of its last function, admit().
std::string prologue_of(const std::string& body) {
  size_t fn = body.find("local function admit(");
  if (fn == std::string::npos) return {};
  size_t end = body.find("\nend\n", fn);
  if (end == std::string::npos) return {};
  return body.substr(0, end + 5);
}

// The script proper: the body after the prologue.
std::string rest_of(const Script& sc) {
  return sc.body.substr(prologue_of(sc.body).size());
}

// The one script that is not about one event: a keyspace walk, run with no
// keys (scripts.h: events).
bool is_keyless(const Script& sc) {
  return &sc == &scripts().events;
}

TEST(Scripts, EveryBodyStartsWithTheSharedPrologue) {
  const std::string prologue = prologue_of(scripts().reserve.body);
  ASSERT_FALSE(prologue.empty());
  // Key names and result codes come from scripts.h.
  EXPECT_NE(
      prologue.find("\nlocal K_CFG, K_RESERVED, K_QUEUED, K_STATS, K_SEATS, K_HOLDS, K_SEEN = "
                    "KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]\n"),
      std::string::npos);
  const std::pair<const char*, int> codes[] = {
      {"NO_EVENT", code::kNoEvent},
      {"BELOW_RESERVED", code::kBelowReserved},
      {"NOT_OPEN", code::kNotOpen},
      {"NEEDS_SIZE", code::kNeedsSize},
      {"OK", code::kOk},
      {"RESERVED", code::kReserved},
      {"QUEUED", code::kQueued},
      {"ALREADY_RESERVED", code::kAlreadyReserved},
      {"ALREADY_IN_QUEUE", code::kAlreadyInQueue},
      {"SOLD_OUT", code::kSoldOut},
      {"CLOSED", code::kClosed},
      {"NOT_FOUND", code::kNotFound},
      {"IS_RESERVED", code::kIsReserved},
      {"IN_QUEUE", code::kInQueue},
      {"NOT_IN_LINE", code::kNotInLine},
      {"LEFT", code::kLeft},
      {"HOLDS_SEAT", code::kHoldsSeat},
      {"NO_SEAT", code::kNoSeat},
      {"DONE", code::kDone},
      {"UNCHANGED", code::kUnchanged},
      {"IS_CONFIRMED", code::kIsConfirmed},
      {"HOLD_ENDED", code::kHoldEnded},
      {"USED", code::kUsed},
      {"OTHER_JOIN", code::kOtherJoin},
      {"SLOT_MS", static_cast<int>(kRateSlotMs)},
      {"SLOTS", kRateSlots},
      {"HISTORY_SLOT_MS", static_cast<int>(kHistorySlotMs)},
      {"HISTORY_SLOTS", kHistorySlots},
  };
  for (auto [name, value] : codes)
    EXPECT_NE(prologue.find(std::string("\nlocal ") + name + " = " + std::to_string(value) + "\n"),
              std::string::npos)
        << name;
  // The ring's fields: rt, then one per slot.
  std::string ring = "local RING_FIELDS = {'rt'";
  for (int i = 0; i < kRateSlots; ++i) ring += ", 'r" + std::to_string(i) + "'";
  EXPECT_NE(prologue.find(ring + "}\n"), std::string::npos);
  // settings() reads the seven fields of the cfg hash in one call and
  // returns a table, falling back to ARGV[1], ARGV[2] for the default event.
  EXPECT_NE(prologue.find("local function settings()\n"
                          "  local s = redis.call('HMGET', K_CFG, 'capacity', 'queue_limit', "
                          "'state', 'admit_rate',\n"
                          "                       'hold_s', 'waiter_ttl_s', 'tickets')\n"),
            std::string::npos);
  EXPECT_NE(prologue.find("elseif ARGV[1] ~= '' then\n"
                          "    ev = {cap = tonumber(ARGV[1]), limit = tonumber(ARGV[2]), "
                          "fresh = true}\n"),
            std::string::npos);
  EXPECT_NE(prologue.find("  ev.tickets = int(s[7] or 0, K_CFG)\n  return ev\nend\n"),
            std::string::npos);
  for (const Script* sc : scripts().all()) {
    SCOPED_TRACE(sc->name);
    EXPECT_EQ(sc->body.rfind(prologue, 0), 0u);
    EXPECT_GT(sc->body.size(), prologue.size());
    // The prologue is defined once, and the script proper uses names only.
    std::string rest = rest_of(*sc);
    EXPECT_EQ(rest.find("local function"), std::string::npos);
    EXPECT_EQ(rest.find("KEYS["), std::string::npos);
    bool reads_settings = rest.find("settings(") != std::string::npos ||
                          rest.find("redis.call('HMGET', K_CFG") != std::string::npos;
    // Every event script reads the event's settings; the keyless walk has
    // no event to read them of.
    EXPECT_EQ(reads_settings, !is_keyless(*sc)) << "reads the event's settings: " << reads_settings;
  }
}

// Redis commands by what they do to their key. A command the scripts use
// must be in one of the two, so that a new write cannot pass as a read.
const std::set<std::string> kWrites = {"SADD",
                                       "SREM",
                                       "SPOP",
                                       "SMOVE",
                                       "RPUSH",
                                       "LPUSH",
                                       "LTRIM",
                                       "LPOP",
                                       "RPOP",
                                       "HSET",
                                       "HSETNX",
                                       "HDEL",
                                       "HINCRBY",
                                       "SET",
                                       "SETNX",
                                       "INCRBY",
                                       "DEL",
                                       "EXPIRE",
                                       "PEXPIRE",
                                       "ZADD",
                                       "ZREM",
                                       "ZINCRBY",
                                       "ZPOPMIN",
                                       "ZPOPMAX",
                                       "ZREMRANGEBYRANK",
                                       "ZREMRANGEBYSCORE",
                                       "UNLINK"};
const std::set<std::string> kReads = {
    "HGET",   "HMGET",   "HLEN",  "SISMEMBER", "SMISMEMBER",    "SCARD", "ZCARD",
    "ZSCORE", "ZMSCORE", "ZRANK", "ZRANGE",    "ZRANGEBYSCORE", "TIME",  "SCAN"};

// What each helper of the prologue reads and writes, as the scripts call
// them: the test below checks the scripts with it, and the one after it
// checks it against the helpers' code.
struct HelperUse {
  std::set<std::string> reads, writes;
};
const std::map<std::string, HelperUse>& helper_uses() {
  static const std::map<std::string, HelperUse> uses = {
      {"settings", {{"K_CFG"}, {}}},
      {"store_settings", {{}, {"K_CFG"}}},
      {"stat", {{"K_STATS"}, {}}},
      {"ring", {{"K_STATS"}, {}}},
      {"line_head", {{"K_QUEUED"}, {}}},
      {"seat_state", {{"K_RESERVED", "K_SEATS", "K_HOLDS"}, {}}},
      {"beat_if_stale", {{"K_SEEN"}, {}}},
      {"admit", {{}, {"K_QUEUED", "K_RESERVED", "K_SEATS", "K_HOLDS", "K_SEEN", "K_STATS"}}},
  };
  return uses;
}

// The keys a piece of Lua reads and writes with redis.call(CMD, K_...), or
// in pieces with write_each(CMD, K_...) or read_each(CMD, K_...).
HelperUse direct_uses(const std::string& lua) {
  static const std::regex call(R"((?:redis\.call|write_each|read_each)\('([A-Z]+)', (K_[A-Z]+))");
  HelperUse out;
  for (auto it = std::sregex_iterator(lua.begin(), lua.end(), call); it != std::sregex_iterator();
       ++it)
    (kWrites.count((*it)[1]) > 0 ? out.writes : out.reads).insert((*it)[2]);
  return out;
}

TEST(Scripts, TheHelperTableMatchesThePrologue) {
  const std::string prologue = prologue_of(scripts().reserve.body);
  static const std::regex fn(R"(\nlocal function ([a-z_]+)\()");
  std::set<std::string> seen;
  for (auto it = std::sregex_iterator(prologue.begin(), prologue.end(), fn);
       it != std::sregex_iterator(); ++it) {
    std::string name = (*it)[1];
    SCOPED_TRACE(name);
    size_t from = static_cast<size_t>(it->position());
    size_t end = prologue.find("\nend\n", from);
    ASSERT_NE(end, std::string::npos);
    HelperUse got = direct_uses(prologue.substr(from, end - from));
    auto want = helper_uses().find(name);
    if (want == helper_uses().end()) {
      EXPECT_TRUE(got.reads.empty() && got.writes.empty()) << "uses keys but is not in the table";
      continue;
    }
    seen.insert(name);
    EXPECT_EQ(got.reads, want->second.reads);
    EXPECT_EQ(got.writes, want->second.writes);
  }
  EXPECT_EQ(seen.size(), helper_uses().size()) << "a helper of the table is not in the prologue";
}

// A call of any helper of the table.
const std::regex& helper_call() {
  static const std::regex helper([] {
    std::string names;
    for (const auto& [name, use] : helper_uses()) names += (names.empty() ? "" : "|") + name;
    return R"(\b()" + names + R"()\()";
  }());
  return helper;
}

// The keys a piece of Lua writes that it has not read (a typed command, or
// a helper that reads) before its first write, in the order of the writes.
// UNLINK takes any type and counts as neither.
std::vector<std::string> unread_writes(const std::string& lua) {
  static const std::regex call(R"(redis\.call\('([A-Z]+)', (K_[A-Z]+))");
  struct Use {
    size_t at;
    std::string key;
    bool write;
  };
  std::vector<Use> uses;
  for (auto it = std::sregex_iterator(lua.begin(), lua.end(), call); it != std::sregex_iterator();
       ++it)
    if ((*it)[1] != "UNLINK")
      uses.push_back({size_t(it->position()), (*it)[2], kWrites.count((*it)[1]) > 0});
  for (auto it = std::sregex_iterator(lua.begin(), lua.end(), helper_call());
       it != std::sregex_iterator(); ++it) {
    const HelperUse& h = helper_uses().at((*it)[1]);
    for (const auto& k : h.reads) uses.push_back({size_t(it->position()), k, false});
    for (const auto& k : h.writes) uses.push_back({size_t(it->position()), k, true});
  }
  size_t first_write = std::string::npos;
  for (const Use& u : uses)
    if (u.write) first_write = std::min(first_write, u.at);
  std::vector<std::string> out;
  for (const Use& w : uses) {
    if (!w.write) continue;
    bool read_before = false;
    for (const Use& r : uses) read_before |= !r.write && r.key == w.key && r.at < first_write;
    if (!read_before) out.push_back(w.key);
  }
  return out;
}

// The checker itself, on Lua made for it.
TEST(Scripts, UnreadWritesFindsWhatIsWrittenUnread) {
  EXPECT_TRUE(unread_writes("redis.call('ZCARD', K_QUEUED)\n"
                            "redis.call('ZADD', K_QUEUED, 1, 'u')\n")
                  .empty());
  EXPECT_EQ(unread_writes("redis.call('ZADD', K_QUEUED, 1, 'u')\n"),
            std::vector<std::string>{"K_QUEUED"});
  // A read after the first write, of any key, is too late: the script may
  // fail there with something written.
  EXPECT_EQ(unread_writes("redis.call('SADD', K_RESERVED, 'u')\n"
                          "redis.call('SCARD', K_RESERVED)\n"
                          "redis.call('HGET', K_STATS, 'x')\n"
                          "redis.call('HSET', K_STATS, 'x', 1)\n"),
            (std::vector<std::string>{"K_RESERVED", "K_STATS"}));
  // Helpers read and write as the table says.
  EXPECT_TRUE(
      unread_writes("local ev = settings()\nif ev.fresh then store_settings(ev) end\n").empty());
  EXPECT_EQ(unread_writes("store_settings(ev)\n"), std::vector<std::string>{"K_CFG"});
  EXPECT_TRUE(unread_writes("local n = stat('left')\n"
                            "redis.call('HSET', K_STATS, 'left', n + 1)\n")
                  .empty());
  std::vector<std::string> admitted = unread_writes(
      "local ev = settings()\n"
      "local r = ring()\n"
      "redis.call('ZCARD', K_QUEUED)\n"
      "admit(ev, now, line_head(1, {}), r, {})\n");
  std::sort(admitted.begin(), admitted.end());
  EXPECT_EQ(admitted, (std::vector<std::string>{"K_HOLDS", "K_RESERVED", "K_SEATS", "K_SEEN"}));
  // UNLINK takes keys of any type.
  EXPECT_TRUE(unread_writes("redis.call('UNLINK', K_RESERVED, K_QUEUED)\n").empty());
}

// Every key a script writes is read by it before its first write: a
// wrong-typed key then fails the script while nothing is written yet. The
// keyless walk touches no key at all.
TEST(Scripts, EveryWrittenKeyIsReadBeforeTheFirstWrite) {
  static const std::regex any_call(R"(redis\.call\('([A-Z]+)'(?:, ([A-Za-z_0-9\[\]]+))?)");
  for (const Script* sc : scripts().all()) {
    SCOPED_TRACE(sc->name);
    std::string body = rest_of(*sc);
    // Every command is known to read or write, and every write names a key.
    for (auto it = std::sregex_iterator(body.begin(), body.end(), any_call);
         it != std::sregex_iterator(); ++it) {
      std::string cmd = (*it)[1];
      EXPECT_TRUE(kWrites.count(cmd) + kReads.count(cmd) == 1) << cmd << " is unclassified";
      if (kWrites.count(cmd) > 0) {
        EXPECT_EQ((*it)[2].str().rfind("K_", 0), 0u) << cmd << " writes " << (*it)[2];
      }
    }
    if (is_keyless(*sc)) {
      EXPECT_EQ(body.find("K_"), std::string::npos) << "the keyless walk names an event key";
      EXPECT_FALSE(std::regex_search(body, helper_call())) << "the keyless walk calls a helper";
      EXPECT_TRUE(unread_writes(body).empty());
      continue;
    }
    for (const std::string& key : unread_writes(body))
      ADD_FAILURE() << key << " is written but not read before the first write";
  }
}

std::vector<std::string> commands_of(const std::string& body) {
  std::vector<std::string> out;
  static const std::regex call(R"(redis\.p?call\(\s*['"]([A-Za-z]+)['"])");
  for (auto it = std::sregex_iterator(body.begin(), body.end(), call); it != std::sregex_iterator();
       ++it)
    out.push_back((*it)[1]);
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return s;
}

TEST(Scripts, NoLinearScansOrKeyspaceCommands) {
  const std::set<std::string> forbidden = {"LPOS",  "KEYS",     "SCAN",    "SSCAN",   "HSCAN",
                                           "ZSCAN", "SMEMBERS", "HGETALL", "HKEYS",   "HVALS",
                                           "LREM",  "LINDEX",   "LSET",    "FLUSHDB", "FLUSHALL"};
  for (const Script* sc : scripts().all()) {
    SCOPED_TRACE(sc->name);
    auto cmds = commands_of(sc->body);
    EXPECT_FALSE(cmds.empty());
    for (const std::string& c : cmds) {
      std::string upper = c;
      std::transform(upper.begin(), upper.end(), upper.begin(),
                     [](unsigned char ch) { return std::toupper(ch); });
      EXPECT_EQ(c, upper) << "commands are written in upper case";
      if (is_keyless(*sc) && upper == "SCAN") continue;  // checked below
      EXPECT_EQ(forbidden.count(upper), 0u) << "uses " << c;
    }
    // Belt and braces: these names appear nowhere, in any case or form.
    std::string text = lower(sc->body);
    EXPECT_EQ(text.find("lpos"), std::string::npos);
    EXPECT_EQ(text.find("'keys'"), std::string::npos);
    EXPECT_EQ(text.find("\"keys\""), std::string::npos);
    if (!is_keyless(*sc)) {
      EXPECT_EQ(text.find("scan"), std::string::npos);
    }
    // No whole-list reads: ranges are bounded.
    EXPECT_EQ(sc->body.find(", 0, -1)"), std::string::npos);
    EXPECT_EQ(sc->body.find("'+inf')"), std::string::npos);
    // A range by score is always cut with LIMIT.
    static const std::regex by_score(R"(redis\.call\('ZRANGEBYSCORE'[^)]*\))");
    for (auto it = std::sregex_iterator(sc->body.begin(), sc->body.end(), by_score);
         it != std::sregex_iterator(); ++it)
      EXPECT_NE(it->str().find("'LIMIT', 0, "), std::string::npos) << it->str();
  }
}

// The exemption above, narrowly: only the keyless walk scans, once, a page
// at a time (COUNT) of the keys that match the pattern it is given, and it
// does nothing else with Redis.
TEST(Scripts, OnlyTheKeylessWalkScansAndOnlyAPageAtATime) {
  const Script& events = scripts().events;
  std::string rest = rest_of(events);
  EXPECT_EQ(commands_of(rest), std::vector<std::string>{"SCAN"});
  EXPECT_NE(rest.find("redis.call('SCAN', ARGV[2], 'MATCH', ARGV[1], 'COUNT', ARGV[3])"),
            std::string::npos)
      << rest;
  // The scan is in the script proper: the shared prologue has none.
  EXPECT_EQ(lower(prologue_of(events.body)).find("scan"), std::string::npos);
  // It answers {OK, cursor, key...}.
  EXPECT_NE(rest.find("local out = {OK, page[1]}"), std::string::npos) << rest;
  size_t scanning = 0;
  for (const Script* sc : scripts().all()) {
    auto cmds = commands_of(sc->body);
    if (std::find(cmds.begin(), cmds.end(), "SCAN") != cmds.end()) ++scanning;
  }
  EXPECT_EQ(scanning, 1u);
}

TEST(Scripts, OnlyTheDeclaredKeysAreUsed) {
  static const std::regex key(R"(KEYS\[(\d+)\])");
  for (const Script* sc : scripts().all()) {
    SCOPED_TRACE(sc->name);
    for (auto it = std::sregex_iterator(sc->body.begin(), sc->body.end(), key);
         it != std::sregex_iterator(); ++it) {
      int n = std::stoi((*it)[1]);
      EXPECT_GE(n, 1);
      EXPECT_LE(n, kScriptKeyCount);
    }
    // Keys are never built from strings inside a script (cluster safety).
    EXPECT_EQ(sc->body.find("KEYS[1] .."), std::string::npos);
    EXPECT_EQ(sc->body.find(".. '}:"), std::string::npos);
  }
  EXPECT_EQ(kScriptKeyCount, 7);
  EXPECT_EQ(kEventKeys.size(), 7u);
  EXPECT_EQ(
      std::vector<std::string>(kEventKeys.begin(), kEventKeys.end()),
      (std::vector<std::string>{"cfg", "reserved", "queued", "stats", "seats", "holds", "seen"}));
  // Every key is a Lua local of the prologue that some script uses.
  for (const char* k : kEventKeys) {
    std::string name = "K_" + std::string(k);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char ch) { return std::toupper(ch); });
    bool used = false;
    for (const Script* sc : scripts().all()) used |= rest_of(*sc).find(name) != std::string::npos;
    EXPECT_TRUE(used) << name;
  }
}

TEST(Scripts, EveryUnpackIsBoundedByAConstant) {
  // Lua's unpack fails at 8,000 values, after the commands before it ran:
  // a list that grows with a script's input (users, a batch, a sweep) goes
  // to Redis through write_each/read_each, CHUNK values a call. The only
  // other unpacks are of lists of a fixed size (the rings' fields, and the
  // stats fields a step or a call writes).
  const std::set<std::string> allowed = {
      "unpack(list, i, math.min(i + CHUNK - 1, #list))",
      "unpack(RING_FIELDS)",
      "unpack(HISTORY_FIELDS)",
      "unpack(stats_out)",
      "unpack(out)",
      "unpack(h)",
  };
  const std::regex call(R"(unpack\([^()]*(\([^()]*\))?[^()]*\))");
  for (const Script* sc : scripts().all()) {
    const std::string& body = sc->body;
    size_t found = 0;
    for (auto it = std::sregex_iterator(body.begin(), body.end(), call);
         it != std::sregex_iterator(); ++it) {
      ++found;
      EXPECT_EQ(allowed.count(it->str()), 1u) << sc->name << ": " << it->str();
    }
    size_t mentions = 0;
    for (size_t at = body.find("unpack("); at != std::string::npos;
         at = body.find("unpack(", at + 1))
      ++mentions;
    EXPECT_EQ(found, mentions) << sc->name << ": an unpack the check could not read";
  }
  EXPECT_LE(kScriptChunk, 7000);
  // Each goes with commands of its kind.
  const std::regex each(R"((write|read)_each\('([A-Z]+)')");
  for (const Script* sc : scripts().all())
    for (auto it = std::sregex_iterator(sc->body.begin(), sc->body.end(), each);
         it != std::sregex_iterator(); ++it)
      EXPECT_EQ(((*it)[1] == "write" ? kWrites : kReads).count((*it)[2]), 1u)
          << sc->name << ": " << it->str();
}

}  // namespace
}  // namespace ticketq
