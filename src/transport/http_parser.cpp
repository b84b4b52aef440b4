#include "transport/http_parser.h"

#include <llhttp.h>

#include <algorithm>
#include <cstring>

namespace ticketq {

namespace {

// RFC 9110 5.6.2 tchar.
bool is_tchar(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c != '\0' &&
          std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos);
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// The methods ticketq knows: those it serves, and PATCH and TRACE, which
// get a 405 with the methods a route allows. Any other is 501 (llhttp knows
// 46, CONNECT among them, whose authority-form target no route has).
constexpr std::string_view kMethods[] = {"GET",    "HEAD",    "POST",  "PUT",
                                         "DELETE", "OPTIONS", "PATCH", "TRACE"};
constexpr size_t kLongestMethod = 7;

std::string_view known_method(std::string_view m) {
  for (std::string_view k : kMethods)
    if (k == m) return k;
  return {};
}

std::string_view method_of(uint8_t llhttp_method) {
  switch (llhttp_method) {
    case HTTP_GET:
      return kMethods[0];
    case HTTP_HEAD:
      return kMethods[1];
    case HTTP_POST:
      return kMethods[2];
    case HTTP_PUT:
      return kMethods[3];
    case HTTP_DELETE:
      return kMethods[4];
    case HTTP_OPTIONS:
      return kMethods[5];
    case HTTP_PATCH:
      return kMethods[6];
    case HTTP_TRACE:
      return kMethods[7];
    default:
      return {};
  }
}

constexpr std::string_view kProtocol = "HTTP/";

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::optional<std::string_view> ParsedRequest::header(std::string_view name) const {
  for (const HttpHeader& h : headers)
    if (iequals(h.name, name)) return h.value;
  return std::nullopt;
}

// llhttp's callbacks. Data callbacks (spans) may be called with any piece
// of their span, depending on how the input was split, so they only copy and
// never fail; every check sits in a notification, which llhttp calls at the
// same byte whatever the split.
struct RequestParser::Callbacks {
  static RequestParser& self(llhttp_t* p) { return *static_cast<RequestParser*>(p->data); }

  static int fail(llhttp_t* p, int status, const char* reason) {
    self(p).fail(status, reason);
    return -1;
  }

  static int on_method_complete(llhttp_t* p) {
    // The scanner let only known methods through; this keeps it honest.
    if (method_of(p->method).empty()) return fail(p, 501, "method not implemented");
    return 0;
  }

  static int on_url(llhttp_t* p, const char* at, size_t len) {
    self(p).head_.append(at, len);
    return 0;
  }

  // Turns the target into origin-form (kept as offsets into head_, which
  // grows until the headers are complete).
  static int on_url_complete(llhttp_t* p) {
    RequestParser& s = self(p);
    std::string_view t = s.head_;
    if (t.empty()) return fail(p, 400, "invalid request target");
    if (t.find('#') != std::string_view::npos) return fail(p, 400, "fragment in request target");
    s.target_off_ = 0;
    s.target_end_ = t.size();
    if (t[0] == '/') return 0;
    if (t == "*") {
      if (p->method != HTTP_OPTIONS) return fail(p, 400, "asterisk-form target without OPTIONS");
      return 0;
    }
    // absolute-form: http(s)://authority[/path][?query]
    size_t colon = t.find("://");
    if (colon == std::string_view::npos) return fail(p, 400, "invalid request target");
    std::string_view scheme = t.substr(0, colon);
    if (!iequals(scheme, "http") && !iequals(scheme, "https"))
      return fail(p, 400, "unsupported scheme in request target");
    size_t auth = colon + 3;
    size_t end = t.find_first_of("/?", auth);
    if (end == std::string_view::npos) end = t.size();
    std::string_view authority = t.substr(auth, end - auth);
    if (authority.empty() || authority.find('@') != std::string_view::npos)
      return fail(p, 400, "invalid authority in request target");
    if (end < t.size() && t[end] == '/') {
      s.target_off_ = end;
    } else {
      // No path: "/" in place of the authority's last byte, which is not
      // needed any more ("http://h?q" -> "/?q").
      s.head_[end - 1] = '/';
      s.target_off_ = end - 1;
    }
    return 0;
  }

  static int on_version_complete(llhttp_t* p) {
    // The scanner let only 1.0 and 1.1 through.
    if (p->http_major != 1 || p->http_minor > 1) return fail(p, 505, "HTTP version not supported");
    return 0;
  }

