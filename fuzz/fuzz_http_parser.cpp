// The HTTP/1.1 request parser (RequestParser, over llhttp) with small limits.
// Input: byte 0 is the control: its low 3 bits say how many split points
// follow (one byte each: the length of the next piece fed, 0 = an empty
// feed), bit 3 adds a run fed one byte at a time. The rest is what a client
// sends on one connection. Invariants:
//   - feed() never consumes more than it is given, and in kNeedMore it
//     consumed everything (a caller never has to hold bytes back);
//   - a request and an error are never reported at once; an error has a
//     status of 400/413/414/431/501/505 and a reason;
//   - expects_continue() only while more bytes are needed;
//   - a request reported is within the limits and well-formed: a
//     known method, HTTP/1.0 or 1.1, an origin-form target (or "*" with OPTIONS),
//     token header names, trimmed values without CR/LF/NUL, a body that
//     matches its framing (Content-Length, or chunked without it);
//   - the requests, the error and the close are the same whole, in the
//     chosen pieces, and one byte at a time.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "transport/http_parser.h"

namespace {

using namespace ticketq;
using State = RequestParser::State;

ParserLimits small_limits() {
  ParserLimits l;
  l.max_header_bytes = 256;
  l.max_body_bytes = 64;
  l.max_target_bytes = 32;
  l.max_headers = 8;
  return l;
}

bool is_tchar(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto low = [](char c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; };
           return low(x) == low(y);
         });
}

// Checks one request and returns a summary of it for the comparison.
std::string check_request(const ParsedRequest& r, const ParserLimits& lim, std::string_view in) {
  std::string what = "input: " + std::string(in);
  FUZZ_CHECK(r.method == "GET" || r.method == "HEAD" || r.method == "POST" || r.method == "PUT" ||
                 r.method == "DELETE" || r.method == "OPTIONS" || r.method == "PATCH" ||
                 r.method == "TRACE",
             what);
  FUZZ_CHECK(r.http_major == 1 && (r.http_minor == 0 || r.http_minor == 1), what);
  FUZZ_CHECK(!r.target.empty() && r.target.size() <= lim.max_target_bytes, what);
  FUZZ_CHECK(r.target[0] == '/' || (r.target == "*" && r.method == "OPTIONS"), what);
  for (unsigned char c : r.target) FUZZ_CHECK(c > 0x20 && c < 0x7f && c != '#', what);
  FUZZ_CHECK(r.headers.size() <= lim.max_headers, what);
  FUZZ_CHECK(r.body.size() <= lim.max_body_bytes, what);
  size_t header_bytes = 0;
  int content_lengths = 0, transfer_encodings = 0;
  std::string_view content_length;
  std::string out = std::string(r.method) + " " + std::string(r.target) + " " +
                    std::to_string(r.http_minor) + (r.keep_alive ? " ka" : " close") +
                    (r.chunked ? " chunked" : "");
  for (const HttpHeader& h : r.headers) {
    header_bytes += h.name.size() + h.value.size();
    FUZZ_CHECK(!h.name.empty(), what);
    for (unsigned char c : h.name) FUZZ_CHECK(is_tchar(c), what);
    for (unsigned char c : h.value) FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0', what);
    if (!h.value.empty()) {
      FUZZ_CHECK(h.value.front() != ' ' && h.value.front() != '\t', what);
      FUZZ_CHECK(h.value.back() != ' ' && h.value.back() != '\t', what);
    }
    if (iequals(h.name, "content-length")) {
      ++content_lengths;
      content_length = h.value;
    }
    if (iequals(h.name, "transfer-encoding")) {
      ++transfer_encodings;
      FUZZ_CHECK(iequals(h.value, "chunked"), what);
    }
    out += "|" + std::string(h.name) + ":" + std::string(h.value);
  }
  FUZZ_CHECK(header_bytes + r.target.size() <= lim.max_header_bytes, what);
  FUZZ_CHECK(content_lengths <= 1 && transfer_encodings <= 1, what);
  FUZZ_CHECK(!(content_lengths && transfer_encodings), what);
  FUZZ_CHECK(r.chunked == (transfer_encodings == 1), what);
  FUZZ_CHECK(!r.chunked || r.http_minor == 1, what);
  if (content_lengths) {
    uint64_t n = 0;
    for (char c : content_length) {
      if (c == ' ') break;
      FUZZ_CHECK(c >= '0' && c <= '9', what);
      n = n * 10 + (c - '0');
    }
    FUZZ_CHECK(n == r.body.size(), what);
  } else if (!r.chunked) {
    FUZZ_CHECK(r.body.empty(), what);
  }
  if (r.http_minor == 0 && !r.header("connection")) FUZZ_CHECK(!r.keep_alive, what);
  out += "#" + r.body;
  return out;
}

