// The Lua scripts that make every queue decision atomically inside Redis.
// Each reads every key it will write (a wrong-typed or corrupt key fails the
// script there) and makes all its checks before its first write, because
// Redis never rolls a script back.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "redis/script_runner.h"

namespace ticketq {

// The keys of one event E, in the order every script takes them as KEYS.
// The names are defined here once; the scripts see them as Lua locals
// (K_CFG, K_RESERVED, ...) and the queue core builds PREFIX:{E}:<name>.
//   cfg       Hash    the settings of kEventSettings under their names, and
//                     tickets (the last ticket given; it survives a reset,
//                     so a ticket names one join for good). The event
//                     exists once capacity is stored.
//   reserved  Set     user ids holding a seat, admitted or confirmed (never
//                     more than capacity)
//   queued    Sorted set  the line: waiting user id -> ticket number. It
//                     dedups, keeps join order (tickets only grow), gives a
//                     position as ZRANK + 1 in O(log n), exact after any
//                     number of leaves, and pops its head with ZPOPMIN.
//   stats     Hash    since the last reset: counters (promoted, left,
//                     cancelled, expired_holds, expired_waiters), the
//                     admission bucket (bucket in thousandths of a user,
//                     bucket_ms), the admissions of the last minute in
//                     twelve 5-second slots (r0..r11, rt = the newest slot),
//                     with waiter expiry on, when a step last ran
//                     (stepped_ms) and the end of the grace after an outage
//                     (grace_until), and the history ring of the dashboard's
//                     chart (h0..h59, see kHistorySlots)
//   seats     Hash    seat holder -> the ticket of the join that got it,
//                     with a "u" appended once a verify consumed it
//   holds     Sorted set  admitted, not yet confirmed -> when the hold ends
//                     (ms since the epoch, Redis's clock; inf: never)
//   seen      Sorted set  the ticket of a waiting user's join -> last
//                     heartbeat (ms), kept only while the event has a
//                     waiter_ttl_s (a ticket is shorter than a user id)
inline constexpr std::array<const char*, 7> kEventKeys = {"cfg",   "reserved", "queued", "stats",
                                                          "seats", "holds",    "seen"};
constexpr int kScriptKeyCount = static_cast<int>(kEventKeys.size());

// The most values a script passes to one Redis command: longer lists go in
// pieces (Lua's unpack fails at 8,000 values), so no call's size grows with
// its input. Even, so that pairs stay whole.
constexpr int kScriptChunk = 1000;
static_assert(kScriptChunk % 2 == 0);

// Admissions of the last minute are kept in kRateSlots slots of
// kRateSlotMs each.
constexpr int64_t kRateSlotMs = 5000;
constexpr int kRateSlots = 12;

// The history of the dashboard's chart: the event's waiting and admitted
// (holding, not confirmed) counts over the last ten minutes, a ring of
// kHistorySlots fields of the stats hash, h0..h59, one per kHistorySlotMs
// of Redis's clock: field h<t / kHistorySlotMs % kHistorySlots> holds
// "t:waiting:admitted", the counts after the last change in that slot (t in
// ms). Every script that changes either count writes it with its other
// writes, so an event where nothing changes writes nothing, and a field
// names its own time, so one left from an earlier turn of the ring is told
// apart. A reset empties it with the stats.
constexpr int64_t kHistorySlotMs = 10000;
constexpr int kHistorySlots = 60;

// ---- The contract between the queue core and the scripts ----
// Declared once, here: the prologue of every script is generated from it
// (scripts.cpp: key names, ARGV names, result codes, event states and
// settings become Lua locals) and the queue core decodes replies by its
// field names. A script answers {kOk, its reply fields..., then its `each`
// fields once per item}, or a refusal {code, the refusal's fields...}.

// Result codes, as C++ constants code::k<Name> and as Lua locals <LUA_NAME>.
#define TICKETQ_SCRIPT_CODES(X)                                                               \
  X(kNoEvent, NO_EVENT, -1)             /* the event was never created */                     \
  X(kBelowReserved, BELOW_RESERVED, -2) /* put: capacity below the seats taken */             \
  X(kNotOpen, NOT_OPEN, -3)             /* promote: the event is paused or closed */          \
  X(kNeedsSize, NEEDS_SIZE, -4)         /* put: a new event needs capacity and queue_limit */ \
  X(kOk, OK, 0)                                                                               \
  /* reserve outcomes */                                                                      \
  X(kReserved, RESERVED, 1)                                                                   \
  X(kQueued, QUEUED, 2)                                                                       \
  X(kAlreadyReserved, ALREADY_RESERVED, 3)                                                    \
  X(kAlreadyInQueue, ALREADY_IN_QUEUE, 4)                                                     \
  X(kSoldOut, SOLD_OUT, 5)                                                                    \
  X(kClosed, CLOSED, 6) /* the event is closed to newcomers */                                \
  /* status outcomes */                                                                       \
  X(kNotFound, NOT_FOUND, 0)                                                                  \
  X(kIsReserved, IS_RESERVED, 1)                                                              \
  X(kInQueue, IN_QUEUE, 2)                                                                    \
  /* leave outcomes */                                                                        \
  X(kNotInLine, NOT_IN_LINE, 0)                                                               \
  X(kLeft, LEFT, 1)                                                                           \
  X(kHoldsSeat, HOLDS_SEAT, 2)                                                                \
  /* outcomes of the calls on a seat (cancel, confirm, verify) */                             \
  X(kNoSeat, NO_SEAT, 0)           /* holds no seat (see the waiting field) */                \
  X(kDone, DONE, 1)                /* cancelled, confirmed, valid */                          \
  X(kUnchanged, UNCHANGED, 2)      /* confirm: was confirmed already */                       \
  X(kIsConfirmed, IS_CONFIRMED, 3) /* cancel: a sold seat; only an operator cancels it */     \
  X(kHoldEnded, HOLD_ENDED, 4)     /* the hold's time is up (the sweep frees it) */           \
  X(kUsed, USED, 5)                /* verify with consume: consumed before */                 \
  /* leave and the calls on a seat: the token names an earlier join of the user */            \
  X(kOtherJoin, OTHER_JOIN, 9)

namespace code {
#define TICKETQ_CODE_CONSTANT(cpp, lua, value) constexpr int cpp = value;
TICKETQ_SCRIPT_CODES(TICKETQ_CODE_CONSTANT)
#undef TICKETQ_CODE_CONSTANT
}  // namespace code

struct ScriptCode {
  std::string_view lua;
  int value;
};
inline constexpr ScriptCode kCodes[] = {
#define TICKETQ_CODE_NAME(cpp, lua, value) {#lua, value},
    TICKETQ_SCRIPT_CODES(TICKETQ_CODE_NAME)
#undef TICKETQ_CODE_NAME
};

// An event's states: stored and answered as these words, and in the status
// reply as their index (Lua: STATE_CODE[word]).
inline constexpr std::array<std::string_view, 3> kEventStates = {"open", "paused", "closed"};

// A short list of constants, its size fixed at compile time.
template <typename T, size_t N>
struct ConstList {
  std::array<T, N> items{};
  size_t count = 0;
  constexpr ConstList() = default;
  constexpr ConstList(std::initializer_list<T> l) {
    for (const T& x : l) items[count++] = x;
  }
  constexpr const T* begin() const { return items.data(); }
  constexpr const T* end() const { return items.data() + count; }
  constexpr size_t size() const { return count; }
  constexpr const T& operator[](size_t i) const { return items[i]; }
};

// A field of a reply (or an ARGV name): a Redis integer or a string.
enum class ScriptWire : uint8_t { kInt, kText };
struct ScriptField {
  std::string_view name;
  ScriptWire type = ScriptWire::kInt;
};
using ScriptFields = ConstList<ScriptField, 20>;

// The settings of an event, stored under their names in its cfg hash (with
// "tickets", the last ticket given, which survives a reset). put takes
// them as its ARGV in this order ("" keeps one), put and get answer them
// last in their replies, the Lua settings() reads them into ev.<name>.
// Adding one is a row here, its codec in queue_core.cpp and its logic.
enum class EventSettingKind : uint8_t {
  kSize,   // a whole number >= 0 every event has (the event exists once stored)
  kCount,  // a whole number >= 0; absent is 0
  kState,  // one of kEventStates; absent is open
  kRate,   // "manual" (absent too) or users per second >= 0 (ev.rate: nil or the number)
};
struct EventSetting {
  std::string_view name;
  EventSettingKind kind;
};
inline constexpr auto kEventSettings = std::to_array<EventSetting>({
    {"capacity", EventSettingKind::kSize},
    {"queue_limit", EventSettingKind::kSize},
    {"state", EventSettingKind::kState},
    {"admit_rate", EventSettingKind::kRate},
    {"hold_s", EventSettingKind::kCount},        // an unconfirmed seat returns after this long
    {"waiter_ttl_s", EventSettingKind::kCount},  // a silent waiter loses the place after this long
});

// `fields`, then the settings, as a reply answers them.
constexpr ScriptFields with_settings(ScriptFields fields) {
  for (const EventSetting& s : kEventSettings) {
    bool is_int = s.kind == EventSettingKind::kSize || s.kind == EventSettingKind::kCount;
    fields.items[fields.count++] = {s.name, is_int ? ScriptWire::kInt : ScriptWire::kText};
  }
  return fields;
}

// A reply other than kOk: its code and fields.
struct ScriptRefusal {
  int code = 0;
  ScriptFields fields{};
};

struct ScriptContract {
  std::string_view name;
  // KEYS are kEventKeys and ARGV starts with kSharedArgv; false: no keys.
  bool event_keys = true;
  ScriptFields argv{};     // the script's own ARGV, in order, bound to Lua locals of these names
  bool argv_list = false;  // the last ARGV name takes the rest of ARGV, a list
  ScriptFields reply{};    // after kOk
  // Reply fields always there; those after may be left out from the end.
  size_t required = SIZE_MAX;
  ScriptFields each{};           // then these, once per item, to the end
  ConstList<int, 8> outcomes{};  // the codes the field "code" takes
  ConstList<ScriptRefusal, 3> refusals{};
  // Changes what a caller is told it holds (a seat, a place, an admission, a
  // setting), so redis_wait_replicas waits for its copy on replicas. The
  // status script's heartbeat refresh is not such a change.
  bool writes = false;
};

// ARGV[1], ARGV[2] of every event script: the default event's capacity and
// queue_limit ("" for any other event). The default event is created in
// Redis with them by the first script that finds it missing; from then on
// every instance reads the stored settings, whatever its own flags say.
inline constexpr ScriptFields kSharedArgv = {{"default_capacity"}, {"default_queue_limit"}};

namespace contract {

constexpr ScriptRefusal kNoEvent{code::kNoEvent};
// A hold's end as replied: ms since the epoch; -1 never ends, -2 confirmed.
constexpr ScriptField kHoldEnd{"hold_end"};

// Users in order of arrival; a user is admitted at once only while seats
// are free and nobody waits. position: 1-based, for a place in line;
// ticket: the join's, for a new seat or place.
inline constexpr ScriptContract reserve{
    .name = "reserve",
    .argv = {{"users"}},
    .argv_list = true,
    .each = {{"code"}, {"position"}, {"ticket"}},
    .outcomes = {code::kReserved, code::kQueued, code::kAlreadyReserved, code::kAlreadyInQueue,
                 code::kSoldOut, code::kClosed},
    .refusals = {kNoEvent},
    .writes = true};

// Where users are, after the line's pace: span_ms is the time the
// admissions of the last minute took; paused: 1 for a paused or closed
// event or admit_rate 0; state: the index of kEventStates. Per user the
// ticket of the join that waits or got the seat, and for a seat its hold
// end and used: 1 once a verify consumed the admission. Refreshes stale
// heartbeats.
inline constexpr ScriptContract status{
    .name = "status",
    .argv = {{"users"}},
    .argv_list = true,
    .reply = {{"now_ms"},
              {"admitted_last_minute"},
              {"span_ms"},
              {"paused"},
              {"waiter_ttl_s"},
              {"state"}},
    .each = {{"code"}, {"position"}, {"ticket"}, kHoldEnd, {"used"}},
    .outcomes = {code::kNotFound, code::kIsReserved, code::kInQueue},
    .refusals = {kNoEvent}};

// Admits at most `limit` from the head of the line: the users admitted, in
// line order, and how many still wait.
inline constexpr ScriptContract promote{
    .name = "promote",
    .argv = {{"limit"}},
    .reply = {{"remaining"}},
    .each = {{"user", ScriptWire::kText}},
    .refusals = {kNoEvent, {code::kNotOpen, {{"state", ScriptWire::kText}}}},
    .writes = true};

inline constexpr ScriptContract reset{.name = "reset", .refusals = {kNoEvent}, .writes = true};

// Creates (created: 1) or updates an event; the settings after the call.
inline constexpr ScriptContract put{
    .name = "put",
    .argv = with_settings({}),
    .reply = with_settings({{"created"}}),
    .refusals = {{code::kBelowReserved, {{"reserved"}}}, {code::kNeedsSize}},
    .writes = true};

// An event's counts (holding: admitted, not confirmed; the counters of
// stats since the last reset) and its settings.
inline constexpr ScriptContract get{.name = "get",
                                    .reply = with_settings({{"reserved"},
                                                            {"waiting"},
                                                            {"promoted"},
                                                            {"left"},
                                                            {"holding"},
                                                            {"confirmed"},
                                                            {"admitted_last_minute"},
                                                            {"expired_holds"},
                                                            {"expired_waiters"},
                                                            {"cancelled"}}),
                                    .refusals = {kNoEvent}};

// `claimed`: the ticket of the join a token names, "" for an operator.
// position: the place the user had.
inline constexpr ScriptContract leave{
    .name = "leave",
    .argv = {{"user"}, {"claimed"}},
    .reply = {{"code"}, {"position"}},
    .outcomes = {code::kNotInLine, code::kLeft, code::kHoldsSeat, code::kOtherJoin},
    .refusals = {kNoEvent},
    .writes = true};

// The calls on a seat answer the code, then as far as it tells: waiting 1
// when the user is in line instead; confirmed, the hold's end; used 1 once
// a verify consumed the admission.
constexpr ScriptFields kSeatReply = {{"code"}, {"waiting"}, {"confirmed"}, kHoldEnd, {"used"}};

// by_operator "1": any seat, a sold one too.
inline constexpr ScriptContract cancel{
    .name = "cancel",
    .argv = {{"user"}, {"claimed"}, {"by_operator"}},
    .reply = kSeatReply,
    .required = 1,
    .outcomes = {code::kNoSeat, code::kDone, code::kIsConfirmed, code::kOtherJoin},
    .refusals = {kNoEvent},
    .writes = true};

inline constexpr ScriptContract confirm{
    .name = "confirm",
    .argv = {{"user"}, {"claimed"}},
    .reply = kSeatReply,
    .required = 1,
    .outcomes = {code::kNoSeat, code::kDone, code::kUnchanged, code::kHoldEnded, code::kOtherJoin},
    .refusals = {kNoEvent},
    .writes = true};

// consume "1": the admission is accepted once.
inline constexpr ScriptContract verify{
    .name = "verify",
    .argv = {{"user"}, {"claimed"}, {"consume"}},
    .reply = kSeatReply,
    .required = 1,
    .outcomes = {code::kNoSeat, code::kDone, code::kHoldEnded, code::kUsed, code::kOtherJoin},
    .refusals = {kNoEvent},
    .writes = true};

// The admission timer: sweeps ended holds and silent waiters and admits at
// the event's rate while seats are free, at most sweep_max of each; more:
// 1 when a bound cut the step short (what the rate still allows is kept
// for the next step); idle: 1 when nothing changes until someone acts.
// gap_ms: the longest gap between two steps that is not an outage.
inline constexpr ScriptContract tick{
    .name = "tick",
    .argv = {{"sweep_max"}, {"gap_ms"}},
    .reply = {{"admitted"}, {"expired_holds"}, {"expired_waiters"}, {"more"}, {"idle"}},
    .refusals = {kNoEvent},
    .writes = true};

// One page of a SCAN of the keys matching `pattern`: the next cursor ("0":
// done) and the keys.
inline constexpr ScriptContract events{.name = "events",
                                       .event_keys = false,
                                       .argv = {{"pattern"}, {"cursor"}, {"count"}},
                                       .reply = {{"cursor", ScriptWire::kText}},
                                       .each = {{"key", ScriptWire::kText}}};

// Redis's clock, then the history ring's stored slots in ring order.
inline constexpr ScriptContract history{.name = "history",
                                        .reply = {{"now_ms"}},
                                        .each = {{"t_ms"}, {"waiting"}, {"admitted"}},
                                        .refusals = {kNoEvent}};

}  // namespace contract

// Where field `name` of `s`'s reply is (the code is element 0), of one of
// its `each` items (from the item's start), of its refusal `c`. A name the
// contract does not have does not compile.
consteval size_t reply_at(const ScriptContract& s, std::string_view name) {
  for (size_t i = 0; i < s.reply.size(); ++i)
    if (s.reply[i].name == name) return 1 + i;
  throw "no such reply field";
}
consteval size_t each_at(const ScriptContract& s, std::string_view name) {
  for (size_t i = 0; i < s.each.size(); ++i)
    if (s.each[i].name == name) return i;
  throw "no such item field";
}
consteval size_t refusal_at(const ScriptContract& s, int c, std::string_view name) {
  for (const ScriptRefusal& r : s.refusals)
    for (size_t i = 0; r.code == c && i < r.fields.size(); ++i)
      if (r.fields[i].name == name) return 1 + i;
  throw "no such refusal field";
}

// The figures before the users' in the status reply.
constexpr size_t kStatusHeader = contract::status.reply.size();

// The checks the compiler makes of every contract: names are not given
// twice, a code is one of kCodes, a "code" field goes with its outcomes.
constexpr bool known_code(int c) {
  for (const ScriptCode& k : kCodes)
    if (k.value == c) return true;
  return false;
}
constexpr bool distinct(const ScriptFields& f, const ScriptFields& more = {}) {
  for (size_t i = 0; i < f.size() + more.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if ((i < f.size() ? f[i] : more[i - f.size()]).name ==
          (j < f.size() ? f[j] : more[j - f.size()]).name)
        return false;
  return true;
}
constexpr bool consistent(const ScriptContract& s) {
  bool has_code = false;
  for (const ScriptField& f : s.reply) has_code |= f.name == "code";
  for (const ScriptField& f : s.each) has_code |= f.name == "code";
  if (has_code != (s.outcomes.size() > 0)) return false;
  for (int c : s.outcomes)
    if (!known_code(c)) return false;
  for (const ScriptRefusal& r : s.refusals)
    if (!known_code(r.code) || r.code == code::kOk) return false;
  if (s.required != SIZE_MAX && s.required > s.reply.size()) return false;
  if (s.argv_list && s.argv.size() == 0) return false;
  return distinct(s.argv, s.event_keys ? kSharedArgv : ScriptFields{}) && distinct(s.reply, s.each);
}

inline constexpr std::array<const ScriptContract*, 13> kContracts = {
    &contract::reserve, &contract::status, &contract::promote, &contract::reset,
    &contract::put,     &contract::get,    &contract::leave,   &contract::cancel,
    &contract::confirm, &contract::verify, &contract::tick,    &contract::events,
    &contract::history};

constexpr bool all_consistent() {
  for (const ScriptContract* s : kContracts)
    if (!consistent(*s)) return false;
  for (size_t i = 0; i < kContracts.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (kContracts[i]->name == kContracts[j]->name) return false;
  return true;
}
static_assert(all_consistent());

// One of the queue's scripts: what the gateway runs (Script, the seam's;
// `writes` is the contract's) and the contract its reply is read by.
struct QueueScript : Script {
  const ScriptContract* contract = nullptr;
};

struct Scripts {
  QueueScript reserve, status, promote, reset, put, get, leave, cancel, confirm, verify, tick,
      events, history;

  // In the order of kContracts.
  std::array<const QueueScript*, 13> all() const {
    return {&reserve, &status,  &promote, &reset, &put,    &get,    &leave,
            &cancel,  &confirm, &verify,  &tick,  &events, &history};
  }
};

const Scripts& scripts();

}  // namespace ticketq
