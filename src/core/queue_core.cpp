#include "core/queue_core.h"

#include <spdlog/spdlog.h>

#include <cassert>
#include <charconv>

#include "core/scripts.h"

namespace ticketq {

namespace {

// ---- Replies, read by the contract (scripts.h) ----

// Whether `e`, after its code, holds `fields` (the first `required` of
// them at least, the rest only after all of them), then whole items of
// `each`, each element of its field's type.
bool has_shape(const std::vector<RedisValue>& e, const ScriptFields& fields,
               size_t required = SIZE_MAX, const ScriptFields& each = {}) {
  const size_t n = e.size() - 1;
  if (n < std::min(required, fields.size())) return false;
  if (n > fields.size() && (each.size() == 0 || (n - fields.size()) % each.size() != 0))
    return false;
  for (size_t k = 0; k < n; ++k) {
    const ScriptField& f = k < fields.size() ? fields[k] : each[(k - fields.size()) % each.size()];
    if (e[1 + k].type !=
        (f.type == ScriptWire::kInt ? RedisValue::Type::kInteger : RedisValue::Type::kString))
      return false;
  }
  return true;
}

bool answers(const ScriptContract& s, int64_t c) {
  for (const ScriptRefusal& r : s.refusals)
    if (r.code == c) return true;
  return false;
}

// Checks the reply of script `s`: kOk and the contract's shape. Returns the
// reply's elements when the call succeeded; otherwise fills `out` (fault or
// no_event) and returns nullptr.
const std::vector<RedisValue>* unwrap(ScriptReply& reply, Outcome& out, const ScriptContract& s) {
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
    spdlog::error("queue: unexpected {} script reply (type {})", s.name, static_cast<int>(v.type));
    return nullptr;
  }
  if (v.elements[0].integer == code::kNoEvent && answers(s, code::kNoEvent)) {
    out.no_event = true;
    return nullptr;
  }
  if (v.elements[0].integer != code::kOk || !has_shape(v.elements, s.reply, s.required, s.each)) {
    out.fault = Fault::kError;
    out.detail = "malformed script reply";
    spdlog::error("queue: {} script reply code {} with {} elements", s.name, v.elements[0].integer,
                  v.elements.size());
    return nullptr;
  }
  return &v.elements;
}

int64_t int_at(const std::vector<RedisValue>& e, size_t i) {
  return e[i].integer;
}

// The elements of a reply that is the refusal `c` of script `s`, in the
// shape the contract gives it; nullptr for any other reply.
const std::vector<RedisValue>* refusal(const ScriptReply& reply, const ScriptContract& s, int c) {
  const auto& v = reply.value;
  if (reply.fault != Fault::kNone || v.type != RedisValue::Type::kArray || v.elements.empty() ||
      v.elements[0].type != RedisValue::Type::kInteger || v.elements[0].integer != c)
    return nullptr;
  for (const ScriptRefusal& r : s.refusals)
    if (r.code == c) return has_shape(v.elements, r.fields) ? &v.elements : nullptr;
  return nullptr;
}

// A broken invariant of a reply: its detail, for a 503.
bool corrupt(Outcome& r, const char* what) {
  r.fault = Fault::kError;
  r.detail = what;
  return false;
}

// The outcome codes each enum stands for: the same numbers as code::.
static_assert(int(ReserveStatus::kReserved) == code::kReserved &&
              int(ReserveStatus::kQueued) == code::kQueued &&
              int(ReserveStatus::kAlreadyReserved) == code::kAlreadyReserved &&
              int(ReserveStatus::kAlreadyInQueue) == code::kAlreadyInQueue &&
              int(ReserveStatus::kSoldOut) == code::kSoldOut &&
              int(ReserveStatus::kClosed) == code::kClosed);
static_assert(int(UserStatus::kNotFound) == code::kNotFound &&
              int(UserStatus::kReserved) == code::kIsReserved &&
              int(UserStatus::kInQueue) == code::kInQueue);
static_assert(int(LeaveStatus::kNotInLine) == code::kNotInLine &&
              int(LeaveStatus::kLeft) == code::kLeft &&
              int(LeaveStatus::kHoldsSeat) == code::kHoldsSeat &&
              int(LeaveStatus::kOtherJoin) == code::kOtherJoin);
static_assert(int(SeatStatus::kNoSeat) == code::kNoSeat && int(SeatStatus::kDone) == code::kDone &&
              int(SeatStatus::kUnchanged) == code::kUnchanged &&
              int(SeatStatus::kIsConfirmed) == code::kIsConfirmed &&
              int(SeatStatus::kHoldEnded) == code::kHoldEnded &&
              int(SeatStatus::kUsed) == code::kUsed &&
              int(SeatStatus::kOtherJoin) == code::kOtherJoin);
static_assert(kEventStates.size() == 3 && kEventStates[int(EventState::kOpen)] == "open" &&
              kEventStates[int(EventState::kPaused)] == "paused" &&
              kEventStates[int(EventState::kClosed)] == "closed");

// `c` as the outcome E when it is one that script `s` answers (its
// contract's outcomes); otherwise the reply is corrupt and `r` says so.
template <typename E>
bool outcome(const ScriptContract& s, int64_t c, E* out, Outcome& r) {
  for (int k : s.outcomes)
    if (k == c) {
      *out = static_cast<E>(c);
      return true;
    }
  return corrupt(r, "unexpected code in script reply");
}

// A state by its index in kEventStates (the status reply) or its word.
bool state_at(int64_t i, EventState* out) {
  if (i < 0 || i >= static_cast<int64_t>(kEventStates.size())) return false;
  *out = static_cast<EventState>(i);
  return true;
}
bool read_state(const RedisValue& v, EventState* out, Outcome& r) {
  for (size_t i = 0; i < kEventStates.size(); ++i)
    if (v.str == kEventStates[i]) return state_at(static_cast<int64_t>(i), out);
  return corrupt(r, "unexpected event state in script reply");
}

// Where put and get put the settings they answer.
struct EventConfig {
  EventSettings& settings;
  AdmissionSettings& admission;
  EventState& state;
};

std::string number_arg(const std::optional<int64_t>& n) {
  return n ? std::to_string(*n) : "";
}

// Each setting of kEventSettings (scripts.h), row for row: its ARGV of put from
// a patch ("" keeps it) and its place in a reply. false: not a value the
// scripts store.
struct SettingCodec {
  std::string_view name;
  std::string (*arg)(const EventPatch&);
  bool (*read)(const RedisValue&, EventConfig&, Outcome&);
};
constexpr SettingCodec kSettingCodecs[] = {
    {"capacity", [](const EventPatch& p) { return number_arg(p.capacity); },
     [](const RedisValue& v, EventConfig& c, Outcome&) {
       c.settings.capacity = v.integer;
       return true;
     }},
    {"queue_limit", [](const EventPatch& p) { return number_arg(p.queue_limit); },
     [](const RedisValue& v, EventConfig& c, Outcome&) {
       c.settings.queue_limit = v.integer;
       return true;
     }},
    {"state",
     [](const EventPatch& p) { return std::string(p.state ? event_state_name(*p.state) : ""); },
     [](const RedisValue& v, EventConfig& c, Outcome& r) { return read_state(v, &c.state, r); }},
    {"admit_rate",
     [](const EventPatch& p) { return p.admit_rate ? admit_rate_text(*p.admit_rate) : ""; },
     [](const RedisValue& v, EventConfig& c, Outcome& r) {
       auto rate = parse_admit_rate(v.str);
       if (!rate) return corrupt(r, "unexpected admit_rate in script reply");
       c.admission.admit_rate = *rate;
       return true;
     }},
    {"hold_s", [](const EventPatch& p) { return number_arg(p.hold_s); },
     [](const RedisValue& v, EventConfig& c, Outcome&) {
       c.admission.hold_s = v.integer;
       return true;
     }},
    {"waiter_ttl_s", [](const EventPatch& p) { return number_arg(p.waiter_ttl_s); },
     [](const RedisValue& v, EventConfig& c, Outcome&) {
       c.admission.waiter_ttl_s = v.integer;
       return true;
     }},
};
constexpr bool codecs_match() {
  if (std::size(kSettingCodecs) != kEventSettings.size()) return false;
  for (size_t i = 0; i < kEventSettings.size(); ++i)
    if (kSettingCodecs[i].name != kEventSettings[i].name) return false;
  return true;
}
static_assert(codecs_match(), "a codec per setting of kEventSettings, in its order");

// The settings that end the reply `e` of script `s` (put, get).
bool read_settings(const ScriptContract& s, const std::vector<RedisValue>& e, EventConfig c,
                   Outcome& r) {
  const size_t first = e.size() - kEventSettings.size();
  for (size_t i = 0; i < kEventSettings.size(); ++i) {
    assert(s.reply[first - 1 + i].name == kEventSettings[i].name);
    if (!kSettingCodecs[i].read(e[first + i], c, r)) return false;
  }
  return true;
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
// {0, the contract's reply fields, then its `each` fields per user};
// `fill` turns one user's fields (and the reply's) into a result.
template <typename Result, typename Fill>
void run_per_user(ScriptRunner& runner, const QueueScript& script, std::vector<std::string> argv,
                  size_t users, std::function<void(std::vector<Result>)> cb, Fill fill) {
  const ScriptContract& c = *script.contract;
  runner.run(
      script, kScriptKeyCount, std::move(argv),
      [users, &c, cb = std::move(cb), fill](ScriptReply&& reply) {
        Result failed;
        std::vector<Result> results;
        const size_t size = 1 + c.reply.size() + c.each.size() * users;
        if (auto* e = unwrap(reply, failed, c)) {
          if (e->size() != size) {
            failed.fault = Fault::kError;
            failed.detail = "malformed script reply";
          } else {
            results.resize(users);
            for (size_t i = 0; i < users; ++i) {
              if (!fill(e->data(), &(*e)[1 + c.reply.size() + c.each.size() * i], results[i])) {
                failed.fault = results[i].fault;
                failed.detail = results[i].detail;
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
  static constexpr const ScriptContract& c = contract::reserve;
  size_t n = users.size();
  run_per_user<ReserveResult>(runner_, scripts().reserve, script_argv(event, std::move(users)), n,
                              std::move(cb),
                              [](const RedisValue*, const RedisValue* u, ReserveResult& r) {
                                if (!outcome(c, u[each_at(c, "code")].integer, &r.status, r))
                                  return false;
                                r.position = u[each_at(c, "position")].integer;
                                r.ticket = u[each_at(c, "ticket")].integer;
                                return true;
                              });
}

void QueueCore::status_many(const std::string& event, std::vector<std::string> users,
                            std::function<void(std::vector<StatusResult>)> cb) {
  static constexpr const ScriptContract& c = contract::status;
  size_t n = users.size();
  run_per_user<StatusResult>(
      runner_, scripts().status, script_argv(event, std::move(users)), n, std::move(cb),
      [](const RedisValue* e, const RedisValue* u, StatusResult& r) {
        if (!outcome(c, u[each_at(c, "code")].integer, &r.status, r)) return false;
        if (!state_at(e[reply_at(c, "state")].integer, &r.pace.state))
          return corrupt(r, "unexpected event state in script reply");
        r.pace.now_ms = e[reply_at(c, "now_ms")].integer;
        r.pace.admitted_last_minute = e[reply_at(c, "admitted_last_minute")].integer;
        r.pace.span_ms = e[reply_at(c, "span_ms")].integer;
        r.pace.paused = e[reply_at(c, "paused")].integer != 0;
        r.pace.waiter_ttl_s = e[reply_at(c, "waiter_ttl_s")].integer;
        r.position = u[each_at(c, "position")].integer;
        r.ticket = u[each_at(c, "ticket")].integer;
        const int64_t hold_end = u[each_at(c, "hold_end")].integer;
        r.confirmed = hold_end == -2;
        r.hold_ends_ms = hold_end > 0 ? hold_end : 0;
        r.used = u[each_at(c, "used")].integer != 0;
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
  static constexpr const ScriptContract& c = contract::promote;
  runner_.run(scripts().promote, kScriptKeyCount, script_argv(event, {std::to_string(limit)}),
              [cb = std::move(cb)](ScriptReply&& reply) {
                PromoteResult r;
                if (auto* e = refusal(reply, c, code::kNotOpen)) {
                  r.not_open =
                      read_state((*e)[refusal_at(c, code::kNotOpen, "state")], &r.state, r);
                } else if (auto* e = unwrap(reply, r, c)) {
                  r.remaining = int_at(*e, reply_at(c, "remaining"));
                  for (size_t i = 1 + c.reply.size(); i < e->size(); ++i)
                    r.promoted.push_back((*e)[i].str);
                }
                cb(std::move(r));
              });
}

namespace {

std::string ticket_arg(const std::optional<int64_t>& ticket) {
  return ticket ? std::to_string(*ticket) : "";
}

}  // namespace

void QueueCore::leave(const std::string& event, std::string user, std::optional<int64_t> ticket,
                      std::function<void(LeaveResult)> cb) {
  static constexpr const ScriptContract& c = contract::leave;
  runner_.run(scripts().leave, kScriptKeyCount,
              script_argv(event, {std::move(user), ticket_arg(ticket)}),
              [cb = std::move(cb)](ScriptReply&& reply) {
                LeaveResult r;
                if (auto* e = unwrap(reply, r, c);
                    e && outcome(c, int_at(*e, reply_at(c, "code")), &r.status, r))
                  r.position = int_at(*e, reply_at(c, "position"));
                cb(std::move(r));
              });
}

// Cancel, confirm and verify answer the code, then as many of the seat
// reply's fields as they tell (scripts.h).
void QueueCore::seat_call(const QueueScript& script, const std::string& event,
                          std::vector<std::string> extra, std::function<void(SeatResult)> cb) {
  runner_.run(script, kScriptKeyCount, script_argv(event, std::move(extra)),
              [&c = *script.contract, cb = std::move(cb)](ScriptReply&& reply) {
                static constexpr const ScriptContract& seat = contract::verify;
                SeatResult r;
                if (auto* e = unwrap(reply, r, c);
                    e && outcome(c, int_at(*e, reply_at(seat, "code")), &r.status, r)) {
                  auto has = [e](size_t at) { return e->size() > at; };
                  if (has(reply_at(seat, "waiting")))
                    r.waiting = int_at(*e, reply_at(seat, "waiting")) == 1;
                  if (has(reply_at(seat, "hold_end"))) {
                    r.confirmed = int_at(*e, reply_at(seat, "confirmed")) == 1;
                    r.hold_ends_ms = std::max<int64_t>(0, int_at(*e, reply_at(seat, "hold_end")));
                  }
                  if (has(reply_at(seat, "used"))) r.used = int_at(*e, reply_at(seat, "used")) == 1;
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
  static constexpr const ScriptContract& c = contract::tick;
  runner_.run(scripts().tick, kScriptKeyCount,
              script_argv(event, {std::to_string(sweep_max), std::to_string(gap_ms)}),
              [cb = std::move(cb)](ScriptReply&& reply) {
                TickResult r;
                if (auto* e = unwrap(reply, r, c)) {
                  r.admitted = int_at(*e, reply_at(c, "admitted"));
                  r.expired_holds = int_at(*e, reply_at(c, "expired_holds"));
                  r.expired_waiters = int_at(*e, reply_at(c, "expired_waiters"));
                  r.more = int_at(*e, reply_at(c, "more")) == 1;
                  r.idle = int_at(*e, reply_at(c, "idle")) == 1;
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
        static constexpr const ScriptContract& c = contract::events;
        if (auto* e = unwrap(reply, r, c)) {
          const std::string at = std::to_string(generation) + ".";
          r.cursor = (*e)[reply_at(c, "cursor")].str;
          if (r.cursor != "0")
            r.cursor = runner_.nodes() > 1 ? at + std::to_string(node) + "." + r.cursor : r.cursor;
          else if (node + 1 < runner_.nodes())
            r.cursor = at + std::to_string(node + 1) + ".0";
          for (size_t i = 1 + c.reply.size(); i < e->size(); ++i) {
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
                unwrap(reply, r, contract::reset);
                cb(std::move(r));
              });
}

void QueueCore::put_event(const std::string& event, const EventPatch& patch,
                          std::function<void(PutEventResult)> cb) {
  static constexpr const ScriptContract& c = contract::put;
  std::vector<std::string> args;
  for (const SettingCodec& s : kSettingCodecs) args.push_back(s.arg(patch));
  runner_.run(scripts().put, kScriptKeyCount, script_argv(event, std::move(args)),
              [cb = std::move(cb)](ScriptReply&& reply) {
                PutEventResult r;
                if (auto* e = refusal(reply, c, code::kBelowReserved)) {
                  r.below_reserved = true;
                  r.reserved = int_at(*e, refusal_at(c, code::kBelowReserved, "reserved"));
                } else if (refusal(reply, c, code::kNeedsSize) != nullptr) {
                  r.needs_size = true;
                } else if (auto* e = unwrap(reply, r, c)) {
                  r.created = int_at(*e, reply_at(c, "created")) == 1;
                  read_settings(c, *e, {r.settings, r.admission, r.state}, r);
                }
                cb(std::move(r));
              });
}

void QueueCore::get_event(const std::string& event, std::function<void(EventInfo)> cb) {
  static constexpr const ScriptContract& c = contract::get;
  runner_.run(scripts().get, kScriptKeyCount, script_argv(event),
              [cb = std::move(cb)](ScriptReply&& reply) {
                EventInfo r;
                if (auto* e = unwrap(reply, r, c)) {
                  r.reserved = int_at(*e, reply_at(c, "reserved"));
                  r.waiting = int_at(*e, reply_at(c, "waiting"));
                  r.promoted = int_at(*e, reply_at(c, "promoted"));
                  r.left = int_at(*e, reply_at(c, "left"));
                  r.holding = int_at(*e, reply_at(c, "holding"));
                  r.confirmed = int_at(*e, reply_at(c, "confirmed"));
                  r.admitted_last_minute = int_at(*e, reply_at(c, "admitted_last_minute"));
                  r.expired_holds = int_at(*e, reply_at(c, "expired_holds"));
                  r.expired_waiters = int_at(*e, reply_at(c, "expired_waiters"));
                  r.cancelled = int_at(*e, reply_at(c, "cancelled"));
                  read_settings(c, *e, {r.settings, r.admission, r.state}, r);
                }
                cb(std::move(r));
              });
}

// The stored samples of the history ring, at most kHistorySlots.
void QueueCore::history(const std::string& event, std::function<void(HistoryResult)> cb) {
  static constexpr const ScriptContract& c = contract::history;
  runner_.run(scripts().history, kScriptKeyCount, script_argv(event),
              [cb = std::move(cb)](ScriptReply&& reply) {
                HistoryResult r;
                if (auto* e = unwrap(reply, r, c)) {
                  const size_t first = 1 + c.reply.size(), width = c.each.size();
                  if (e->size() > first + width * size_t(kHistorySlots)) {
                    r.fault = Fault::kError;
                    r.detail = "malformed script reply";
                  } else {
                    r.now_ms = int_at(*e, reply_at(c, "now_ms"));
                    for (size_t i = first; i < e->size(); i += width)
                      r.samples.push_back({int_at(*e, i + each_at(c, "t_ms")),
                                           int_at(*e, i + each_at(c, "waiting")),
                                           int_at(*e, i + each_at(c, "admitted"))});
                  }
                }
                cb(std::move(r));
              });
}

}  // namespace ticketq
