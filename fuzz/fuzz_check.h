// Shared by the libFuzzer harnesses: a check that stays on in every build
// type (assert is compiled out under NDEBUG) and says which invariant broke.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#define FUZZ_CHECK(cond, ...)                                                          \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      ::ticketq::fuzz::explain(__VA_ARGS__);                                           \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

namespace ticketq::fuzz {

// Prints a value with non-printable bytes escaped, so a report is readable.
inline std::string escaped(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

inline void explain() {}
inline void explain(std::string_view what) {
  std::fprintf(stderr, "  %s\n", escaped(what).c_str());
}

}  // namespace ticketq::fuzz
