#include "support/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

namespace ticketq::test {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

int connect_loopback(int port, int64_t deadline, std::string* error) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (rc != 0 && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    int wait = static_cast<int>(std::max<int64_t>(0, deadline - now_ms()));
    if (poll(&p, 1, wait) != 1) {
      *error = "connect: timeout";
      ::close(fd);
      return -1;
    }
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    rc = err == 0 ? 0 : -1;
    errno = err;
  }
  if (rc != 0) {
    *error = std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Sends everything before the deadline; false on error or timeout.
bool send_all(int fd, std::string_view bytes, int64_t deadline, std::string* error) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      int wait = static_cast<int>(std::max<int64_t>(0, deadline - now_ms()));
      if (wait == 0 || poll(&p, 1, wait) != 1) {
        *error = "send: timeout";
        return false;
      }
      continue;
    }
    *error = std::string("send: ") + std::strerror(errno);
    return false;
  }
  return true;
}

// Reads what is available, waiting until the deadline for something.
// Returns bytes read, 0 on EOF, -1 on error, -2 on timeout.
ssize_t recv_some(int fd, std::string* into, int64_t deadline, std::string* error) {
  char buf[16384];
  while (true) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      into->append(buf, static_cast<size_t>(n));
      return n;
    }
    if (n == 0) return 0;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      *error = std::string("recv: ") + std::strerror(errno);
      return -1;
    }
    pollfd p{fd, POLLIN, 0};
    int wait = static_cast<int>(std::max<int64_t>(0, deadline - now_ms()));
    if (wait == 0) return -2;
    int rc = poll(&p, 1, wait);
    if (rc == 0) return -2;
    if (rc < 0 && errno != EINTR) {
      *error = std::string("poll: ") + std::strerror(errno);
      return -1;
    }
  }
}

bool parse_size(std::string_view s, int base, size_t* out) {
  s = trim(s);
  if (s.empty() || s.size() > 15) return false;
  size_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (base == 16 && c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (base == 16 && c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      return false;
    v = v * static_cast<size_t>(base) + static_cast<size_t>(d);
  }
  *out = v;
  return true;
}

}  // namespace

// ----------------------------------------------------------------- response --

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return v;
  return std::nullopt;
}

size_t HttpResponse::header_count(std::string_view name) const {
  size_t n = 0;
  for (const auto& [k, v] : headers) n += iequals(k, name) ? 1 : 0;
  return n;
}

std::string HttpResponse::describe() const {
  std::ostringstream os;
  if (status == 0) {
    os << "no response (" << error << ")";
    return os.str();
  }
  os << status << " " << reason;
  for (const auto& [k, v] : headers) os << " | " << k << ": " << v;
  os << " | body: " << (body.size() > 600 ? body.substr(0, 600) + "..." : body);
  return os.str();
}

