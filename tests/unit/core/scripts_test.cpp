// Tests of src/core/scripts.cpp: names, SHA1s (checked independently with
// OpenSSL's EVP interface), the prologue generated from the contract, and
// the contract table itself. What the scripts do is tested on a real Redis
// (tests/integration/script_codes_test.cpp).
#include "core/scripts.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
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

bool has_line(const std::string& body, const std::string& line) {
  return body.find("\n" + line + "\n") != std::string::npos;
}

// The settings of kEventSettings, each as `form` makes it, joined by ", ".
template <typename Form>
std::string each_setting(Form form) {
  std::string out;
  for (const EventSetting& s : kEventSettings) out += (out.empty() ? "" : ", ") + form(s);
  return out;
}
std::string quoted(const EventSetting& s) {
  return "'" + std::string(s.name) + "'";
}

TEST(Scripts, Sha1OfKnownInput) {
  // Guards the helper itself (FIPS 180 test vector).
  EXPECT_EQ(sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

TEST(Scripts, EachScriptIsItsContractsAndTheNamesAreDistinct) {
  const Scripts& s = scripts();
  const std::vector<std::pair<const Script*, const char*>> named = {
      {&s.reserve, "reserve"}, {&s.status, "status"}, {&s.promote, "promote"},
      {&s.reset, "reset"},     {&s.put, "put"},       {&s.get, "get"},
      {&s.leave, "leave"},     {&s.cancel, "cancel"}, {&s.confirm, "confirm"},
      {&s.verify, "verify"},   {&s.tick, "tick"},     {&s.events, "events"},
      {&s.history, "history"}};
  auto all = s.all();
  ASSERT_EQ(all.size(), named.size());
  ASSERT_EQ(kContracts.size(), named.size());
  std::set<std::string> names, shas;
  for (size_t i = 0; i < all.size(); ++i) {
    SCOPED_TRACE(named[i].second);
    // all() lists each member once, in declaration order, as kContracts.
    EXPECT_EQ(all[i], named[i].first);
    EXPECT_STREQ(all[i]->name, named[i].second);
    EXPECT_EQ(all[i]->contract, kContracts[i]);
    EXPECT_EQ(all[i]->writes, kContracts[i]->writes);
    names.insert(all[i]->name);
    shas.insert(all[i]->sha1);
  }
  EXPECT_EQ(names.size(), 13u);
  EXPECT_EQ(shas.size(), 13u);
  EXPECT_EQ(&scripts(), &s);  // one instance
  // Only status among the event scripts reads without changing what a
  // caller holds (its heartbeats aside); get, events and history read.
  std::set<std::string> readers;
  for (const Script* sc : all)
    if (!sc->writes) readers.insert(sc->name);
  EXPECT_EQ(readers, (std::set<std::string>{"status", "get", "events", "history"}));
}

TEST(Scripts, Sha1IsTheLowerHexSha1OfTheBody) {
  for (const Script* sc : scripts().all()) {
    SCOPED_TRACE(sc->name);
    ASSERT_EQ(sc->sha1.size(), 40u);
    for (char c : sc->sha1) EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << c;
    EXPECT_EQ(sc->sha1, sha1_hex(sc->body));
  }
}

// Every body binds the key names, the result codes, the event states and
// the settings of scripts.h as Lua locals.
TEST(Scripts, ThePrologueBindsTheSharedNames) {
  for (const Script* sc : scripts().all()) {
    SCOPED_TRACE(sc->name);
    EXPECT_TRUE(has_line(sc->body,
                         "local K_CFG, K_RESERVED, K_QUEUED, K_STATS, K_SEATS, K_HOLDS, K_SEEN = "
                         "KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]"));
    for (const ScriptCode& c : kCodes)
      EXPECT_TRUE(
          has_line(sc->body, "local " + std::string(c.lua) + " = " + std::to_string(c.value)))
          << c.lua;
    EXPECT_TRUE(has_line(sc->body, "local STATE_CODE = {open = 0, paused = 1, closed = 2}"));
    EXPECT_TRUE(has_line(sc->body, "local SETTINGS = {" + each_setting(quoted) + "}"));
    EXPECT_TRUE(
        has_line(sc->body, "local SETTING_FIELDS = {" + each_setting(quoted) + ", 'tickets'}"));
    EXPECT_TRUE(has_line(
        sc->body, "local SETTING_KIND = {" + each_setting([](auto& s) {
                    static const char* kinds[] = {"size", "count", "state", "rate"};
                    return std::string(s.name) + " = '" + kinds[static_cast<int>(s.kind)] + "'";
                  }) + "}"));
    for (auto [name, value] : {std::pair<const char*, int64_t>{"SLOT_MS", kRateSlotMs},
                               {"SLOTS", kRateSlots},
                               {"CHUNK", kScriptChunk},
                               {"HISTORY_SLOT_MS", kHistorySlotMs},
                               {"HISTORY_SLOTS", kHistorySlots}})
      EXPECT_TRUE(has_line(sc->body, "local " + std::string(name) + " = " + std::to_string(value)))
          << name;
  }
}

// Each body binds its ARGV to the names of its contract, the two shared
// ones first for an event script, a list as a table.
TEST(Scripts, ThePrologueBindsEachScriptsArgv) {
  const Scripts& s = scripts();
  const std::string shared = "local default_capacity, default_queue_limit";
  const std::string list = "local users = {}\nfor i = 3, #ARGV do users[#users + 1] = ARGV[i] end";
  const std::vector<std::pair<const Script*, std::string>> want = {
      {&s.reserve, shared + " = ARGV[1], ARGV[2]\n" + list},
      {&s.status, shared + " = ARGV[1], ARGV[2]\n" + list},
      {&s.promote, shared + ", limit = ARGV[1], ARGV[2], ARGV[3]\nlocal ARGS = {limit = limit}"},
      {&s.reset, shared + " = ARGV[1], ARGV[2]"},
      {&s.put,
       shared + ", " + each_setting([](auto& s) { return std::string(s.name); }) +
           " = ARGV[1], ARGV[2], " +
           each_setting([n = 2](auto&) mutable { return "ARGV[" + std::to_string(++n) + "]"; }) +
           "\nlocal ARGS = {" +
           each_setting([](auto& s) { return std::string(s.name) + " = " + std::string(s.name); }) +
           "}"},
      {&s.get, shared + " = ARGV[1], ARGV[2]"},
      {&s.leave, shared + ", user, claimed = ARGV[1], ARGV[2], ARGV[3], ARGV[4]\n"
                          "local ARGS = {user = user, claimed = claimed}"},
      {&s.cancel, shared + ", user, claimed, by_operator = ARGV[1], ARGV[2], ARGV[3], ARGV[4], "
                           "ARGV[5]\nlocal ARGS = {user = user, claimed = claimed, by_operator = "
                           "by_operator}"},
      {&s.confirm, shared + ", user, claimed = ARGV[1], ARGV[2], ARGV[3], ARGV[4]\n"
                            "local ARGS = {user = user, claimed = claimed}"},
      {&s.verify, shared + ", user, claimed, consume = ARGV[1], ARGV[2], ARGV[3], ARGV[4], "
                           "ARGV[5]\nlocal ARGS = {user = user, claimed = claimed, consume = "
                           "consume}"},
      {&s.tick, shared + ", sweep_max, gap_ms = ARGV[1], ARGV[2], ARGV[3], ARGV[4]\n"
                         "local ARGS = {sweep_max = sweep_max, gap_ms = gap_ms}"},
      {&s.events,
       "local pattern, cursor, count = ARGV[1], ARGV[2], ARGV[3]\n"
       "local ARGS = {pattern = pattern, cursor = cursor, count = count}"},
      {&s.history, shared + " = ARGV[1], ARGV[2]"},
  };
  ASSERT_EQ(want.size(), s.all().size());
  for (const auto& [sc, lines] : want) {
    SCOPED_TRACE(sc->name);
    EXPECT_TRUE(has_line(sc->body, lines)) << sc->body.substr(0, 2000);
    // Bound once, before the shared functions.
    EXPECT_LT(sc->body.find(lines), sc->body.find("local function"));
    // The script proper names its arguments: no ARGV[n] beyond the binding.
    auto count = [](const std::string& text) {
      size_t n = 0;
      for (size_t at = text.find("ARGV["); at != std::string::npos; at = text.find("ARGV[", at + 1))
        ++n;
      return n;
    };
    EXPECT_EQ(count(sc->body), count(lines));
  }
}

TEST(Scripts, TheKeysAreTheSevenOfAnEvent) {
  EXPECT_EQ(kScriptKeyCount, 7);
  EXPECT_EQ(
      std::vector<std::string>(kEventKeys.begin(), kEventKeys.end()),
      (std::vector<std::string>{"cfg", "reserved", "queued", "stats", "seats", "holds", "seen"}));
  for (const ScriptContract* c : kContracts) EXPECT_EQ(c->event_keys, c->name != "events");
}

// ---- The contract table ----

int index_of(const ScriptFields& f, std::string_view name) {
  for (size_t i = 0; i < f.size(); ++i)
    if (f[i].name == name) return static_cast<int>(i);
  return -1;
}

TEST(ScriptContracts, FieldsAreFoundByName) {
  static_assert(reply_at(contract::get, "reserved") == 1);
  static_assert(reply_at(contract::status, "state") == 6);
  static_assert(each_at(contract::status, "used") == 4);
  static_assert(refusal_at(contract::put, code::kBelowReserved, "reserved") == 1);
  static_assert(kStatusHeader == 6);
  EXPECT_EQ(index_of(contract::leave.reply, "position"), 1);
  EXPECT_EQ(index_of(contract::leave.reply, "nosuch"), -1);
}

// put takes the settings in the table's order; put and get end their
// replies with them, numbers as integers, state and admit_rate as text.
TEST(ScriptContracts, PutAndGetCarryTheSettingsTable) {
  ASSERT_EQ(contract::put.argv.size(), kEventSettings.size());
  for (size_t i = 0; i < kEventSettings.size(); ++i) {
    SCOPED_TRACE(kEventSettings[i].name);
    EXPECT_EQ(contract::put.argv[i].name, kEventSettings[i].name);
    for (const ScriptContract* c : {&contract::put, &contract::get}) {
      const ScriptField& f = c->reply[c->reply.size() - kEventSettings.size() + i];
      EXPECT_EQ(f.name, kEventSettings[i].name);
      const bool text = kEventSettings[i].kind == EventSettingKind::kState ||
                        kEventSettings[i].kind == EventSettingKind::kRate;
      EXPECT_EQ(f.type, text ? ScriptWire::kText : ScriptWire::kInt);
    }
  }
}

TEST(ScriptContracts, CodesAreNamedOnceAndEveryContractsCodeIsKnown) {
  std::set<std::string_view> lua;
  for (const ScriptCode& c : kCodes) {
    EXPECT_TRUE(lua.insert(c.lua).second) << c.lua;
    for (char ch : c.lua) EXPECT_TRUE(std::isupper(static_cast<unsigned char>(ch)) || ch == '_');
  }
  auto known = [](int v) {
    return std::any_of(std::begin(kCodes), std::end(kCodes),
                       [v](const ScriptCode& c) { return c.value == v; });
  };
  size_t codes = 0;
  for (const ScriptContract* c : kContracts) {
    SCOPED_TRACE(c->name);
    std::set<int> outcomes(c->outcomes.begin(), c->outcomes.end());
    EXPECT_EQ(outcomes.size(), c->outcomes.size()) << "an outcome listed twice";
    std::set<int> refusals;
    for (const ScriptRefusal& r : c->refusals) {
      EXPECT_TRUE(known(r.code)) << r.code;
      EXPECT_NE(r.code, code::kOk);
      refusals.insert(r.code);
    }
    EXPECT_EQ(refusals.size(), c->refusals.size()) << "a refusal listed twice";
    for (int o : c->outcomes) EXPECT_TRUE(known(o)) << o;
    // Every event script but put refuses an event never created.
    EXPECT_EQ(refusals.count(code::kNoEvent), c->event_keys && c->name != "put" ? 1u : 0u);
    codes += 1 + c->refusals.size() + c->outcomes.size();
  }
  // The result codes the scripts answer, all reached by
  // integration.ScriptCodesTest.EveryResultCodeOfEveryScriptIsReached.
  EXPECT_EQ(codes, 54u);
}

}  // namespace
}  // namespace ticketq