// Feeds `pieces` as a connection would; returns the requests, then the error
// or the close, as text.
std::string run(const std::vector<std::string_view>& pieces, const ParserLimits& lim,
                std::string_view in) {
  RequestParser p(lim);
  std::string out;
  std::string what = "input: " + std::string(in);
  for (std::string_view rest : pieces) {
    for (;;) {
      size_t n = p.feed(rest);
      FUZZ_CHECK(n <= rest.size(), what);
      if (p.state() != State::kNeedMore) FUZZ_CHECK(!p.expects_continue(), what);
      switch (p.state()) {
        case State::kRequest:
          FUZZ_CHECK(p.error().status == 0, what);
          rest.remove_prefix(n);
          out += check_request(p.request(), lim, in) + "\n";
          p.next();
          FUZZ_CHECK(p.state() == State::kNeedMore || p.state() == State::kClosed, what);
          if (p.state() == State::kClosed) {
            FUZZ_CHECK(p.feed(rest) == 0 && p.state() == State::kClosed, what);
            return out + "closed";
          }
          FUZZ_CHECK(p.idle(), what);
          continue;
        case State::kError: {
          int s = p.error().status;
          FUZZ_CHECK(s == 400 || s == 413 || s == 414 || s == 431 || s == 501 || s == 505, what);
          FUZZ_CHECK(p.error().reason != nullptr && p.error().reason[0] != '\0', what);
          p.next();  // refused
          FUZZ_CHECK(p.state() == State::kError && p.feed(rest) == 0, what);
          return out + "error " + std::to_string(s) + " " + p.error().reason;
        }
        case State::kNeedMore:
          FUZZ_CHECK(p.error().status == 0, what);
          FUZZ_CHECK(n == rest.size(), what + " (bytes left over in kNeedMore)");
          break;
        case State::kClosed:
          FUZZ_CHECK(false, what);
      }
      break;
    }
  }
  return out + "more";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t control = data[0];
  const size_t splits = control & 7;
  if (size < 1 + splits) return 0;
  std::string_view in(reinterpret_cast<const char*>(data + 1 + splits), size - 1 - splits);
  const ParserLimits lim = small_limits();

  const std::string whole = run({in}, lim, in);

  std::vector<std::string_view> pieces;
  std::string_view rest = in;
  for (size_t i = 0; i < splits; ++i) {
    size_t len = std::min<size_t>(data[1 + i], rest.size());
    pieces.push_back(rest.substr(0, len));
    rest.remove_prefix(len);
  }
  pieces.push_back(rest);
  std::string split = run(pieces, lim, in);
  FUZZ_CHECK(split == whole,
             "input: " + std::string(in) + "\nwhole: " + whole + "\nsplit: " + split);

  if (control & 8) {
    std::vector<std::string_view> bytes;
    for (size_t i = 0; i < in.size(); ++i) bytes.push_back(in.substr(i, 1));
    std::string single = run(bytes, lim, in);
    FUZZ_CHECK(single == whole,
               "input: " + std::string(in) + "\nwhole: " + whole + "\nbytes: " + single);
  }
  return 0;
}
