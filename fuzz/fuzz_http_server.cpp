// The HTTP/1.1 connection layer (HttpServer) end to end, on one connection:
// a socketpair, one end adopted by a fresh server with small limits, the
// other written by the harness in pieces while it pumps the loop and reads
// what comes back. A test handler answers each request now, later (in or out
// of order) or with a stream; the replies are read back by a strict response
// reader and held against what the handler did.
//
// Input (fixed header, then what the client sends):
//   byte 0: bits 0-2 split points s; bits 3-4 the end (0/1: the client waits
//           for every reply, then shuts down its side; 2: it shuts down its
//           side after its last byte, replies still owed; 3: it closes its
//           socket then); bit 5 slow reader (the server's send buffer is
//           small and the client reads a little at a time, so writes are
//           partial); bit 6 deferred answers newest first; bit 7 one
//           deferred answer per step (else all)
//   byte 1: bits 0-2 max_requests (0: unlimited, v: v + 1); bit 3 a stream's
//           on_close answers every deferred request; bits 4-5 pumps per
//           step - 1; bit 6 the slow reader takes 7 bytes at a time (else
//           64); bit 7 deferred requests wait for the end
//   bytes 2-4: the handler's plan, 3 bits per request, request i uses
//           (i % 8): 0 respond now; 1 respond now and close; 2 respond
//           later; 3 open a stream later (two chunks, end); 4 stream now
//           (two chunks, end); 5 open a stream now, one chunk per step, then
//           end; 6 respond later and close; 7 answer one deferred request,
//           then respond now
//   byte 5: bits 0-1 replies padded by 0/200/1000/3000 bytes (stream chunks
//           by at most 1500); bits 2-3 the slow reader reads at every
//           2nd/4th/8th pump, or not before the end
//   s bytes: the lengths of the first s pieces (the rest is the last piece)
//   the rest: the client's bytes.
// After each piece the loop is pumped, deferred requests answered as the
// plan says, and pumped again.
//
// Invariants:
//   - every request handed to the handler is answered once (the harness
//     checks its own bookkeeping, which the transport relies on);
//   - the server's bytes parse as HTTP/1.1 responses: a status line with a
//     status 100-599, headers, and a body framed exactly by Content-Length
//     (none after HEAD), chunked for an HTTP/1.1 stream, or the close for an
//     HTTP/1.0 one; a 1xx is a bare "100 Continue" followed by the reply of
//     the request that asked for it (or an error); every final response has
//     one Date; nothing follows a response that closes (Connection: close, a
//     transport error, a stream); a transport error is JSON {"error": ...};
//     only the end may be cut short, and only when the connection was cut
//     (client gone, or it left a request unfinished or a stream open);
//   - the handler's replies come in request order, each once, with its own
//     body ("seq N"): the replies on the wire are those of requests 0..k-1;
//   - Connection: close on a handler's reply only when that request closes
//     (the handler said so, the client did, max_requests, an HTTP/1.0 or
//     HEAD stream), or it is the last request read and the client had shut
//     down its side before it was answered; a reply that closes says so;
//     an HTTP/1.0 keep-alive reply says keep-alive;
//   - k: with j the first request that closes (or N, the requests handed
//     on), k = min(j + 1, N) exactly when the client waited for its replies
//     (end 0/1), or shut down its side with no stream (end 2: what was read
//     in full is still answered); k is at most that otherwise (a client
//     gone, or a stream open when it shuts down, may cut owed replies);
//   - when the client waited and no request closes: the server handed on
//     exactly the requests a RequestParser finds in the client's bytes, and
//     answered the parser's error, if any, with that status, last;
//   - when the client waited: a stream's push fails only after a reply that
//     closed (or after HEAD), or when the slow reader let max_stream_buffer
//     fill (then the checks are those of a client gone), no on_close runs,
//     and the server closes the connection once the client has shut down;
//   - after the server is destroyed no event of it is left in the loop (a
//     static event_base serves every input) and the open count is 0.
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "transport/http_parser.h"
#include "transport/http_server.h"

