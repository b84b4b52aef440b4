// parse_event_body on arbitrary bytes (the body of PUT /v1/events/{event}).
// Invariants: never crashes; on success both values are in [0, 2^40] and are
// exactly the two integer members of a JSON object that has no other member.
#include <nlohmann/json.hpp>

#include "fuzz_check.h"
#include "ticketq/validate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ticketq;
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto r = parse_event_body(body);
  FUZZ_CHECK(r.ok() != !r.error.empty(), body);
  if (!r.ok()) return 0;
  const EventSettings& s = *r.value;
  FUZZ_CHECK(s.capacity >= 0 && s.capacity <= kMaxEventSize, body);
  FUZZ_CHECK(s.queue_limit >= 0 && s.queue_limit <= kMaxEventSize, body);
  FUZZ_CHECK(body.find('\0') == std::string_view::npos, body);
  auto j = nlohmann::json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK(!j.is_discarded() && j.is_object() && j.size() == 2, body);
  FUZZ_CHECK(j.contains("capacity") && j["capacity"].is_number_integer(), body);
  FUZZ_CHECK(j.contains("queue_limit") && j["queue_limit"].is_number_integer(), body);
  FUZZ_CHECK(j["capacity"].get<int64_t>() == s.capacity, body);
  FUZZ_CHECK(j["queue_limit"].get<int64_t>() == s.queue_limit, body);
  return 0;
}