  static int on_header_field(llhttp_t* p, const char* at, size_t len) {
    RequestParser& s = self(p);
    if (s.phase_ != Phase::kHead) return 0;  // a trailer: dropped
    if (!s.field_open_) {
      s.fields_.push_back({s.head_.size(), 0, 0, 0});
      s.field_open_ = true;
    }
    s.head_.append(at, len);
    s.fields_.back().name_len += len;
    return 0;
  }

  static int on_header_field_complete(llhttp_t* p) {
    RequestParser& s = self(p);
    if (s.phase_ != Phase::kHead) return 0;
    if (!s.field_open_) s.fields_.push_back({s.head_.size(), 0, 0, 0});
    s.field_open_ = false;
    Field& f = s.fields_.back();
    f.value_off = s.head_.size();
    if (s.fields_.size() > s.limits_.max_headers) return fail(p, 431, "too many header fields");
    if (f.name_len == 0) return fail(p, 400, "empty header name");
    std::string_view name(s.head_.data() + f.name_off, f.name_len);
    s.kind_ = Kind::kOther;
    if (iequals(name, "content-length")) {
      s.kind_ = Kind::kContentLength;
      ++s.content_lengths_;
    } else if (iequals(name, "transfer-encoding")) {
      s.kind_ = Kind::kTransferEncoding;
    } else if (iequals(name, "expect")) {
      s.kind_ = Kind::kExpect;
    }
    return 0;
  }

  static int on_header_value(llhttp_t* p, const char* at, size_t len) {
    RequestParser& s = self(p);
    if (s.phase_ != Phase::kHead) return 0;
    s.head_.append(at, len);
    s.fields_.back().value_len += len;
    return 0;
  }

  static int on_header_value_complete(llhttp_t* p) {
    RequestParser& s = self(p);
    if (s.phase_ != Phase::kHead) return 0;
    Field& f = s.fields_.back();
    // llhttp drops the leading white space, not the trailing (RFC 9110 5.5:
    // neither is part of the value).
    while (f.value_len > 0 && (s.head_[f.value_off + f.value_len - 1] == ' ' ||
                               s.head_[f.value_off + f.value_len - 1] == '\t'))
      --f.value_len;
    std::string_view value(s.head_.data() + f.value_off, f.value_len);
    switch (s.kind_) {
      case Kind::kTransferEncoding:
        // Only a single "chunked": a list, a repeat or any other coding
        // leaves the body's length to interpretation (RFC 9112 6.3).
        if (++s.transfer_encodings_ > 1) return fail(p, 400, "repeated Transfer-Encoding");
        if (!iequals(value, "chunked")) return fail(p, 400, "unsupported Transfer-Encoding");
        break;
      case Kind::kExpect:
        if (iequals(value, "100-continue")) s.expect_continue_ = true;
        break;
      default:
        break;
    }
    return 0;
  }

  static int on_headers_complete(llhttp_t* p) {
    RequestParser& s = self(p);
    ParsedRequest& r = s.request_;
    // ticketq speaks no other protocol: "Upgrade" is ignored and the
    // connection stays HTTP/1.1 (llhttp would stop with HPE_PAUSED_UPGRADE).
    p->upgrade = 0;
    r.method = method_of(p->method);
    r.http_major = p->http_major;
    r.http_minor = p->http_minor;
    r.chunked = (p->flags & F_CHUNKED) != 0;
    if (s.transfer_encodings_ > 0 && r.http_minor == 0)
      return fail(p, 400, "Transfer-Encoding in an HTTP/1.0 request");
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > s.limits_.max_body_bytes)
      return fail(p, 413, "request body too large");
    bool close = (p->flags & F_CONNECTION_CLOSE) != 0;
    r.keep_alive = !close && (r.http_minor == 1 || (p->flags & F_CONNECTION_KEEP_ALIVE));
    r.target = std::string_view(s.head_).substr(s.target_off_, s.target_end_ - s.target_off_);
    r.headers.clear();
    for (const Field& f : s.fields_)
      r.headers.push_back({std::string_view(s.head_.data() + f.name_off, f.name_len),
                           std::string_view(s.head_.data() + f.value_off, f.value_len)});
    if (p->flags & F_CONTENT_LENGTH) r.body.reserve(p->content_length);
    s.phase_ = Phase::kBody;
    return 0;
  }

