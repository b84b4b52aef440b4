// A short ticketq-bench rush against real Redis and two real ticketq
// servers: a few thousand users reserve, the line is processed, every user
// polls until reserved or sold out, and the bench checks Redis for
// overbooking, loss and duplicates. Also shows that the check can fail.
#include <gtest/gtest.h>

#include <string>

#include "support/process_util.h"
#include "support/stack.h"

namespace ticketq::test {
namespace {

CommandResult run_rush(Stack& stack, const std::string& check_event) {
  SpawnSpec spec;
  spec.argv = {TICKETQ_BENCH_BIN,
               "--url",
               "http://127.0.0.1:" + std::to_string(stack.server().port()),
               "--scenario",
               "rush",
               "--event",
               "smoke",
               "--create-event",
               "--capacity",
               "1000",
               "--queue-limit",
               "2000",
               "--grow",
               "1500",
               "--users",
               "4000",
               "--connections",
               "32",
               "--threads",
               "2",
               "--token",
               kAdminToken,
               "--no-progress",
               "--redis",
               "redis://127.0.0.1:" + std::to_string(stack.redis().port())};
  if (!check_event.empty()) {
    spec.argv.push_back("--check-event");
    spec.argv.push_back(check_event);
  }
  // Generous (ctest allows 300 s): a few seconds when quiet, far more for an
  // ASan build on a busy machine.
  return run_command(spec, Millis(240000));
}

TEST(BenchRushTest, RushOfFourThousandUsersLosesAndOverbooksNothing) {
  Stack stack;
  ASSERT_EQ(stack.start(), "");
  CommandResult r = run_rush(stack, "");
  EXPECT_TRUE(r.status.exited && r.status.code == 0) << r.status.describe() << "\n"
                                                     << r.out << r.err;
  EXPECT_NE(r.out.find("verdict: PASS"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << r.out;
}

TEST(BenchRushTest, CheckFailsWhenRedisDoesNotHoldTheRush) {
  Stack stack;
  ASSERT_EQ(stack.start(), "");
  CommandResult r = run_rush(stack, "elsewhere");
  EXPECT_TRUE(r.status.exited && r.status.code == 1) << r.status.describe() << "\n"
                                                     << r.out << r.err;
  EXPECT_NE(r.out.find("verdict: FAIL"), std::string::npos) << r.out << r.err;
}

}  // namespace
}  // namespace ticketq::test
