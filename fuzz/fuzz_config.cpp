// apply_setting with arbitrary text. The input is "name=value"; a name that is
// not a setting picks one by its length, so every input tests something and
// the seeds stay valid when settings are added or reordered.
// Invariants: never crashes; a refused value leaves the configuration as it
// was; an accepted int is in the setting's bounds and is the number written;
// an accepted string is the text given, and passes its setting's own rules;
// describe() never depends on a secret setting.
#include <algorithm>
#include <charconv>
#include <string>

#include "config/config.h"
#include "fuzz_check.h"
#include "redis/redis_gateway.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ticketq;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t eq = in.find('=');
  std::string_view name = in.substr(0, eq);
  std::string value(eq == std::string_view::npos ? std::string_view() : in.substr(eq + 1));
  auto table = settings_table();
  const Setting* found = nullptr;
  for (const Setting& t : table)
    if (name == t.name) found = &t;
  const Setting& s = found != nullptr ? *found : table[name.size() % table.size()];
  std::string what = std::string(s.name) + " = " + value;

  Config cfg;
  cfg.admin_token = "tok-before";
  const std::string before = describe(cfg);
  std::string err = apply_setting(cfg, s, value);
  const std::string after = describe(cfg);
  if (!err.empty()) {
    FUZZ_CHECK(after == before, what);
    FUZZ_CHECK(cfg.admin_token == "tok-before", what);
    return 0;
  }
  if (s.kind == SettingKind::kInt) {
    int64_t v = cfg.*s.int_field;
    FUZZ_CHECK(v >= s.min && v <= s.max, what);
    int64_t parsed = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), parsed);
    FUZZ_CHECK(ec == std::errc() && end == value.data() + value.size() && parsed == v, what);
  } else {
    FUZZ_CHECK(cfg.*s.str_field == value, what);
    std::string_view setting = s.name;
    if (setting == "redis") FUZZ_CHECK(parse_redis_target(value).ok(), what);
    if (setting == "key_prefix")
      FUZZ_CHECK(!value.empty() && value.find_first_of("{} \t\r\n") == std::string::npos, what);
    if (setting == "bind") FUZZ_CHECK(!value.empty(), what);
  }
  // Secrets never reach the dump: other tokens dump the same (an empty one
  // shows as empty: that it is not set is no secret).
  Config other = cfg;
  if (!other.admin_token.empty()) other.admin_token = "some-other-token";
  if (!other.metrics_token.empty()) other.metrics_token = "another-metrics-token";
  FUZZ_CHECK(describe(other) == after, what);
  return 0;
}
