// parse_event_body on arbitrary bytes (the body of PUT /v1/events/{event}).
// Invariants: never crashes; on success the object has only the members
// read, at least one, each in range: capacity and queue_limit integers in
// [0, 2^40], state one of the three names.
#include <nlohmann/json.hpp>

#include "base/validate.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ticketq;
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto r = parse_event_body(body);
  FUZZ_CHECK(r.ok() != !r.error.empty(), body);
  if (!r.ok()) return 0;
  const EventPatch& p = *r.value;
  FUZZ_CHECK(p.capacity || p.queue_limit || p.state, body);
  FUZZ_CHECK(body.find('\0') == std::string_view::npos, body);
  auto j = nlohmann::json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK(!j.is_discarded() && j.is_object(), body);
  FUZZ_CHECK(j.size() == size_t(p.capacity.has_value()) + size_t(p.queue_limit.has_value()) +
                             size_t(p.state.has_value()),
             body);
  for (const char* key : {"capacity", "queue_limit"}) {
    const auto& v = std::string(key) == "capacity" ? p.capacity : p.queue_limit;
    if (!v) continue;
    FUZZ_CHECK(*v >= 0 && *v <= kMaxEventSize, body);
    FUZZ_CHECK(j[key].is_number_integer() && j[key].get<int64_t>() == *v, body);
  }
  if (p.state) FUZZ_CHECK(j["state"] == event_state_name(*p.state), body);
  return 0;
}