  static int on_body(llhttp_t* p, const char* at, size_t len) {
    self(p).request_.body.append(at, len);
    return 0;
  }

  static int on_chunk_header(llhttp_t* p) {
    RequestParser& s = self(p);
    if (p->content_length > s.limits_.max_body_bytes - s.request_.body.size())
      return fail(p, 413, "request body too large");
    if (p->content_length == 0) {
      // The last chunk: pause so that the scanner starts on the trailers.
      s.phase_ = Phase::kTrailer;
      s.scan_ = Scan::kLineStart;
      return HPE_PAUSED;
    }
    return 0;
  }

  static int on_message_complete(llhttp_t* p) {
    self(p).complete_ = true;
    return HPE_PAUSED;  // one request at a time
  }

  static const llhttp_settings_t& settings() {
    static const llhttp_settings_t s = [] {
      llhttp_settings_t x;
      llhttp_settings_init(&x);
      x.on_method_complete = on_method_complete;
      x.on_url = on_url;
      x.on_url_complete = on_url_complete;
      x.on_version_complete = on_version_complete;
      x.on_header_field = on_header_field;
      x.on_header_field_complete = on_header_field_complete;
      x.on_header_value = on_header_value;
      x.on_header_value_complete = on_header_value_complete;
      x.on_headers_complete = on_headers_complete;
      x.on_body = on_body;
      x.on_chunk_header = on_chunk_header;
      x.on_message_complete = on_message_complete;
      return x;
    }();
    return s;
  }
};

RequestParser::RequestParser(ParserLimits limits)
    : limits_(limits), llhttp_(std::make_unique<llhttp_t>()) {
  reset();
}

RequestParser::~RequestParser() = default;

void RequestParser::reset() {
  llhttp_init(llhttp_.get(), HTTP_REQUEST, &Callbacks::settings());
  llhttp_->data = this;
  state_ = State::kNeedMore;
  error_ = {};
  clear_message();
}

void RequestParser::clear_message() {
  phase_ = Phase::kHead;
  scan_ = Scan::kLead;
  head_bytes_ = 0;
  body_wire_ = 0;
  target_len_ = 0;
  proto_i_ = 0;
  major_ = 0;
  method_len_ = 0;
  head_.clear();
  target_off_ = target_end_ = 0;
  fields_.clear();
  field_open_ = false;
  kind_ = Kind::kOther;
  content_lengths_ = transfer_encodings_ = 0;
  expect_continue_ = false;
  complete_ = false;
  pending_ = {};
  request_.method = {};
  request_.target = {};
  request_.http_major = 1;
  request_.http_minor = 1;
  request_.headers.clear();
  request_.body.clear();
  request_.keep_alive = true;
  request_.chunked = false;
}

void RequestParser::next() {
  if (state_ != State::kRequest) return;
  if (!request_.keep_alive) {
    // llhttp would refuse any byte but CR/LF after this request; the
    // connection is done.
    state_ = State::kClosed;
    return;
  }
  clear_message();
  llhttp_resume(llhttp_.get());
  state_ = State::kNeedMore;
}

bool RequestParser::expects_continue() const {
  return state_ == State::kNeedMore && phase_ == Phase::kBody && expect_continue_ &&
         request_.http_minor == 1;
}

bool RequestParser::idle() const {
  return state_ == State::kNeedMore && phase_ == Phase::kHead && head_bytes_ == 0;
}

size_t RequestParser::refuse(size_t at, int status, const char* reason) {
  pending_ = {status, reason};
  return at;
}

void RequestParser::fail(int status, const char* reason) {
  if (error_.status != 0) return;  // the first reason stands
  error_ = {status, reason};
  state_ = State::kError;
}

// The request line up to its first SP, one byte at a time: llhttp does not
// see the method until it is known to be one ticketq serves, so that an
// unknown one is 501 and a malformed one 400 at the same byte however the
// input is split.
void RequestParser::step_method(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  switch (scan_) {
    case Scan::kLead:  // RFC 9112 2.2: empty lines (CRLF) before a request
      if (c == '\r') {
        scan_ = Scan::kLeadLF;
      } else if (is_tchar(u)) {
        method_buf_[0] = c;
        method_len_ = 1;
        scan_ = Scan::kMethod;
      } else if (c == '\n') {
        fail(400, "bare CR or LF in request");
      } else if (c == '\0') {
        fail(400, "NUL byte in request");
      } else {
        fail(400, "malformed request line");
      }
      return;
    case Scan::kLeadLF:
      if (c == '\n')
        scan_ = Scan::kLead;
      else
        fail(400, "bare CR or LF in request");
      return;
    case Scan::kMethod:
      if (is_tchar(u)) {
        // Longer than any known method: remember only that it is unknown.
        if (method_len_ <= kLongestMethod) method_buf_[method_len_++] = c;
        return;
      }
      if (c != ' ') {
        fail(400, c == '\0' ? "NUL byte in request" : "malformed request line");
        return;
      }
      if (method_len_ > kLongestMethod ||
          known_method(std::string_view(method_buf_, method_len_)).empty()) {
        fail(501, "method not implemented");
        return;
      }
      method_buf_[method_len_] = ' ';
      scan_ = Scan::kTargetStart;
      execute(method_buf_, method_len_ + 1u);
      return;
    default:
      return;
  }
}

// Runs ahead of llhttp over the rest of the head (or the trailers): returns
// how many bytes of `s` llhttp may parse. Stops after the empty line that
// ends the section (scan_ == kDone) or at the first refused byte, whose error
// waits in pending_ until llhttp has seen the bytes before it (an error
// llhttp finds there comes first).
size_t RequestParser::scan(std::string_view s) {
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    char c = s[i];
    switch (scan_) {
      case Scan::kTargetStart:
        if (c == ' ' || c == '\r' || c == '\n') return refuse(i, 400, "malformed request line");
        [[fallthrough]];
      case Scan::kTarget:
        scan_ = Scan::kTarget;
        for (; i < n; ++i) {
          c = s[i];
          if (c == ' ' || c == '\r' || c == '\n' || c == '\0') break;
          if (++target_len_ > limits_.max_target_bytes)
            return refuse(i, 414, "request target too long");
        }
        if (i == n) return n;
        if (c == '\0') return refuse(i, 400, "NUL byte in request");
        if (c != ' ') return refuse(i, 400, "request line without HTTP version");
        scan_ = Scan::kProto;
        proto_i_ = 0;
        break;
      case Scan::kProto:
        if (c != kProtocol[proto_i_]) return refuse(i, 400, "malformed request line");
        if (++proto_i_ == kProtocol.size()) scan_ = Scan::kMajor;
        break;
      case Scan::kMajor:
        if (c < '0' || c > '9') return refuse(i, 400, "malformed request line");
        major_ = static_cast<unsigned char>(c - '0');
        scan_ = Scan::kDot;
        break;
      case Scan::kDot:
        if (c != '.') return refuse(i, 400, "malformed request line");
        scan_ = Scan::kMinor;
        break;
      case Scan::kMinor:
        if (c < '0' || c > '9') return refuse(i, 400, "malformed request line");
        if (major_ != 1 || c > '1') return refuse(i, 505, "HTTP version not supported");
        scan_ = Scan::kLineCR;
        break;
      case Scan::kLineCR:
        if (c == '\n') return refuse(i, 400, "bare CR or LF in request");
        if (c != '\r') return refuse(i, 400, "malformed request line");
        scan_ = Scan::kLineLF;
        break;
      case Scan::kLineLF:
        if (c != '\n') return refuse(i, 400, "bare CR or LF in request");
        scan_ = Scan::kLineStart;
        break;
      case Scan::kLineStart:
        if (c == '\r') {
          scan_ = Scan::kEndLF;
          break;
        }
        // RFC 9112 5.2 obs-fold, or white space before the first field name.
        if (c == ' ' || c == '\t') return refuse(i, 400, "whitespace at start of header line");
        scan_ = Scan::kHeader;
        [[fallthrough]];
      case Scan::kHeader:
        for (; i < n; ++i) {
          c = s[i];
          if (c == '\r' || c == '\n' || c == '\0') break;
        }
        if (i == n) return n;
        if (c == '\0') return refuse(i, 400, "NUL byte in request");
        if (c == '\n') return refuse(i, 400, "bare CR or LF in request");
        scan_ = Scan::kLineLF;
        break;
      case Scan::kEndLF:
        if (c != '\n') return refuse(i, 400, "bare CR or LF in request");
        scan_ = Scan::kDone;
        return i + 1;
      default:  // kLead, kLeadLF, kMethod (step_method), kDone
        return i;
    }
    ++i;
  }
  return n;
}

