// parse_reserve_body on arbitrary bytes (the body of POST .../reserve).
// Invariants: never crashes; on success the id is "" or a valid user id, and
// a plain JSON parse of the same body agrees with what was accepted.
#include <nlohmann/json.hpp>

#include "base/validate.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ticketq;
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto r = parse_reserve_body(body);
  FUZZ_CHECK(r.ok() != !r.error.empty(), body);
  if (!r.ok()) return 0;
  const std::string& id = *r.value;
  FUZZ_CHECK(id.empty() || valid_user_id(id), id);
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    FUZZ_CHECK(id.empty(), body);
    return 0;
  }
  // Accepted: the body is one JSON object, and its user_id is what we got.
  FUZZ_CHECK(body.find('\0') == std::string_view::npos, body);
  auto j = nlohmann::json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK(!j.is_discarded() && j.is_object(), body);
  auto it = j.find("user_id");
  if (id.empty())
    FUZZ_CHECK(it == j.end() || it->is_null(), body);
  else
    FUZZ_CHECK(it != j.end() && it->is_string() && it->get<std::string>() == id, body);
  return 0;
}