namespace {

using namespace ticketq;

constexpr size_t kHeader = 6;

// What a failed check prints besides its message: the plan, the client's
// bytes and what the server wrote so far.
struct Context {
  std::string plan;
  std::string_view in;
  const std::string* out = nullptr;
};
Context g_ctx;

[[noreturn]] void fail(int line, const char* cond, const std::string& msg) {
  std::fprintf(stderr, "%s:%d: invariant failed: %s\n  %s\n  %s\n  input: %s\n", __FILE__, line,
               cond, msg.c_str(), g_ctx.plan.c_str(), fuzz::escaped(g_ctx.in).c_str());
  if (g_ctx.out != nullptr)
    std::fprintf(stderr, "  output: %s\n", fuzz::escaped(*g_ctx.out).c_str());
  std::abort();
}

#define CHECK(cond, msg)                       \
  do {                                         \
    if (!(cond)) fail(__LINE__, #cond, (msg)); \
  } while (0)

enum class End { kWait, kShutdown, kClose };

struct Plan {
  size_t splits = 0;
  End end = End::kWait;
  bool slow = false;
  bool lifo = false;
  bool one_per_step = false;
  int64_t max_requests = 100000;
  bool on_close_answers = false;
  int pumps = 1;
  size_t bite = 64;
  int read_every = 2;  // the slow reader reads at every read_every-th pump (0: never)
  bool hold = false;
  uint32_t actions = 0;
  int action(size_t i) const { return static_cast<int>((actions >> (3 * (i % 8))) & 7); }
};

enum Action {
  kNow = 0,
  kNowClose = 1,
  kLater = 2,
  kLaterStream = 3,
  kStreamNow = 4,
  kStreamSteps = 5,
  kLaterClose = 6,
  kOtherThenNow = 7,
};

struct Req {
  HttpExchange ex;
  int action = 0;
  bool head = false;
  bool http10 = false;
  bool keep_alive = true;  // as parsed
  bool expect = false;     // sent Expect
  bool answered = false;
  bool close = false;           // the handler's reply closes
  bool stream = false;          // open_stream returned a stream
  bool stream_null = false;     // open_stream returned null
  bool second_stream = false;   // ... while another request had a stream (409)
  bool push_failed = false;     // a push returned false
  bool after_shutdown = false;  // answered after the client shut down its side
  // The stream, while it may be touched (until end_stream or on_close).
  HttpStream* s = nullptr;
  int pushed = 0;
  bool ended = false;
  bool on_close_ran = false;
};

// Replies may be padded, so that writes fill the socket and end in part.
size_t g_pad = 0;

std::string seq_body(size_t i) {
  return "seq " + std::to_string(i) + "\n" + std::string(g_pad, '.');
}
// Two chunks fit max_stream_buffer (4096) when the client reads.
std::string chunk(size_t i, int k) {
  return "seq " + std::to_string(i) + (k == 0 ? " a\n" : " b\n") +
         std::string(std::min<size_t>(g_pad, 1500), ':');
}
std::string seq_header(size_t i) {
  return "X-Seq: " + std::to_string(i) + "\r\n";
}

struct Harness;

class TestHandler : public HttpHandler {
 public:
  explicit TestHandler(Harness& h) : h_(h) {}
  void on_request(HttpExchange ex, const ParsedRequest& req, std::string body) override;

 private:
  Harness& h_;
};

struct Harness {
  Plan plan;
  ParserLimits parser_limits;
  HttpServer* server = nullptr;
  std::vector<Req> reqs;
  std::deque<size_t> deferred;   // requests to answer later, in arrival order
  std::vector<size_t> stepping;  // streams pushed one chunk per step
  bool client_shut = false;
  bool in_handler = false;

  void answer(size_t i) {
    Req& r = reqs[i];
    CHECK(!r.answered, "request " + std::to_string(i) + " answered twice");
    r.answered = true;
    r.after_shutdown = client_shut;
    switch (r.action) {
      case kLaterStream:
        return stream_full(i);
      case kLaterClose:
        r.close = true;
        return server->respond(r.ex, 200, seq_header(i), seq_body(i), true);
      case kNowClose:
        r.close = true;
        return server->respond(r.ex, 200, seq_header(i), seq_body(i), true);
      default:
        return server->respond(r.ex, 200, seq_header(i), seq_body(i), false);
    }
  }

  HttpStream* open(size_t i) {
    Req& r = reqs[i];
    HttpStream* s = server->open_stream(r.ex, 200, seq_header(i), [this, i] {
      Req& q = reqs[i];
      CHECK(!in_handler, "on_close inside the handler");
      CHECK(!q.ended && !q.on_close_ran, "on_close after end_stream");
      q.on_close_ran = true;
      q.s = nullptr;
      if (plan.on_close_answers) answer_deferred(true);
    });
    if (s == nullptr) {
      r.stream_null = true;
      for (const Req& other : reqs) r.second_stream = r.second_stream || other.stream;
    } else {
      r.stream = true;
      r.s = s;
    }
    return s;
  }

  // Pushes the stream's next chunk, or ends it after two.
  void advance(size_t i) {
    Req& r = reqs[i];
    if (r.s == nullptr || r.ended) return;
    if (r.pushed < 2 && !r.push_failed) {
      if (!server->push(r.s, chunk(i, r.pushed))) r.push_failed = true;
      ++r.pushed;
      return;
    }
    r.ended = true;
    HttpStream* s = r.s;
    r.s = nullptr;
    server->end_stream(s);
  }

  void stream_full(size_t i) {
    if (open(i) == nullptr) return;
    while (reqs[i].s != nullptr) advance(i);
  }

  void answer_one() {
    if (deferred.empty()) return;
    size_t i;
    if (plan.lifo) {
      i = deferred.back();
      deferred.pop_back();
    } else {
      i = deferred.front();
      deferred.pop_front();
    }
    answer(i);
  }

  void answer_deferred(bool all) {
    if (all) {
      while (!deferred.empty()) answer_one();
    } else {
      answer_one();
    }
  }

  void advance_streams(bool to_the_end) {
    for (size_t i : stepping) {
      if (to_the_end)
        while (reqs[i].s != nullptr) advance(i);
      else
        advance(i);
    }
  }

  bool streams_open() const {
    for (size_t i : stepping)
      if (reqs[i].s != nullptr) return true;
    return false;
  }

  void on_request(HttpExchange ex, const ParsedRequest& req, std::string body) {
    CHECK(!in_handler, "handler re-entered");
    CHECK(body.size() <= parser_limits.max_body_bytes, "a body past max_body_bytes");
    in_handler = true;
    size_t i = reqs.size();
    Req& r = reqs.emplace_back();
    r.ex = ex;
    r.action = plan.action(i);
    r.head = req.method == "HEAD";
    r.http10 = req.http_minor == 0;
    r.keep_alive = req.keep_alive;
    r.expect = req.header("expect").has_value();
    CHECK(server->requests() == reqs.size(), "the server's request count");
    switch (r.action) {
      case kNow:
      case kNowClose:
        answer(i);
        break;
      case kLater:
      case kLaterStream:
      case kLaterClose:
        deferred.push_back(i);
        break;
      case kStreamNow:
        reqs[i].answered = true;
        reqs[i].after_shutdown = client_shut;
        stream_full(i);
        break;
      case kStreamSteps:
        reqs[i].answered = true;
        reqs[i].after_shutdown = client_shut;
        if (open(i) != nullptr) stepping.push_back(i);
        break;
      case kOtherThenNow:
        answer_one();
        answer(i);
        break;
    }
    in_handler = false;
  }
};

void TestHandler::on_request(HttpExchange ex, const ParsedRequest& req, std::string body) {
  h_.on_request(ex, req, std::move(body));
}

// ------------------------------------------------------ the response reader --

struct Resp {
  int status = 0;
  bool interim = false;
  long seq = -1;            // X-Seq: the handler's reply to that request; -1 a transport error
  bool close = false;       // Connection: close
  bool keep_alive = false;  // Connection: keep-alive
  bool complete = true;
};

struct ReadResult {
  std::vector<Resp> resps;
  bool truncated = false;  // the last response is cut short
};

bool is_tchar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

// Reads the server's bytes strictly. `ended`: the server closed (the end of
// the bytes ends an HTTP/1.0 stream).
ReadResult read_responses(const std::string& out, bool ended, const Harness& h) {
  ReadResult rr;
  size_t pos = 0;
  size_t next_req = 0;  // the request the next handler reply or 409 answers
  while (pos < out.size()) {
    const std::string where = "the response at byte " + std::to_string(pos) + " of the output";
    size_t he = out.find("\r\n\r\n", pos);
    if (he == std::string::npos) {
      std::string_view rest(out.data() + pos, out.size() - pos);
      // Whatever is there must be the start of a status line.
      std::string_view proto = "HTTP/1.1 ";
      CHECK(rest.substr(0, proto.size()) == proto.substr(0, std::min(proto.size(), rest.size())),
            "the bytes after the last response");
      rr.truncated = true;
      Resp r;
      r.complete = false;
      rr.resps.push_back(r);
      break;
    }
    std::string_view head(out.data() + pos, he + 2 - pos);  // lines, each with CRLF
    size_t body_at = he + 4;
    Resp r;
    // Status line.
    size_t eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    CHECK(line.size() >= 14 && line.substr(0, 9) == "HTTP/1.1 " && line[12] == ' ', where);
    for (int k = 9; k < 12; ++k) CHECK(line[k] >= '0' && line[k] <= '9', where);
    r.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    CHECK(r.status >= 100 && r.status <= 599, where);
    for (char c : line.substr(13))
      CHECK((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == ' ', where);
    // Headers.
    std::map<std::string, std::string> hdr;
    std::map<std::string, int> count;
    size_t at = eol + 2;
    while (at < head.size()) {
      size_t e = head.find("\r\n", at);
      std::string_view l = head.substr(at, e - at);
      size_t colon = l.find(": ");
      CHECK(colon != std::string_view::npos && colon > 0, where);
      std::string name(l.substr(0, colon));
      for (char c : name) CHECK(is_tchar(c), where);
      std::string value(l.substr(colon + 2));
      for (unsigned char c : value) CHECK(c >= 0x20 && c < 0x7f, where);
      for (char& c : name) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
      ++count[name];
      hdr[name] = value;
      at = e + 2;
    }
    for (const char* n :
         {"content-length", "transfer-encoding", "connection", "date", "x-seq", "content-type"})
      CHECK(count[n] <= 1, std::string("header twice: ") + n);
    if (r.status < 200) {
      CHECK(r.status == 100 && hdr.empty() && head == "HTTP/1.1 100 Continue\r\n", where);
      r.interim = true;
      rr.resps.push_back(r);
      pos = body_at;
      continue;
    }
    CHECK(count["date"] == 1, where);
    if (count["connection"]) {
      CHECK(hdr["connection"] == "close" || hdr["connection"] == "keep-alive", where);
      r.close = hdr["connection"] == "close";
      r.keep_alive = !r.close;
    }
    bool has_cl = count["content-length"] == 1;
    bool chunked = count["transfer-encoding"] == 1;
    if (chunked) CHECK(hdr["transfer-encoding"] == "chunked", where);
    size_t cl = 0;
    if (has_cl) {
      const std::string& v = hdr["content-length"];
      CHECK(!v.empty() && v.size() < 10, where);
      for (char c : v) {
        CHECK(c >= '0' && c <= '9', where);
        cl = cl * 10 + static_cast<size_t>(c - '0');
      }
    }
    std::string body;
    enum class Frame { kLength, kChunked, kClose } frame = Frame::kLength;
    bool head_only = false;
    std::string expect_body;
    if (count["x-seq"]) {
      const std::string& v = hdr["x-seq"];
      CHECK(!v.empty() && v.size() < 8, where);
      long s = 0;
      for (char c : v) {
        CHECK(c >= '0' && c <= '9', where);
        s = s * 10 + (c - '0');
      }
      CHECK(static_cast<size_t>(s) < h.reqs.size(), "reply to an unknown request");
      r.seq = s;
      const Req& q = h.reqs[static_cast<size_t>(s)];
      CHECK(r.status == 200, where);
      if (q.stream) {
        if (q.head) {
          CHECK(has_cl && cl == 0 && !chunked && r.close, "HEAD stream");
          head_only = true;
        } else if (q.http10) {
          CHECK(!has_cl && !chunked && r.close, "HTTP/1.0 stream");
          frame = Frame::kClose;
        } else {
          CHECK(!has_cl && chunked, "HTTP/1.1 stream");
          frame = Frame::kChunked;
        }
        expect_body = chunk(static_cast<size_t>(s), 0) + chunk(static_cast<size_t>(s), 1);
      } else {
        CHECK(has_cl && !chunked, where);
        expect_body = seq_body(static_cast<size_t>(s));
        CHECK(cl == expect_body.size(), where);
        head_only = q.head;
      }
    } else if (r.status == 409) {
      // The transport's answer to a second stream on the connection: in
      // that request's place (no body after HEAD), and the connection goes on.
      CHECK(has_cl && !chunked && !r.close, where);
      CHECK(hdr["content-type"] == "application/json", where);
      head_only = next_req < h.reqs.size() && h.reqs[next_req].head;
    } else {
      // The transport's own error.
      CHECK(r.status == 400 || r.status == 408 || r.status == 413 || r.status == 414 ||
                r.status == 431 || r.status == 501 || r.status == 505,
            "the status of a transport error");
      CHECK(has_cl && !chunked && r.close, where);
      CHECK(hdr["content-type"] == "application/json", where);
    }
    pos = body_at;
    if (head_only) {
      // nothing
    } else if (frame == Frame::kLength) {
      if (out.size() - pos < cl) {
        r.complete = false;
        body = out.substr(pos);
        pos = out.size();
      } else {
        body = out.substr(pos, cl);
        pos += cl;
      }
    } else if (frame == Frame::kClose) {
      body = out.substr(pos);
      pos = out.size();
      // Ended by the close: cut short when the close came early (the client
      // cannot tell; the harness can).
      r.complete = ended && body == expect_body;
    } else {  // chunked, as the transport writes it: hex size, CRLF, data, CRLF
      bool done = false;
      while (!done) {
        size_t e = out.find("\r\n", pos);
        if (e == std::string::npos) {
          for (size_t k = pos; k < out.size(); ++k)
            CHECK(std::isxdigit(static_cast<unsigned char>(out[k])) || out[k] == '\r', where);
          pos = out.size();
          break;
        }
        std::string_view size_line(out.data() + pos, e - pos);
        CHECK(!size_line.empty() && size_line.size() <= 8, where);
        size_t n = 0;
        for (char c : size_line) {
          CHECK((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'), where);
          n = n * 16 + static_cast<size_t>(c <= '9' ? c - '0' : c - 'a' + 10);
        }
        size_t data_at = e + 2;
        if (out.size() - data_at < n + 2) {
          body += out.substr(data_at, std::min(n, out.size() - data_at));
          size_t got = out.size() - data_at;
          if (got > n)
            CHECK(out.substr(data_at + n) == std::string("\r\n").substr(0, got - n), where);
          pos = out.size();
          break;
        }
        CHECK(out.compare(data_at + n, 2, "\r\n") == 0, where);
        body += out.substr(data_at, n);
        pos = data_at + n + 2;
        done = n == 0;
      }
      r.complete = done;
    }
    if (r.seq >= 0) {
      if (r.complete)
        CHECK(body == (head_only ? "" : expect_body), "body of a reply");
      else
        CHECK(expect_body.compare(0, body.size(), body) == 0, "body of a reply");
    } else if (r.complete && !head_only) {
      CHECK(body.size() >= 14 && body.compare(0, 10, "{\"error\":\"") == 0 &&
                body.compare(body.size() - 3, 3, "\"}\n") == 0,
            "the body of a transport error");
    }
    rr.resps.push_back(r);
    if (r.seq >= 0)
      next_req = static_cast<size_t>(r.seq) + 1;
    else if (r.status == 409)
      ++next_req;
    if (!r.complete) {
      rr.truncated = true;
      break;
    }
  }
  return rr;
}

// ------------------------------------------------------------ the shadow --

// What a RequestParser finds in the whole of the client's bytes.
struct Shadow {
  size_t requests = 0;
  enum class End { kIdle, kPartial, kError, kClosed } end = End::kIdle;
  int error = 0;
};

Shadow shadow_parse(std::string_view in, const ParserLimits& lim) {
  Shadow sh;
  RequestParser p(lim);
  for (;;) {
    size_t n = p.feed(in);
    switch (p.state()) {
      case RequestParser::State::kRequest:
        in.remove_prefix(n);
        ++sh.requests;
        p.next();
        if (p.state() == RequestParser::State::kClosed) {
          sh.end = Shadow::End::kClosed;
          return sh;
        }
        continue;
      case RequestParser::State::kError:
        sh.end = Shadow::End::kError;
        sh.error = p.error().status;
        return sh;
      case RequestParser::State::kNeedMore:
        sh.end = p.idle() ? Shadow::End::kIdle : Shadow::End::kPartial;
        return sh;
      case RequestParser::State::kClosed:
        sh.end = Shadow::End::kClosed;
        return sh;
    }
  }
}

// ------------------------------------------------------------- the client --

event_base* loop_base() {
  static event_base* base = [] {
    signal(SIGPIPE, SIG_IGN);  // the server writes with writev
    return event_base_new();
  }();
  return base;
}

struct Client {
  int fd = -1;
  std::string out;      // what the server wrote
  std::string pending;  // to write
  bool ended = false;   // read the server's EOF
  bool reset = false;   // read failed (ECONNRESET)
  bool write_failed = false;

  void write_some() {
    while (!pending.empty() && fd >= 0 && !write_failed) {
      ssize_t n = send(fd, pending.data(), pending.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        write_failed = true;
        return;
      }
      pending.erase(0, static_cast<size_t>(n));
    }
  }

  // Reads what is there (at most `limit` bytes).
  void read_some(size_t limit) {
    char buf[4096];
    while (fd >= 0 && !ended && !reset && limit > 0) {
      ssize_t n = recv(fd, buf, std::min(sizeof buf, limit), MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        reset = true;
        return;
      }
      if (n == 0) {
        ended = true;
        return;
      }
      out.append(buf, static_cast<size_t>(n));
      limit -= static_cast<size_t>(n);
    }
  }
};

void set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL, 0);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kHeader) return 0;
  Plan plan;
  plan.splits = data[0] & 7;
  int end = (data[0] >> 3) & 3;
  plan.end = end < 2 ? End::kWait : end == 2 ? End::kShutdown : End::kClose;
  plan.slow = (data[0] & 0x20) != 0;
  plan.lifo = (data[0] & 0x40) != 0;
  plan.one_per_step = (data[0] & 0x80) != 0;
  plan.max_requests = (data[1] & 7) == 0 ? 100000 : (data[1] & 7) + 1;
  plan.on_close_answers = (data[1] & 8) != 0;
  plan.pumps = 1 + ((data[1] >> 4) & 3);
  plan.bite = (data[1] & 0x40) ? 7 : 64;
  plan.hold = (data[1] & 0x80) != 0;
  plan.actions = data[2] | (data[3] << 8) | (data[4] << 16);
  static constexpr size_t kPads[] = {0, 200, 1000, 3000};
  g_pad = kPads[data[5] & 3];
  static constexpr int kEvery[] = {2, 4, 8, 0};
  plan.read_every = kEvery[(data[5] >> 2) & 3];
  if (size < kHeader + plan.splits) return 0;
  std::string_view in(reinterpret_cast<const char*>(data + kHeader + plan.splits),
                      size - kHeader - plan.splits);
  std::vector<std::string_view> pieces;
  {
    std::string_view rest = in;
    for (size_t k = 0; k < plan.splits; ++k) {
      size_t len = std::min<size_t>(data[kHeader + k], rest.size());
      pieces.push_back(rest.substr(0, len));
      rest.remove_prefix(len);
    }
    pieces.push_back(rest);
  }

  event_base* base = loop_base();
  HttpLimits limits;
  limits.parser.max_header_bytes = 512;
  limits.parser.max_body_bytes = 256;
  limits.parser.max_target_bytes = 128;
  limits.parser.max_headers = 16;
  limits.max_connections = 4;
  limits.request_timeout_ms = 1'000'000'000;
  limits.idle_timeout_ms = 1'000'000'000;
  limits.max_requests = plan.max_requests;
  limits.max_pipeline = 4;
  limits.max_stream_buffer = 4096;

  Harness h;
  h.plan = plan;
  h.parser_limits = limits.parser;
  {
    char buf[192];
    std::snprintf(buf, sizeof buf,
                  "control %02x %02x plan %06x %02x (end %d slow %d lifo %d one %d max_requests "
                  "%lld hold %d pad %zu read_every %d)",
                  data[0], data[1], plan.actions, data[5], end, plan.slow, plan.lifo,
                  plan.one_per_step, static_cast<long long>(plan.max_requests), plan.hold, g_pad,
                  plan.read_every);
    g_ctx.plan = buf;
    g_ctx.in = in;
    g_ctx.out = nullptr;
  }
  const Shadow shadow = shadow_parse(in, limits.parser);

  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
  set_nonblocking(sv[0]);
  set_nonblocking(sv[1]);
  if (plan.slow) {
    int small = 1;  // the kernel's minimum
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  }
  Client client;
  client.fd = sv[1];
  g_ctx.out = &client.out;
  std::atomic<int64_t> open{0};
  TestHandler handler(h);
  bool closed_at_end = false;  // the server had closed the connection at the end
  {
    HttpServer server(base, limits, handler, open, nullptr);
    h.server = &server;
    CHECK(server.adopt(sv[0]), "adopt");
    bool slow_now = plan.slow;
    unsigned pumps_done = 0;
    auto pump = [&](int times) {
      for (int t = 0; t < times; ++t) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        client.write_some();
        ++pumps_done;
        size_t limit = SIZE_MAX;
        if (slow_now)
          limit = plan.read_every != 0 && pumps_done % plan.read_every == 0 ? plan.bite : 0;
        client.read_some(limit);
        CHECK(server.connections() <= 1 && server.requests() == h.reqs.size(),
              "the server's counters");
      }
    };

    for (std::string_view piece : pieces) {
      client.pending.append(piece);
      client.write_some();
      pump(plan.pumps);
      if (!plan.hold) h.answer_deferred(!plan.one_per_step);
      h.advance_streams(false);
      pump(plan.pumps);
    }
    slow_now = false;
    if (plan.end == End::kShutdown) {
      // What is still to write goes first: the client shuts down after it.
      for (int t = 0; t < 64 && !client.pending.empty() && !client.write_failed; ++t) pump(1);
      shutdown(client.fd, SHUT_WR);
      h.client_shut = true;
      pump(plan.pumps);  // the server may see the EOF before the answers
    } else if (plan.end == End::kClose) {
      close(client.fd);
      client.fd = -1;
      h.client_shut = true;
      pump(plan.pumps);
    }
    // Answer everything, until no request is left and none arrives.
    for (int round = 0; round < 1000; ++round) {
      size_t before = h.reqs.size();
      h.answer_deferred(true);
      h.advance_streams(true);
      pump(plan.pumps + 1);
      if (h.deferred.empty() && !h.streams_open() && h.reqs.size() == before &&
          client.pending.empty())
        break;
    }
    CHECK(h.deferred.empty() && !h.streams_open(), "requests keep coming");
    if (plan.end == End::kWait) {
      // The client reads until nothing more comes (a full socket drains a
      // write at a time), then shuts down its side: the server may take
      // that for a client gone (a stream, a request left unfinished).
      for (int t = 0, quiet = 0; t < 256 && quiet < 3; ++t) {
        size_t before = client.out.size();
        pump(1);
        quiet = client.out.size() == before ? quiet + 1 : 0;
      }
      shutdown(client.fd, SHUT_WR);
      h.client_shut = true;
    }
    for (int t = 0; t < 64 && server.connections() > 0; ++t) {
      pump(1);
      // Requests read from a stash after the shutdown are answered too.
      h.answer_deferred(true);
      h.advance_streams(true);
    }
    closed_at_end = server.connections() == 0;
    for (const Req& r : h.reqs) CHECK(r.answered, "a request not answered");
    if (plan.end == End::kWait)
      CHECK(closed_at_end, "the connection stays open after the client's EOF");
    h.server = nullptr;
  }
  CHECK(open.load() == 0, "open count");
  CHECK(event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED | EVENT_BASE_COUNT_ACTIVE) == 0,
        "an event of the server is left in the loop");
  client.read_some(SIZE_MAX);  // what the destructor flushed, and the close
  if (client.fd >= 0) close(client.fd);

