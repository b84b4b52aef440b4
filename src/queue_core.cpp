#include "ticketq/queue_core.h"

#include <spdlog/spdlog.h>

namespace ticketq {

namespace {

// The shape every script reply has: its first `int_count` elements are
// integers (the leading one a code), any further ones strings.
bool well_typed(const std::vector<RedisValue>& e, size_t int_count) {
  for (size_t i = 0; i < e.size(); ++i)
    if (e[i].type != (i < int_count ? RedisValue::Type::kInteger : RedisValue::Type::kString))
      return false;
  return true;
}

// Checks the reply of a script and its leading status code. Returns the
// reply's elements when the call succeeded; otherwise fills `out` (fault or
// no_event) and returns nullptr. `min_size` is the shortest valid reply; its
// first `int_count` elements must be integers and any further ones strings.
const std::vector<RedisValue>* unwrap(ScriptReply& reply, Outcome& out, size_t min_size,
                                      size_t int_count = SIZE_MAX) {
  if (reply.fault != Fault::kNone) {
    out.fault = reply.fault;
    out.detail = std::move(reply.detail);
    return nullptr;
  }
  const auto& v = reply.value;
  if (v.type != RedisValue::Type::kArray || v.elements.empty() ||
      v.elements[0].type != RedisValue::Type::kInteger) {
    out.fault = Fault::kError;
    out.detail = "unexpected script reply";
    spdlog::error("queue: unexpected script reply (type {})", static_cast<int>(v.type));
    return nullptr;
  }
  if (v.elements[0].integer == code::kNoEvent) {
    out.no_event = true;
    return nullptr;
  }
  if (v.elements[0].integer != code::kOk || v.elements.size() < min_size ||
      !well_typed(v.elements, int_count)) {
    out.fault = Fault::kError;
    out.detail = "malformed script reply";
    spdlog::error("queue: script reply code {} with {} elements", v.elements[0].integer,
                  v.elements.size());
    return nullptr;
  }
  return &v.elements;
}

int64_t int_at(const std::vector<RedisValue>& e, size_t i) {
  return e[i].integer;
}

// The elements of a reply that is the refusal `c`, {c, ...} with `size`
// elements of which the first `int_count` are integers and any further ones
// strings; nullptr for any other reply.
const std::vector<RedisValue>* refusal(const ScriptReply& reply, int c, size_t size,
                                       size_t int_count) {
  const auto& v = reply.value;
  if (reply.fault != Fault::kNone || v.type != RedisValue::Type::kArray ||
      v.elements.size() != size || !well_typed(v.elements, int_count) || v.elements[0].integer != c)
    return nullptr;
  return &v.elements;
}

// A state as the scripts store it; anything else is a malformed reply.
bool read_state(const RedisValue& v, EventState* out, Outcome& r) {
  auto s = parse_event_state(v.str);
  if (s) {
    *out = *s;
    return true;
  }
  r.fault = Fault::kError;
  r.detail = "unexpected event state in script reply";
  return false;
}

}  // namespace

QueueCore::QueueCore(ScriptRunner& runner, QueueOptions options)
    : runner_(runner), options_(std::move(options)) {}

std::vector<std::string> QueueCore::keys(const std::string& event) const {
  std::string base = options_.key_prefix + ":{" + event + "}:";
  std::vector<std::string> out;
  out.reserve(kEventKeys.size());
  for (const char* name : kEventKeys) out.push_back(base + name);
  return out;
}

std::vector<std::string> QueueCore::script_argv(const std::string& event,
                                                std::vector<std::string> extra) const {
  std::vector<std::string> argv = keys(event);
  argv.reserve(argv.size() + 2 + extra.size());
  if (event == options_.default_event) {
    argv.push_back(std::to_string(options_.default_settings.capacity));
    argv.push_back(std::to_string(options_.default_settings.queue_limit));
  } else {
    argv.emplace_back();
    argv.emplace_back();
  }
  for (auto& a : extra) argv.push_back(std::move(a));
  return argv;
}

// Runs a per-user script (reserve or status) for many users. The reply is
// {0, code1, pos1, code2, pos2, ...}; `fill` turns one pair into a result.
template <typename Result, typename Fill>
void run_per_user(ScriptRunner& runner, const Script& script, std::vector<std::string> argv,
                  size_t users, std::function<void(std::vector<Result>)> cb, Fill fill) {
  runner.run(script, kScriptKeyCount, std::move(argv),
             [users, cb = std::move(cb), fill](ScriptReply&& reply) {
               Result failed;
               std::vector<Result> results;
               if (auto* e = unwrap(reply, failed, 1 + 2 * users)) {
                 results.resize(users);
                 for (size_t i = 0; i < users; ++i) {
                   if (!fill(int_at(*e, 1 + 2 * i), int_at(*e, 2 + 2 * i), results[i])) {
                     failed.fault = Fault::kError;
                     failed.detail = "unexpected code in script reply";
                     results.clear();
                     break;
                   }
                 }
               }
               if (results.empty()) results.assign(users, failed);
               cb(std::move(results));
             });
}

void QueueCore::reserve_many(const std::string& event, std::vector<std::string> users,
                             std::function<void(std::vector<ReserveResult>)> cb) {
  size_t n = users.size();
  run_per_user<ReserveResult>(runner_, scripts().reserve, script_argv(event, std::move(users)), n,
                              std::move(cb), [](int64_t c, int64_t pos, ReserveResult& r) {
                                if (c < code::kReserved || c > code::kClosed) return false;
                                r.status = static_cast<ReserveStatus>(c);
                                r.position = pos;
                                return true;
                              });
}

void QueueCore::status_many(const std::string& event, std::vector<std::string> users,
                            std::function<void(std::vector<StatusResult>)> cb) {
  size_t n = users.size();
  run_per_user<StatusResult>(runner_, scripts().status, script_argv(event, std::move(users)), n,
                             std::move(cb), [](int64_t c, int64_t pos, StatusResult& r) {
                               if (c < code::kNotFound || c > code::kInQueue) return false;
                               r.status = static_cast<UserStatus>(c);
                               r.position = pos;
                               return true;
                             });
}

// Single-user forms: a batch of one.
void QueueCore::reserve(const std::string& event, std::string user,
                        std::function<void(ReserveResult)> cb) {
  reserve_many(event, {std::move(user)},
               [cb = std::move(cb)](std::vector<ReserveResult> r) { cb(std::move(r[0])); });
}

void QueueCore::status(const std::string& event, std::string user,
                       std::function<void(StatusResult)> cb) {
  status_many(event, {std::move(user)},
              [cb = std::move(cb)](std::vector<StatusResult> r) { cb(std::move(r[0])); });
}

void QueueCore::promote(const std::string& event, int64_t limit,
                        std::function<void(PromoteResult)> cb) {
  runner_.run(scripts().promote, kScriptKeyCount, script_argv(event, {std::to_string(limit)}),
              [cb = std::move(cb)](ScriptReply&& reply) {
                PromoteResult r;
                if (auto* e = refusal(reply, code::kNotOpen, 2, 1)) {
                  r.not_open = read_state((*e)[1], &r.state, r);
                } else if (auto* e = unwrap(reply, r, 2, 2)) {
                  r.remaining = int_at(*e, 1);
                  for (size_t i = 2; i < e->size(); ++i) r.promoted.push_back((*e)[i].str);
                }
                cb(std::move(r));
              });
}

void QueueCore::leave(const std::string& event, std::string user,
                      std::function<void(LeaveResult)> cb) {
  runner_.run(scripts().leave, kScriptKeyCount, script_argv(event, {std::move(user)}),
              [cb = std::move(cb)](ScriptReply&& reply) {
                LeaveResult r;
                if (auto* e = unwrap(reply, r, 3, 3)) {
                  int64_t c = int_at(*e, 1);
                  if (c < code::kNotInLine || c > code::kHoldsSeat) {
                    r.fault = Fault::kError;
                    r.detail = "unexpected code in script reply";
                  } else {
                    r.status = static_cast<LeaveStatus>(c);
                    r.position = int_at(*e, 2);
                  }
                }
                cb(std::move(r));
              });
}

void QueueCore::reset(const std::string& event, std::function<void(ResetResult)> cb) {
  runner_.run(scripts().reset, kScriptKeyCount, script_argv(event),
              [cb = std::move(cb)](ScriptReply&& reply) {
                ResetResult r;
                unwrap(reply, r, 1);
                cb(std::move(r));
              });
}

void QueueCore::put_event(const std::string& event, const EventPatch& patch,
                          std::function<void(PutEventResult)> cb) {
  auto text = [](const std::optional<int64_t>& n) { return n ? std::to_string(*n) : ""; };
  runner_.run(scripts().put, kScriptKeyCount,
              script_argv(event, {text(patch.capacity), text(patch.queue_limit),
                                  patch.state ? event_state_name(*patch.state) : ""}),
              [cb = std::move(cb)](ScriptReply&& reply) {
                PutEventResult r;
                if (auto* e = refusal(reply, code::kBelowReserved, 2, 2)) {
                  r.below_reserved = true;
                  r.reserved = int_at(*e, 1);
                } else if (refusal(reply, code::kNeedsSize, 1, 1) != nullptr) {
                  r.needs_size = true;
                } else if (auto* e = unwrap(reply, r, 5, 4)) {
                  r.created = int_at(*e, 1) == 1;
                  r.settings = {int_at(*e, 2), int_at(*e, 3)};
                  read_state((*e)[4], &r.state, r);
                }
                cb(std::move(r));
              });
}

void QueueCore::get_event(const std::string& event, std::function<void(EventInfo)> cb) {
  runner_.run(scripts().get, kScriptKeyCount, script_argv(event),
              [cb = std::move(cb)](ScriptReply&& reply) {
                EventInfo r;
                if (auto* e = unwrap(reply, r, 8, 7)) {
                  read_state((*e)[7], &r.state, r);
                  r.settings = {int_at(*e, 1), int_at(*e, 2)};
                  r.reserved = int_at(*e, 3);
                  r.waiting = int_at(*e, 4);
                  r.promoted = int_at(*e, 5);
                  r.left = int_at(*e, 6);
                }
                cb(std::move(r));
              });
}

}  // namespace ticketq
