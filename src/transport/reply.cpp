#include "transport/reply.h"

#include <spdlog/spdlog.h>

namespace ticketq {

struct Reply::State {
  std::weak_ptr<ReplySink*> sink;
  RequestInfo info;
  bool answered = false;
  std::string headers;  // added by add_header

  State(ReplySink& s, RequestInfo i) : sink(s.self_), info(std::move(i)) { ++s.unanswered_; }
  State(const State&) = delete;
  State& operator=(const State&) = delete;

  // The last copy of the Reply is gone: answer if nobody did.
  ~State() {
    if (answered) return;
    spdlog::error("request {} ({}) was dropped unanswered; answering 503", info.id, info.route);
    deliver(Response{503, "{\"error\":\"the request could not be completed\"}\n"});
  }

  void deliver(Response r) {
    auto s = sink.lock();
    if (answered || s == nullptr) return;
    answered = true;
    --(*s)->unanswered_;
    r.headers += headers;
    (*s)->deliver(info, std::move(r));
  }
};

Reply::Reply(ReplySink& sink, RequestInfo info)
    : state_(std::make_shared<State>(sink, std::move(info))) {}

void Reply::send(Response r) {
  if (state_->answered) {
    spdlog::error("request {} ({}): a second reply ({}) was refused", state_->info.id,
                  state_->info.route, r.code);
    return;
  }
  state_->deliver(std::move(r));
}

void Reply::json(int code, nlohmann::ordered_json body, const char* allow) {
  if (state_->info.seed && code >= 400 && body.is_object() && body.contains("error") &&
      !body.contains("detail"))
    body["detail"] = body["error"];
  std::string text = body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  text += '\n';
  send(Response{code, std::move(text), "application/json", allow});
}

void Reply::json_body(int code, std::string body) {
  body += '\n';
  send(Response{code, std::move(body)});
}

void Reply::error(int code, const std::string& why, const char* allow) {
  json(code, nlohmann::ordered_json{{"error", why}}, allow);
}

StreamHandle Reply::stream(Response head, std::function<void()> on_close) {
  State& st = *state_;
  auto s = st.sink.lock();
  if (st.answered || s == nullptr) {
    spdlog::error("request {} ({}): a stream after its reply was refused", st.info.id,
                  st.info.route);
    return nullptr;
  }
  st.answered = true;
  --(*s)->unanswered_;
  head.headers += st.headers;
  return (*s)->open_stream(st.info, std::move(head), std::move(on_close));
}

void Reply::add_header(std::string_view line) {
  (state_->headers += line) += "\r\n";
}

bool Reply::answered() const {
  return state_->answered;
}

const RequestInfo& Reply::info() const {
  return state_->info;
}

}  // namespace ticketq