ParseResult parse_response(std::string_view buf, bool eof, bool head, HttpResponse* out,
                           size_t* consumed) {
  size_t start = 0;
  while (true) {  // skips interim 1xx responses
    std::string_view rest = buf.substr(start);
    size_t end = rest.find("\r\n\r\n");
    if (end == std::string_view::npos)
      return eof || rest.size() > (1u << 20) ? ParseResult::kError : ParseResult::kNeedMore;
    std::string_view head_block = rest.substr(0, end);
    size_t body_start = start + end + 4;

    HttpResponse r;
    size_t line_end = head_block.find("\r\n");
    std::string_view status_line = head_block.substr(0, line_end);
    if (!status_line.starts_with("HTTP/1.") || status_line.size() < 12) return ParseResult::kError;
    r.version = std::string(status_line.substr(0, 8));
    size_t code = 0;
    if (!parse_size(status_line.substr(9, 3), 10, &code)) return ParseResult::kError;
    r.status = static_cast<int>(code);
    r.reason = status_line.size() > 13 ? std::string(status_line.substr(13)) : "";
    std::string_view lines =
        line_end == std::string_view::npos ? std::string_view() : head_block.substr(line_end + 2);
    while (!lines.empty()) {
      size_t e = lines.find("\r\n");
      std::string_view line = lines.substr(0, e);
      lines = e == std::string_view::npos ? std::string_view() : lines.substr(e + 2);
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) return ParseResult::kError;
      r.headers.emplace_back(std::string(trim(line.substr(0, colon))),
                             std::string(trim(line.substr(colon + 1))));
    }
    if (r.status >= 100 && r.status < 200) {
      start = body_start;
      continue;
    }

    auto connection = r.header("Connection");
    bool close = connection && lower(*connection).find("close") != std::string::npos;
    bool keep = connection && lower(*connection).find("keep-alive") != std::string::npos;
    r.keep_alive = r.version == "HTTP/1.1" ? !close : keep;

    std::string_view body_part = buf.substr(body_start);
    auto te = r.header("Transfer-Encoding");
    auto cl = r.header("Content-Length");
    if (head || r.status == 204 || r.status == 304) {
      *consumed = body_start;
    } else if (te && lower(*te).find("chunked") != std::string::npos) {
      size_t pos = 0;
      std::string body;
      while (true) {
        size_t e = body_part.find("\r\n", pos);
        if (e == std::string_view::npos) return eof ? ParseResult::kError : ParseResult::kNeedMore;
        std::string_view size_line = body_part.substr(pos, e - pos);
        size_line = size_line.substr(0, size_line.find(';'));
        size_t n = 0;
        if (!parse_size(size_line, 16, &n)) return ParseResult::kError;
        pos = e + 2;
        if (n == 0) {
          // Trailers (ignored) up to an empty line.
          while (true) {
            size_t t = body_part.find("\r\n", pos);
            if (t == std::string_view::npos)
              return eof ? ParseResult::kError : ParseResult::kNeedMore;
            bool empty = t == pos;
            pos = t + 2;
            if (empty) break;
          }
          break;
        }
        if (body_part.size() < pos + n + 2)
          return eof ? ParseResult::kError : ParseResult::kNeedMore;
        body.append(body_part.substr(pos, n));
        if (body_part.substr(pos + n, 2) != "\r\n") return ParseResult::kError;
        pos += n + 2;
      }
      r.body = std::move(body);
      *consumed = body_start + pos;
    } else if (cl) {
      size_t n = 0;
      if (!parse_size(*cl, 10, &n)) return ParseResult::kError;
      if (body_part.size() < n) return eof ? ParseResult::kError : ParseResult::kNeedMore;
      r.body = std::string(body_part.substr(0, n));
      *consumed = body_start + n;
    } else {
      if (!eof) return ParseResult::kNeedMore;  // close-delimited
      r.body = std::string(body_part);
      r.keep_alive = false;
      *consumed = buf.size();
    }
    if (!r.body.empty()) r.json = nlohmann::json::parse(r.body, nullptr, false);
    *out = std::move(r);
    return ParseResult::kDone;
  }
}

