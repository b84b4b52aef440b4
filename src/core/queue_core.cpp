#include "core/queue_core.h"

#include <spdlog/spdlog.h>

#include <charconv>

#include "core/scripts.h"

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
// {0, header..., then `width` integers per user}; `fill` turns one user's
// integers (and the header) into a result.
template <typename Result, typename Fill>
void run_per_user(ScriptRunner& runner, const Script& script, std::vector<std::string> argv,
                  size_t users, size_t header, size_t width,
                  std::function<void(std::vector<Result>)> cb, Fill fill) {
  runner.run(script, kScriptKeyCount, std::move(argv),
             [users, header, width, cb = std::move(cb), fill](ScriptReply&& reply) {
               Result failed;
               std::vector<Result> results;
               const size_t size = 1 + header + width * users;
               if (auto* e = unwrap(reply, failed, size)) {
                 if (e->size() != size) {
                   failed.fault = Fault::kError;
                   failed.detail = "malformed script reply";
                 } else {
                   results.resize(users);
                   for (size_t i = 0; i < users; ++i) {
                     if (!fill(&(*e)[1], &(*e)[1 + header + width * i], results[i])) {
                       failed.fault = Fault::kError;
                       failed.detail = "unexpected code in script reply";
                       results.clear();
                       break;
                     }
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
                              0, 3, std::move(cb),
                              [](const RedisValue*, const RedisValue* u, ReserveResult& r) {
                                int64_t c = u[0].integer;
                                if (c < code::kReserved || c > code::kClosed) return false;
                                r.status = static_cast<ReserveStatus>(c);
                                r.position = u[1].integer;
                                r.ticket = u[2].integer;
                                return true;
                              });
}

void QueueCore::status_many(const std::string& event, std::vector<std::string> users,
                            std::function<void(std::vector<StatusResult>)> cb) {
  size_t n = users.size();
  run_per_user<StatusResult>(
      runner_, scripts().status, script_argv(event, std::move(users)), n, kStatusHeader, 5,
      std::move(cb), [](const RedisValue* h, const RedisValue* u, StatusResult& r) {
        int64_t c = u[0].integer;
        if (c < code::kNotFound || c > code::kInQueue) return false;
        if (h[5].integer < 0 || h[5].integer > 2) return false;
        r.pace = {h[0].integer,      h[1].integer, h[2].integer,
                  h[3].integer != 0, h[4].integer, static_cast<EventState>(h[5].integer)};
        r.status = static_cast<UserStatus>(c);
        r.position = u[1].integer;
        r.ticket = u[2].integer;
        r.confirmed = u[3].integer == -2;
        r.hold_ends_ms = u[3].integer > 0 ? u[3].integer : 0;
        r.used = u[4].integer != 0;
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

namespace {

std::string ticket_arg(const std::optional<int64_t>& ticket) {
  return ticket ? std::to_string(*ticket) : "";
}

// A code in [lo, hi] or kOtherJoin, else a malformed reply.
bool read_code(int64_t c, int64_t lo, int64_t hi, Outcome& r) {
  if ((c >= lo && c <= hi) || c == code::kOtherJoin) return true;
  r.fault = Fault::kError;
  r.detail = "unexpected code in script reply";
  return false;
}

}  // namespace

void QueueCore::leave(const std::string& event, std::string user, std::optional<int64_t> ticket,
                      std::function<void(LeaveResult)> cb) {
  runner_.run(scripts().leave, kScriptKeyCount,
              script_argv(event, {std::move(user), ticket_arg(ticket)}),
              [cb = std::move(cb)](ScriptReply&& reply) {
                LeaveResult r;
                if (auto* e = unwrap(reply, r, 3, 3);
                    e && read_code(int_at(*e, 1), code::kNotInLine, code::kHoldsSeat, r)) {
                  r.status = static_cast<LeaveStatus>(int_at(*e, 1));
                  r.position = int_at(*e, 2);
                }
                cb(std::move(r));
              });
}

// Cancel, confirm and verify answer {0, code [, waiting [, confirmed,
// hold_end [, used]]]} (scripts.h).
void QueueCore::seat_call(const Script& script, const std::string& event,
                          std::vector<std::string> extra, std::function<void(SeatResult)> cb) {
  runner_.run(script, kScriptKeyCount, script_argv(event, std::move(extra)),
              [cb = std::move(cb)](ScriptReply&& reply) {
                SeatResult r;
                if (auto* e = unwrap(reply, r, 2);
                    e && read_code(int_at(*e, 1), code::kNoSeat, code::kUsed, r)) {
                  r.status = static_cast<SeatStatus>(int_at(*e, 1));
                  if (e->size() >= 3) r.waiting = int_at(*e, 2) == 1;
                  if (e->size() >= 5) {
                    r.confirmed = int_at(*e, 3) == 1;
                    r.hold_ends_ms = std::max<int64_t>(0, int_at(*e, 4));
                  }
                  if (e->size() >= 6) r.used = int_at(*e, 5) == 1;
                }
                cb(std::move(r));
              });
}

void QueueCore::cancel(const std::string& event, std::string user, std::optional<int64_t> ticket,
                       std::function<void(SeatResult)> cb) {
  std::string by_operator = ticket ? "" : "1";
  seat_call(scripts().cancel, event, {std::move(user), ticket_arg(ticket), by_operator},
            std::move(cb));
}

void QueueCore::confirm(const std::string& event, std::string user, std::optional<int64_t> ticket,
                        std::function<void(SeatResult)> cb) {
  seat_call(scripts().confirm, event, {std::move(user), ticket_arg(ticket)}, std::move(cb));
}

void QueueCore::verify(const std::string& event, std::string user, int64_t ticket, bool consume,
                       std::function<void(SeatResult)> cb) {
  seat_call(scripts().verify, event, {std::move(user), std::to_string(ticket), consume ? "1" : "0"},
            std::move(cb));
}

void QueueCore::tick(const std::string& event, int64_t sweep_max, int64_t gap_ms,
                     std::function<void(TickResult)> cb) {
  runner_.run(scripts().tick, kScriptKeyCount,
              script_argv(event, {std::to_string(sweep_max), std::to_string(gap_ms)}),
              [cb = std::move(cb)](ScriptReply&& reply) {
                TickResult r;
                if (auto* e = unwrap(reply, r, 6, 6)) {
                  r.admitted = int_at(*e, 1);
                  r.expired_holds = int_at(*e, 2);
                  r.expired_waiters = int_at(*e, 3);
                  r.more = int_at(*e, 4) == 1;
                  r.idle = int_at(*e, 5) == 1;
                }
                cb(std::move(r));
              });
}

namespace {

// A glob pattern that matches `text` literally.
std::string glob_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

void QueueCore::list_events(const std::string& cursor, int64_t count,
                            std::function<void(EventsPage)> cb) {
  // Every event has a cfg key PREFIX:{E}:cfg. A key is ours only with both
  // ends, and its name is checked like any event a client sends.
  std::string head = options_.key_prefix + ":{";
  std::string tail = std::string("}:") + kEventKeys[0];
  // Over several masters (Redis Cluster) the walk goes through each in turn,
  // and the cursor is "generation.node.cursor": a page asked for after the
  // masters changed fails (the walk starts again) rather than go on with
  // another node's cursor.
  const uint64_t generation = runner_.topology();
  size_t node = 0;
  std::string scan = cursor;
  bool stale = false;
  if (size_t dot = cursor.find('.'); dot != std::string::npos) {
    size_t dot2 = cursor.find('.', dot + 1);
    uint64_t gen = 0;
    auto [end1, ec1] = std::from_chars(cursor.data(), cursor.data() + dot, gen);
    auto [end2, ec2] = std::from_chars(cursor.data() + dot + 1,
                                       cursor.data() + std::min(dot2, cursor.size()), node);
    stale = dot2 == std::string::npos || ec1 != std::errc() || end1 != cursor.data() + dot ||
            ec2 != std::errc() || end2 != cursor.data() + dot2 || gen != generation;
    if (!stale) scan = cursor.substr(dot2 + 1);
  }
  if (stale || node >= runner_.nodes()) {
    EventsPage r;
    r.fault = Fault::kUnavailable;
    r.detail = runner_.nodes() == 0 ? "no redis master known yet"
                                    : "the redis cluster's masters changed during the walk";
    return cb(std::move(r));
  }
  runner_.run_on(
      node, scripts().events,
      {glob_escape(head) + "*" + glob_escape(tail), scan, std::to_string(count)},
      [this, cb = std::move(cb), head, tail, node, generation](ScriptReply&& reply) {
        EventsPage r;
        if (auto* e = unwrap(reply, r, 2, 1)) {
          const std::string at = std::to_string(generation) + ".";
          r.cursor = (*e)[1].str;
          if (r.cursor != "0")
            r.cursor = runner_.nodes() > 1 ? at + std::to_string(node) + "." + r.cursor : r.cursor;
          else if (node + 1 < runner_.nodes())
            r.cursor = at + std::to_string(node + 1) + ".0";
          for (size_t i = 2; i < e->size(); ++i) {
            std::string_view key = (*e)[i].str;
            if (key.size() <= head.size() + tail.size() || !key.starts_with(head) ||
                !key.ends_with(tail))
              continue;
            std::string name(key.substr(head.size(), key.size() - head.size() - tail.size()));
            if (valid_event(name)) r.events.push_back(std::move(name));
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

namespace {

bool read_rate(const RedisValue& v, AdmissionSettings& a, Outcome& r) {
  auto rate = parse_admit_rate(v.str);
  if (rate) {
    a.admit_rate = *rate;
    return true;
  }
  r.fault = Fault::kError;
  r.detail = "unexpected admit_rate in script reply";
  return false;
}

}  // namespace

void QueueCore::put_event(const std::string& event, const EventPatch& patch,
                          std::function<void(PutEventResult)> cb) {
  auto text = [](const std::optional<int64_t>& n) { return n ? std::to_string(*n) : ""; };
  runner_.run(scripts().put, kScriptKeyCount,
              script_argv(event, {text(patch.capacity), text(patch.queue_limit),
                                  patch.state ? event_state_name(*patch.state) : "",
                                  patch.admit_rate ? admit_rate_text(*patch.admit_rate) : "",
                                  text(patch.hold_s), text(patch.waiter_ttl_s)}),
              [cb = std::move(cb)](ScriptReply&& reply) {
                PutEventResult r;
                if (auto* e = refusal(reply, code::kBelowReserved, 2, 2)) {
                  r.below_reserved = true;
                  r.reserved = int_at(*e, 1);
                } else if (refusal(reply, code::kNeedsSize, 1, 1) != nullptr) {
                  r.needs_size = true;
                } else if (auto* e = unwrap(reply, r, 8, 6)) {
                  r.created = int_at(*e, 1) == 1;
                  r.settings = {int_at(*e, 2), int_at(*e, 3)};
                  r.admission.hold_s = int_at(*e, 4);
                  r.admission.waiter_ttl_s = int_at(*e, 5);
                  read_state((*e)[6], &r.state, r) && read_rate((*e)[7], r.admission, r);
                }
                cb(std::move(r));
              });
}

void QueueCore::get_event(const std::string& event, std::function<void(EventInfo)> cb) {
  runner_.run(scripts().get, kScriptKeyCount, script_argv(event),
              [cb = std::move(cb)](ScriptReply&& reply) {
                EventInfo r;
                if (auto* e = unwrap(reply, r, 17, 15)) {
                  r.settings = {int_at(*e, 1), int_at(*e, 2)};
                  r.reserved = int_at(*e, 3);
                  r.waiting = int_at(*e, 4);
                  r.promoted = int_at(*e, 5);
                  r.left = int_at(*e, 6);
                  r.holding = int_at(*e, 7);
                  r.confirmed = int_at(*e, 8);
                  r.admitted_last_minute = int_at(*e, 9);
                  r.expired_holds = int_at(*e, 10);
                  r.expired_waiters = int_at(*e, 11);
                  r.cancelled = int_at(*e, 12);
                  r.admission.hold_s = int_at(*e, 13);
                  r.admission.waiter_ttl_s = int_at(*e, 14);
                  read_state((*e)[15], &r.state, r) && read_rate((*e)[16], r.admission, r);
                }
                cb(std::move(r));
              });
}

// {0, now_ms, then three integers per stored sample: t_ms, waiting, admitted}.
void QueueCore::history(const std::string& event, std::function<void(HistoryResult)> cb) {
  runner_.run(scripts().history, kScriptKeyCount, script_argv(event),
              [cb = std::move(cb)](ScriptReply&& reply) {
                HistoryResult r;
                if (auto* e = unwrap(reply, r, 2)) {
                  if ((e->size() - 2) % 3 != 0 || e->size() > 2 + 3 * size_t(kHistorySlots)) {
                    r.fault = Fault::kError;
                    r.detail = "malformed script reply";
                  } else {
                    r.now_ms = int_at(*e, 1);
                    for (size_t i = 2; i < e->size(); i += 3)
                      r.samples.push_back({int_at(*e, i), int_at(*e, i + 1), int_at(*e, i + 2)});
                  }
                }
                cb(std::move(r));
              });
}

}  // namespace ticketq