// Runs llhttp over bytes the scanner accepted; returns how many it took.
size_t RequestParser::execute(const char* data, size_t len) {
  if (len == 0 || state_ != State::kNeedMore) return 0;
  llhttp_t* p = llhttp_.get();
  llhttp_errno_t err = llhttp_execute(p, data, len);
  if (err == HPE_OK) return len;
  const char* pos = llhttp_get_error_pos(p);
  size_t used = pos != nullptr && pos >= data && pos <= data + len ? pos - data : len;
  if (err == HPE_PAUSED && error_.status == 0) {
    if (complete_) {
      state_ = State::kRequest;  // next() resumes llhttp
    } else {
      llhttp_resume(p);  // the last chunk: the trailers follow
    }
    return used;
  }
  if (error_.status == 0) map_llhttp_error(err);
  return used;
}

void RequestParser::map_llhttp_error(int err) {
  const char* why = llhttp_get_error_reason(llhttp_.get());
  auto is = [why](const char* text) { return why != nullptr && std::strcmp(why, text) == 0; };
  switch (err) {
    case HPE_INVALID_CONTENT_LENGTH:
      if (is("Content-Length overflow")) return fail(413, "request body too large");
      return fail(400, "invalid Content-Length");
    case HPE_UNEXPECTED_CONTENT_LENGTH:
      if (phase_ == Phase::kHead && content_lengths_ == 1 && transfer_encodings_ > 0)
        return fail(400, "Content-Length with Transfer-Encoding");
      return fail(400, "repeated Content-Length");
    case HPE_INVALID_TRANSFER_ENCODING:
      return fail(400, "unsupported Transfer-Encoding");
    case HPE_INVALID_CHUNK_SIZE:
      if (is("Chunk size overflow")) return fail(413, "request body too large");
      return fail(400, "invalid chunk size");
    case HPE_STRICT:
    case HPE_LF_EXPECTED:
    case HPE_CR_EXPECTED:
      return fail(400, phase_ == Phase::kHead ? "malformed request" : "malformed chunked body");
    case HPE_INVALID_HEADER_TOKEN:
      return fail(400, "invalid header field");
    case HPE_UNEXPECTED_SPACE:
      return fail(400, "whitespace at start of header line");
    case HPE_INVALID_URL:
      return fail(400, "invalid request target");
    case HPE_INVALID_METHOD:
    case HPE_INVALID_CONSTANT:
    case HPE_INVALID_VERSION:
      return fail(400, "malformed request line");
    default:
      return fail(400, "malformed request");
  }
}