std::string build_request(const std::string& method, const std::string& target,
                          const std::string& body, const Headers& headers, int port) {
  bool has_host = false, framed = false;
  for (const auto& [k, v] : headers) {
    has_host = has_host || iequals(k, "Host");
    framed = framed || iequals(k, "Content-Length") || iequals(k, "Transfer-Encoding");
  }
  std::string out = method + " " + target + " HTTP/1.1\r\n";
  if (!has_host) out += "Host: 127.0.0.1" + (port > 0 ? ":" + std::to_string(port) : "") + "\r\n";
  for (const auto& [k, v] : headers) out += k + ": " + v + "\r\n";
  if (!framed && (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH"))
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "\r\n";
  out += body;
  return out;
}

// ------------------------------------------------------------------- client --

HttpClient::HttpClient(int port, Millis timeout) : port_(port), timeout_(timeout) {}

HttpClient::~HttpClient() {
  close();
}

HttpClient::HttpClient(HttpClient&& other) noexcept
    : port_(other.port_),
      timeout_(other.timeout_),
      fd_(other.fd_),
      connects_(other.connects_),
      pending_(std::move(other.pending_)) {
  other.fd_ = -1;
}

void HttpClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  pending_.clear();
}

bool HttpClient::open(std::string* error) {
  if (fd_ >= 0) return true;
  fd_ = connect_loopback(port_, now_ms() + timeout_.count(), error);
  if (fd_ >= 0) ++connects_;
  pending_.clear();
  return fd_ >= 0;
}

HttpResponse HttpClient::request(const std::string& method, const std::string& target,
                                 const std::string& body, const Headers& headers) {
  std::string bytes = build_request(method, target, body, headers, port_);
  int64_t started = now_ms();
  int64_t deadline = started + timeout_.count();
  bool head = method == "HEAD";
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool reused = fd_ >= 0;
    HttpResponse r;
    if (!open(&r.error)) return r;
    bool retryable = false;
    r = exchange(bytes, head, deadline, &retryable);
    r.elapsed_ms = now_ms() - started;
    if (r.status != 0 && r.keep_alive) return r;
    close();
    if (r.status != 0 || !(reused && retryable)) return r;
  }
  HttpResponse r;
  r.error = "connection closed twice before a response";
  return r;
}

HttpResponse HttpClient::exchange(const std::string& bytes, bool head, int64_t deadline,
                                  bool* retryable) {
  HttpResponse r;
  std::string error;
  if (!send_all(fd_, bytes, deadline, &error)) {
    r.error = error;
    *retryable = true;  // nothing came back: the connection was already gone
    return r;
  }
  std::string buf = std::move(pending_);
  pending_.clear();
  bool eof = false;
  while (true) {
    size_t consumed = 0;
    if (!buf.empty() || eof) {
      ParseResult pr = parse_response(buf, eof, head, &r, &consumed);
      if (pr == ParseResult::kDone) {
        pending_ = buf.substr(consumed);
        return r;
      }
      if (pr == ParseResult::kError) {
        r = HttpResponse{};
        r.error = buf.empty() ? "connection closed without a response"
                              : "malformed response: " + buf.substr(0, 200);
        *retryable = buf.empty();
        return r;
      }
    }
    ssize_t n = recv_some(fd_, &buf, deadline, &error);
    if (n == 0) eof = true;
    if (n == -1) {
      r.error = error;
      *retryable = buf.empty();
      return r;
    }
    if (n == -2) {
      r.error = "timeout waiting for the response";
      return r;
    }
  }
}

// ---------------------------------------------------------------------- raw --

RawResult raw_exchange(int port, std::string_view bytes, Millis timeout, bool stop_after_first) {
  RawResult out;
  int64_t deadline = now_ms() + timeout.count();
  int fd = connect_loopback(port, deadline, &out.error);
  if (fd < 0) return out;
  std::string error;
  send_all(fd, bytes, deadline, &error);  // the server may close early: read what it said
  while (true) {
    if (stop_after_first) {
      HttpResponse r;
      size_t consumed = 0;
      if (parse_response(out.data, out.peer_closed, false, &r, &consumed) == ParseResult::kDone) {
        out.first = std::move(r);
        break;
      }
    }
    if (out.peer_closed) break;
    ssize_t n = recv_some(fd, &out.data, deadline, &error);
    if (n == 0 || n == -1) out.peer_closed = true;
    if (n == -2) {
      out.timed_out = true;
      break;
    }
  }
  if (!out.first) {
    HttpResponse r;
    size_t consumed = 0;
    if (parse_response(out.data, true, false, &r, &consumed) == ParseResult::kDone)
      out.first = std::move(r);
  }
  ::close(fd);
  return out;
}

}  // namespace ticketq::test
