// Automatic admission at rates from the lowest to the highest the settings
// allow, each with 10,000 waiting, on a real Redis: a step admits at most
// sweep_max users in one script call and the next follows at once, so that
// no call grows with the rate (Lua's unpack fails at 8,000 values) and the
// rate's allowance carries over from step to step.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "core/scripts.h"
#include "support/process_util.h"
#include "support/stack.h"

namespace ticketq::test {
namespace {

using nlohmann::json;

constexpr int64_t kWaiting = 10000;

struct Rate {
  int64_t per_s;
  bool all;  // everyone admitted during the test (else: only the bound is checked)
  std::string event() const { return "rate" + std::to_string(per_s); }
  int64_t burst() const { return std::max<int64_t>(1, (per_s + 1) / 2); }
};

TEST(AdmissionRatesTest, EveryRateTheSettingsAllowAdmitsInBoundedSteps) {
  const std::vector<Rate> rates = {{1, false}, {1000, false}, {20000, true}, {1000000, true}};
  Stack stack;
  ServerOptions o;
  o.extra_args = {"--admission-tick-ms", "50"};
  ASSERT_EQ(stack.start(o), "");
  HttpClient http = stack.client(0, Millis(30000));
  RedisClient& db = stack.db();
  const Script& reserve = scripts().reserve;
  ASSERT_EQ(db.command({"SCRIPT", "LOAD", reserve.body}).str, reserve.sha1);

  // Each event: one seat taken, then 10,000 in line (the reserve script
  // itself, 1,000 users a call, as the coalescer sends them).
  for (const Rate& rate : rates) {
    const std::string base = "/v1/events/" + rate.event();
    auto put = http.put(base, json{{"capacity", 1}, {"queue_limit", kWaiting}}.dump(), admin());
    ASSERT_EQ(put.status, 201) << put.describe();
    ASSERT_EQ(http.post(base + "/reserve", user_body("first")).status, 200);
    for (int64_t from = 0; from < kWaiting; from += 1000) {
      std::vector<std::string> cmd{"EVALSHA", reserve.sha1, std::to_string(kScriptKeyCount)};
      for (const char* k : kEventKeys) cmd.push_back(RedisClient::key(rate.event(), k));
      cmd.insert(cmd.end(), {"", ""});
      for (int64_t i = from; i < from + 1000; ++i) cmd.push_back("u" + std::to_string(i));
      Reply r = db.command(cmd);
      ASSERT_EQ(r.type, Reply::Type::kArray) << r.str;
    }
    ASSERT_EQ(db.waiting(rate.event()), kWaiting);
  }

  // Seats for all, holds of 10 minutes, and the rate: admission starts.
  std::map<std::string, int64_t> started_ms;
  for (const Rate& rate : rates) {
    started_ms[rate.event()] = now_ms();
    auto put = http.put(
        "/v1/events/" + rate.event(),
        json{{"capacity", kWaiting + 1}, {"admit_rate", rate.per_s}, {"hold_s", 600}}.dump(),
        admin());
    ASSERT_EQ(put.status, 200) << put.describe();
  }

  // Sampled until the fast rates have admitted everyone: never above the
  // rate's bound.
  std::map<std::string, int64_t> done_ms;
  auto sample = [&] {
    for (const Rate& rate : rates) {
      auto got = http.get("/v1/events/" + rate.event(), admin());
      if (got.status != 200) {
        ADD_FAILURE() << got.describe();
        return true;
      }
      const int64_t promoted = got.json["promoted"];
      const int64_t elapsed = now_ms() - started_ms[rate.event()];
      EXPECT_LE(promoted, rate.per_s * elapsed / 1000 + rate.burst())
          << rate.event() << " after " << elapsed << " ms";
      if (rate.all && promoted == kWaiting && done_ms.count(rate.event()) == 0)
        done_ms[rate.event()] = elapsed;
    }
    return done_ms.size() == 2;
  };
  ASSERT_TRUE(wait_until(sample, Millis(60000), Millis(50))) << "not everyone was admitted";

  for (const Rate& rate : rates) {
    const std::string base = "/v1/events/" + rate.event();
    auto got = http.get(base, admin());
    ASSERT_EQ(got.status, 200) << got.describe();
    const int64_t promoted = got.json["promoted"];
    std::printf(
        "FIGURE admission_rate_%lld: %lld of %lld admitted (%s), %lld still waiting\n",
        static_cast<long long>(rate.per_s), static_cast<long long>(promoted),
        static_cast<long long>(kWaiting),
        done_ms.count(rate.event()) != 0
            ? ("all within " + std::to_string(done_ms[rate.event()]) + " ms").c_str()
            : ("after " + std::to_string(now_ms() - started_ms[rate.event()]) + " ms").c_str(),
        static_cast<long long>(got.json["waiting"].get<int64_t>()));
    if (rate.all) {
      EXPECT_EQ(got.json["waiting"], 0);
      EXPECT_EQ(got.json["confirmed"], 0);
      EXPECT_EQ(got.json["reserved"], kWaiting + 1);
      EXPECT_EQ(got.json["admitted"], kWaiting + 1) << "a seat without a hold";
      // Each admitted user is told so, with when the hold ends.
      for (int64_t i : {int64_t{0}, kWaiting / 2, kWaiting - 1}) {
        auto s = http.get(base + "/status/u" + std::to_string(i));
        EXPECT_EQ(s.json["state"], "admitted") << s.describe();
        EXPECT_TRUE(s.json["hold_expires_at"].is_number()) << s.describe();
      }
    } else {
      // A slow rate still admits: the first within a second or two.
      EXPECT_TRUE(wait_until(
          [&] {
            auto g = http.get(base, admin());
            return g.status == 200 && g.json["promoted"].get<int64_t>() > 0;
          },
          Millis(30000)))
          << rate.event() << " admitted nobody";
    }
  }
  // Nothing moves while Redis is read (key by key): the instance stops first.
  stack.server().terminate();
  for (const Rate& rate : rates) {
    auto bad = db.check_invariants(rate.event(), kWaiting + 1);
    EXPECT_TRUE(bad.empty()) << rate.event() << ": " << ::testing::PrintToString(bad);
  }
}

}  // namespace
}  // namespace ticketq::test