size_t RequestParser::feed(std::string_view bytes) {
  size_t used = 0;
  while (state_ == State::kNeedMore && used < bytes.size()) {
    const char* at = bytes.data() + used;
    const size_t avail = bytes.size() - used;
    size_t took = 0;
    if (phase_ == Phase::kHead) {
      const size_t room = limits_.max_header_bytes - head_bytes_;
      if (room == 0) {
        fail(431, "request header section too large");
        break;
      }
      if (scan_ == Scan::kLead || scan_ == Scan::kLeadLF || scan_ == Scan::kMethod) {
        ++used;
        ++head_bytes_;
        step_method(*at);
        continue;
      }
      size_t ok = scan(std::string_view(at, std::min(avail, room)));
      took = execute(at, ok);
      used += took;
      head_bytes_ += took;
    } else {
      const size_t room = limits_.max_body_bytes + limits_.max_header_bytes - body_wire_;
      if (room == 0) {
        fail(413, "chunked body too large");
        break;
      }
      size_t ok = std::min(avail, room);
      if (phase_ == Phase::kTrailer) ok = scan(std::string_view(at, ok));
      took = execute(at, ok);
      used += took;
      body_wire_ += took;
    }
    if (state_ != State::kNeedMore) break;
    if (pending_.status != 0) {
      fail(pending_.status, pending_.reason);
      break;
    }
    // The scanner saw the end of the head or trailers; llhttp must agree.
    if (scan_ == Scan::kDone && phase_ != Phase::kBody) {
      fail(400, phase_ == Phase::kHead ? "malformed request" : "malformed chunked body");
      break;
    }
    if (took == 0) {  // no progress: never expected, never loop on it
      fail(400, "malformed request");
      break;
    }
  }
  return used;
}

}  // namespace ticketq