  // ------------------------------------------------------------ checks --
  const size_t n = h.reqs.size();
  auto closes = [&](size_t i) {
    const Req& r = h.reqs[i];
    return r.close || !r.keep_alive || static_cast<int64_t>(i) + 1 >= plan.max_requests || r.stream;
  };
  size_t j = n;  // the first request whose reply closes
  for (size_t i = 0; i < n; ++i)
    if (closes(i)) {
      j = i;
      break;
    }
  const size_t k_exp = j < n ? j + 1 : n;
  bool any_stream = false;
  for (const Req& r : h.reqs) any_stream = any_stream || r.stream || r.stream_null;
  // A push past max_stream_buffer closes the connection, cutting short
  // whatever reply was being written (the unsent bytes of the replies before
  // the stream count too): legitimate only when the socket was full, i.e.
  // with the slow reader; the checks are then those of a client gone. A
  // push refused otherwise must follow a reply that closes (checked below).
  bool overflow = false;
  for (const Req& r : h.reqs) overflow = overflow || (plan.slow && r.push_failed && !r.head);
  const bool waited = plan.end == End::kWait && !overflow;
  if (waited) CHECK(client.ended && !client.reset && !client.write_failed, "the client's end");
  if (std::getenv("FUZZ_HTTP_SERVER_DEBUG") != nullptr)
    std::fprintf(stderr,
                 "%s\ninput: %s\noutput: %s\n%zu requests handed on; the parser finds %zu\n",
                 g_ctx.plan.c_str(), fuzz::escaped(in).c_str(), fuzz::escaped(client.out).c_str(),
                 h.reqs.size(), shadow.requests);
  ReadResult rr = read_responses(client.out, client.ended, h);

