#include "support/sse_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ticketq::test {

namespace {

bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

SseClient::SseClient(int port, const std::string& target, const Headers& headers, Millis timeout) {
  const int64_t deadline = now_ms() + timeout.count();
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    head_.error = std::string("connect: ") + std::strerror(errno);
    return;
  }
  if (!send_all(fd_, build_request("GET", target, "", headers, port))) {
    head_.error = "send failed";
    return;
  }
  // The head; and, for an answer that is not a stream, its whole body.
  while (true) {
    size_t end = raw_.find("\r\n\r\n");
    if (end != std::string::npos) {
      std::string_view head_text(raw_.data(), end + 4);
      HttpResponse probe;
      size_t used = 0;
      // Parse the head alone (as the answer to a HEAD) for its fields.
      if (parse_response(head_text, false, true, &probe, &used) != ParseResult::kDone) {
        head_.error = "garbled head: " + std::string(head_text);
        return;
      }
      auto type = probe.header("Content-Type");
      streaming_ = probe.status == 200 && type && type->rfind("text/event-stream", 0) == 0;
      if (streaming_) {
        head_ = std::move(probe);
        auto te = head_.header("Transfer-Encoding");
        chunked_ = te && *te == "chunked";
        raw_.erase(0, end + 4);
        decode();
        return;
      }
      HttpResponse whole;
      if (parse_response(raw_, closed_, false, &whole, &used) == ParseResult::kDone) {
        head_ = std::move(whole);
        return;
      }
    }
    if (!read_more(deadline)) {
      if (closed_ && end != std::string::npos) continue;  // a close-delimited body ended
      head_.error = closed_ ? "closed before the head" : "timed out waiting for the head";
      return;
    }
  }
}

SseClient::~SseClient() {
  close();
}

void SseClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool SseClient::read_more(int64_t deadline) {
  if (fd_ < 0 || closed_) return false;
  while (true) {
    int64_t left = deadline - now_ms();
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    char buf[16384];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      closed_ = true;
      ended_ = true;
      return false;
    }
    raw_.append(buf, static_cast<size_t>(n));
    return true;
  }
}

void SseClient::decode() {
  if (!chunked_) {
    text_ += raw_;
    raw_.clear();
    return;
  }
  while (true) {
    size_t line_end = raw_.find("\r\n");
    if (line_end == std::string::npos) return;
    size_t size = std::strtoul(raw_.substr(0, line_end).c_str(), nullptr, 16);
    if (size == 0) {  // the last chunk
      ended_ = true;
      raw_.clear();
      return;
    }
    if (raw_.size() < line_end + 2 + size + 2) return;
    text_.append(raw_, line_end + 2, size);
    raw_.erase(0, line_end + 2 + size + 2);
  }
}

std::optional<SseEvent> SseClient::take_event() {
  while (true) {
    size_t end = text_.find("\n\n");
    if (end == std::string::npos) return std::nullopt;
    std::string block = text_.substr(0, end + 1);
    text_.erase(0, end + 2);
    SseEvent e;
    bool any = false;
    size_t pos = 0;
    while (pos < block.size()) {
      size_t nl = block.find('\n', pos);
      std::string line = block.substr(pos, nl - pos);
      pos = nl + 1;
      if (!line.empty() && line[0] == ':') {
        ++comments_;
        continue;
      }
      size_t colon = line.find(':');
      std::string field = line.substr(0, colon);
      std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
      if (!value.empty() && value[0] == ' ') value.erase(0, 1);
      if (field == "retry") {
        retry_ms_ = std::strtoll(value.c_str(), nullptr, 10);
      } else if (field == "id") {
        e.id = value;
      } else if (field == "event") {
        e.event = value;
        any = true;
      } else if (field == "data") {
        e.data += value;
        any = true;
      }
    }
    if (any) return e;
  }
}

std::optional<SseEvent> SseClient::next(Millis timeout) {
  const int64_t deadline = now_ms() + timeout.count();
  while (true) {
    if (auto e = take_event()) return e;
    if (ended_ || !streaming_) return std::nullopt;
    if (!read_more(deadline)) {
      if (auto e = take_event()) return e;
      return std::nullopt;
    }
    decode();
  }
}

bool SseClient::wait_closed(Millis timeout) {
  const int64_t deadline = now_ms() + timeout.count();
  while (!closed_) {
    if (!read_more(deadline) && !closed_) return false;
    decode();
    while (take_event()) {
    }
  }
  return true;
}

}  // namespace ticketq::test
