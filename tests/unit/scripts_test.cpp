// Tests of src/scripts.cpp: names, SHA1s (checked independently with
// OpenSSL's EVP interface), the shared prologue, the KEYS used, and no
// command that is O(N) in the line length where O(1) is needed.
#include "ticketq/scripts.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <regex>
#include <set>
#include <string>

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

TEST(Scripts, NamesAreTheSevenOperationsAndDistinct) {
  const Scripts& s = scripts();
  EXPECT_STREQ(s.reserve.name, "reserve");
  EXPECT_STREQ(s.status.name, "status");
  EXPECT_STREQ(s.promote.name, "promote");
  EXPECT_STREQ(s.reset.name, "reset");
  EXPECT_STREQ(s.put.name, "put");
  EXPECT_STREQ(s.get.name, "get");
  EXPECT_STREQ(s.leave.name, "leave");
  std::set<std::string> names, shas;
  for (const Script* sc : s.all()) {
    names.insert(sc->name);
    shas.insert(sc->sha1);
  }
  EXPECT_EQ(names.size(), 7u);
  EXPECT_EQ(shas.size(), 7u);
  // all() lists each member once, in declaration order.
  auto all = s.all();
  EXPECT_EQ(all[0], &s.reserve);
  EXPECT_EQ(all[1], &s.status);
  EXPECT_EQ(all[2], &s.promote);
  EXPECT_EQ(all[3], &s.reset);
  EXPECT_EQ(all[4], &s.put);
  EXPECT_EQ(all[5], &s.get);
  EXPECT_EQ(all[6], &s.leave);
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

// The prologue is everything up to the end of its last function.
std::string prologue_of(const std::string& body) {
  size_t fn = body.find("local function last_ticket(");
  if (fn == std::string::npos) return {};
  size_t end = body.find("\nend\n", fn);
  if (end == std::string::npos) return {};
  return body.substr(0, end + 5);
}

TEST(Scripts, EveryBodyStartsWithTheSharedPrologue) {
  const std::string prologue = prologue_of(scripts().reserve.body);
  ASSERT_FALSE(prologue.empty());
  // Key names and result codes come from scripts.h.
  EXPECT_NE(prologue.find("local K_CFG, K_RESERVED, K_QUEUED, K_STATS = "
                          "KEYS[1], KEYS[2], KEYS[3], KEYS[4]\n"),
            std::string::npos);
  EXPECT_NE(prologue.find("local QUEUED = " + std::to_string(code::kQueued) + "\n"),
            std::string::npos);
  EXPECT_NE(prologue.find("local NO_EVENT = " + std::to_string(code::kNoEvent) + "\n"),
            std::string::npos);
  // settings() reads the cfg hash and falls back to ARGV[1], ARGV[2].
  EXPECT_NE(prologue.find("redis.call('HMGET', K_CFG, 'capacity', 'queue_limit', 'state')"),
            std::string::npos);
  EXPECT_NE(
      prologue.find("if ARGV[1] ~= '' then return tonumber(ARGV[1]), tonumber(ARGV[2]), true"),
      std::string::npos);
  for (const Script* sc : scripts().all()) {
    SCOPED_TRACE(sc->name);
    EXPECT_EQ(sc->body.rfind(prologue, 0), 0u);
    EXPECT_GT(sc->body.size(), prologue.size());
    // The prologue is defined once, and the script proper uses names only.
    std::string rest = sc->body.substr(prologue.size());
    EXPECT_EQ(rest.find("local function"), std::string::npos);
    EXPECT_EQ(rest.find("KEYS["), std::string::npos);
    EXPECT_TRUE(rest.find("settings(") != std::string::npos ||
                rest.find("redis.call('HMGET', K_CFG") != std::string::npos)
        << "does not read the event's settings";
  }
}

// Every key a script writes is read by it (a typed command, or settings()
// and counter(), which read) before its first write: a wrong-typed key then
// fails the script while nothing is written yet. UNLINK takes any type.
TEST(Scripts, EveryWrittenKeyIsReadBeforeTheFirstWrite) {
  const std::set<std::string> writes = {"SADD", "SREM",    "RPUSH", "LPUSH", "LTRIM",
                                        "LPOP", "HSET",    "HDEL",  "SET",   "INCRBY",
                                        "DEL",  "HINCRBY", "ZADD",  "ZREM",  "ZPOPMIN"};
  static const std::regex call(R"(redis\.call\('([A-Z]+)', (K_[A-Z]+))");
  static const std::regex helper(R"((store_settings|settings|stat|last_ticket)\()");
  for (const Script* sc : scripts().all()) {
    SCOPED_TRACE(sc->name);
    std::string body = sc->body.substr(prologue_of(sc->body).size());
    struct Use {
      size_t at;
      std::string key;
      bool write;
    };
    std::vector<Use> uses;
    for (auto it = std::sregex_iterator(body.begin(), body.end(), call);
         it != std::sregex_iterator(); ++it)
      if ((*it)[1] != "UNLINK")
        uses.push_back({size_t(it->position()), (*it)[2], writes.count((*it)[1]) > 0});
    for (auto it = std::sregex_iterator(body.begin(), body.end(), helper);
         it != std::sregex_iterator(); ++it) {
      std::string fn = (*it)[1];
      if (fn == "store_settings") uses.push_back({size_t(it->position()), "K_CFG", true});
      if (fn == "settings") uses.push_back({size_t(it->position()), "K_CFG", false});
      if (fn == "stat") uses.push_back({size_t(it->position()), "K_STATS", false});
      if (fn == "last_ticket") uses.push_back({size_t(it->position()), "K_QUEUED", false});
    }
    size_t first_write = std::string::npos;
    for (const Use& u : uses)
      if (u.write) first_write = std::min(first_write, u.at);
    for (const Use& w : uses) {
      if (!w.write) continue;
      bool read_before = false;
      for (const Use& r : uses) read_before |= !r.write && r.key == w.key && r.at < first_write;
      EXPECT_TRUE(read_before) << w.key << " is written but not read before the first write";
    }
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
      EXPECT_EQ(forbidden.count(upper), 0u) << "uses " << c;
      EXPECT_EQ(c, upper) << "commands are written in upper case";
    }
    // Belt and braces: these names appear nowhere, in any case or form.
    std::string lower = sc->body;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char ch) { return std::tolower(ch); });
    EXPECT_EQ(lower.find("lpos"), std::string::npos);
    EXPECT_EQ(lower.find("scan"), std::string::npos);
    EXPECT_EQ(lower.find("'keys'"), std::string::npos);
    EXPECT_EQ(lower.find("\"keys\""), std::string::npos);
    // No whole-list reads: LRANGE only with a bounded range.
    EXPECT_EQ(sc->body.find(", 0, -1)"), std::string::npos);
  }
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
  }
  EXPECT_EQ(kScriptKeyCount, 4);
  EXPECT_EQ(kEventKeys.size(), 4u);
}

TEST(Scripts, ResultCodesMatchTheNumbersTheScriptsReturn) {
  EXPECT_EQ(code::kNoEvent, -1);
  EXPECT_EQ(code::kBelowReserved, -2);
  EXPECT_EQ(code::kOk, 0);
  EXPECT_EQ(code::kReserved, 1);
  EXPECT_EQ(code::kQueued, 2);
  EXPECT_EQ(code::kAlreadyReserved, 3);
  EXPECT_EQ(code::kAlreadyInQueue, 4);
  EXPECT_EQ(code::kSoldOut, 5);
  EXPECT_EQ(code::kNotFound, 0);
  EXPECT_EQ(code::kIsReserved, 1);
  EXPECT_EQ(code::kInQueue, 2);
}

}  // namespace
}  // namespace ticketq