  size_t k = 0;  // handler replies on the wire
  bool error_seen = false;
  int error_status = 0;
  for (size_t x = 0; x < rr.resps.size(); ++x) {
    const Resp& r = rr.resps[x];
    const bool last = x + 1 == rr.resps.size();
    if (r.status == 0) continue;  // a head cut short
    if (r.interim) {
      if (!last) {
        const Resp& next = rr.resps[x + 1];
        CHECK(!next.interim, "two 100 Continue in a row");
        if (next.seq >= 0 && next.status != 0)
          CHECK(h.reqs[static_cast<size_t>(next.seq)].expect,
                "100 Continue before the reply to a request without Expect");
      } else if (waited) {
        CHECK(shadow.end == Shadow::End::kPartial,
              "100 Continue, then nothing, though the request was complete");
      }
      continue;
    }
    if (r.seq < 0 && r.status == 409) {
      // A refused second stream: the reply to request k, whose open_stream
      // returned null while the connection was open.
      CHECK(k < h.reqs.size() && h.reqs[k].second_stream, "a 409 to a request that did not ask");
      ++k;
      continue;
    }
    if (r.seq < 0) {
      CHECK(last, "a response after a transport error");
      error_seen = true;
      error_status = r.status;
      continue;
    }
    const size_t i = static_cast<size_t>(r.seq);
    CHECK(i == k, "replies out of order, repeated or missing: got seq " + std::to_string(i) +
                      ", expected " + std::to_string(k) + ")");
    ++k;
    const Req& q = h.reqs[i];
    if (closes(i)) {
      CHECK(last, "a response after one that closes");
      if (!(q.stream && !q.http10 && !q.head))
        CHECK(r.close, "a reply that closes without Connection: close");
    }
    if (r.close) {
      CHECK(last, "a response after Connection: close");
      CHECK(closes(i) || (q.after_shutdown && i + 1 == n),
            "Connection: close on reply " + std::to_string(i) + " of " + std::to_string(n) +
                ", which neither closes nor is the last request after the client's EOF");
    } else if (q.http10) {
      CHECK(r.keep_alive, "HTTP/1.0 keep-alive reply without keep-alive");
    }
  }
  CHECK(k <= k_exp, "replies after one that closes");

  // A half-close cuts no reply owed, even with a request left unfinished
  // (that one is dropped); a stream ends with it.
  const bool exact = waited || (plan.end == End::kShutdown && !any_stream);
  if (exact) {
    CHECK(!rr.truncated, "a response cut short");
    CHECK(k == k_exp, std::to_string(k) + " replies on the wire, expected " +
                          std::to_string(k_exp) + " of " + std::to_string(n) +
                          " requests handed on");
  }
  if (waited) {
    for (const Req& r : h.reqs) CHECK(!r.on_close_ran, "on_close ran");
    for (size_t i = 0; i < n; ++i) {
      const Req& r = h.reqs[i];
      if ((r.stream_null && !r.second_stream) || (r.push_failed && !r.head))
        CHECK(j < i, "a stream refused though no reply closed before it");
    }
    if (j == n) {
      CHECK(shadow.end != Shadow::End::kClosed, "the parser closes, no reply does");
      CHECK(n == shadow.requests, std::to_string(n) + " requests handed on, the parser finds " +
                                      std::to_string(shadow.requests));
      CHECK(error_seen == (shadow.end == Shadow::End::kError),
            "transport error on the wire: " + std::to_string(error_seen));
      if (error_seen) CHECK(error_status == shadow.error, "the status of the transport error");
    } else {
      CHECK(!error_seen, "a transport error after a reply that closes");
    }
  }
  (void)closed_at_end;
  return 0;
}
