#include "core/scripts.h"

#include <openssl/sha.h>

#include <cctype>
#include <cstdio>
#include <vector>

namespace ticketq {

namespace {

std::string upper(std::string_view name) {
  std::string out(name);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string quoted(std::string_view name) {
  return "'" + std::string(name) + "'";
}

// Names every script shares, generated from the contract in scripts.h so
// that the key order, the result codes, the event states and the settings
// exist once.
std::string names_prologue() {
  std::string keys = "local ";
  std::string values;
  for (size_t i = 0; i < kEventKeys.size(); ++i) {
    keys += (i > 0 ? ", K_" : "K_") + upper(kEventKeys[i]);
    values += (i > 0 ? ", KEYS[" : "KEYS[") + std::to_string(i + 1) + "]";
  }
  std::string out = "\n" + keys + " = " + values + "\n";
  auto define = [&out](std::string_view name, int64_t value) {
    out += "local " + std::string(name) + " = " + std::to_string(value) + "\n";
  };
  for (const ScriptCode& c : kCodes) define(c.lua, c.value);
  define("SLOT_MS", kRateSlotMs);
  define("SLOTS", kRateSlots);
  define("CHUNK", kScriptChunk);
  define("HISTORY_SLOT_MS", kHistorySlotMs);
  define("HISTORY_SLOTS", kHistorySlots);
  out += "local RING_FIELDS = {'rt'";
  for (int i = 0; i < kRateSlots; ++i) out += ", 'r" + std::to_string(i) + "'";
  out += "}\n";
  out += "local HISTORY_FIELDS = {";
  for (int i = 0; i < kHistorySlots; ++i) out += (i > 0 ? ", 'h" : "'h") + std::to_string(i) + "'";
  out += "}\n";
  out += "local STATE_CODE = {";
  for (size_t i = 0; i < kEventStates.size(); ++i)
    out += (i > 0 ? ", " : "") + std::string(kEventStates[i]) + " = " + std::to_string(i);
  out += "}\n";
  static const char* kinds[] = {"size", "count", "state", "rate"};
  std::string names, kind_of;
  for (const EventSetting& s : kEventSettings) {
    names += quoted(s.name) + ", ";
    kind_of += (kind_of.empty() ? "" : ", ") + std::string(s.name) + " = " +
               quoted(kinds[static_cast<int>(s.kind)]);
  }
  out += "local SETTINGS = {" + names.substr(0, names.size() - 2) + "}\n";
  out += "local SETTING_FIELDS = {" + names + "'tickets'}\n";
  out += "local SETTING_KIND = {" + kind_of + "}\n";
  return out;
}

// The script's ARGV as Lua locals of the contract's names; a list as a
// table. ARGS holds the script's own (not the list) by name.
std::string argv_prologue(const ScriptContract& c) {
  std::vector<std::string_view> names;
  if (c.event_keys)
    for (const ScriptField& f : kSharedArgv) names.push_back(f.name);
  const size_t shared = names.size();
  for (const ScriptField& f : c.argv) names.push_back(f.name);
  std::string list;
  if (c.argv_list) {
    list = "local " + std::string(names.back()) + " = {}\nfor i = " + std::to_string(names.size()) +
           ", #ARGV do " + std::string(names.back()) + "[#" + std::string(names.back()) +
           " + 1] = ARGV[i] end\n";
    names.pop_back();
  }
  std::string locals, values, args;
  for (size_t i = 0; i < names.size(); ++i) {
    locals += (i > 0 ? ", " : "") + std::string(names[i]);
    values += (i > 0 ? ", ARGV[" : "ARGV[") + std::to_string(i + 1) + "]";
    if (i >= shared)
      args += (i > shared ? ", " : "") + std::string(names[i]) + " = " + std::string(names[i]);
  }
  std::string out;
  if (!names.empty()) out += "local " + locals + " = " + values + "\n";
  if (!args.empty()) out += "local ARGS = {" + args + "}\n";
  return out + list;
}

// Shared by every script. A stored number that is not a whole number >= 0
// is corruption: the script stops there, before any write.
constexpr const char* kPrologue = R"lua(
local function int(v, key)
  local n = tonumber(v)
  if not n or n < 0 or n ~= math.floor(n) or n == math.huge then
    error('ticketq: corrupt value in ' .. key)
  end
  return n
end

-- A command on `key` with the values of `list`, in pieces of at most CHUNK
-- values: no call grows with the input. write_each returns the sum of the
-- integer replies, read_each the replies' elements in order.
local function write_each(cmd, key, list)
  local sum = 0
  for i = 1, #list, CHUNK do
    sum = sum + redis.call(cmd, key, unpack(list, i, math.min(i + CHUNK - 1, #list)))
  end
  return sum
end

local function read_each(cmd, key, list)
  local all = {}
  for i = 1, #list, CHUNK do
    local part = redis.call(cmd, key, unpack(list, i, math.min(i + CHUNK - 1, #list)))
    for j = 1, math.min(CHUNK, #list - i + 1) do all[#all + 1] = part[j] end
  end
  return all
end

-- A counter in the stats hash; absent is 0.
local function stat(field)
  return int(redis.call('HGET', K_STATS, field) or 0, K_STATS)
end

-- A stored state; absent is open.
local function state_of(v)
  if not v then return 'open' end
  if not STATE_CODE[v] then error('ticketq: corrupt value in ' .. K_CFG) end
  return v
end

-- A stored admission rate: nil for manual (absent too), else users per
-- second.
local function rate_of(v)
  if not v or v == 'manual' then return nil end
  local n = tonumber(v)
  if not n or n < 0 or n ~= n or n == math.huge then
    error('ticketq: corrupt value in ' .. K_CFG)
  end
  return n
end

-- A stored setting (its text, nil when absent) as ev.<name> holds it: a
-- number, a state, or the rate's text. A corrupt one fails here.
local function setting(name, v)
  local kind = SETTING_KIND[name]
  if kind == 'state' then return state_of(v) end
  if kind == 'rate' then
    rate_of(v)
    return v or 'manual'
  end
  if kind == 'count' then v = v or 0 end
  return int(v, K_CFG)
end

-- The stored settings' texts by name, and the ticket counter: one read.
local function stored_settings()
  local v = redis.call('HMGET', K_CFG, unpack(SETTING_FIELDS))
  local s = {}
  for i = 1, #SETTINGS do s[SETTINGS[i]] = v[i] end
  return s, v[#SETTINGS + 1]
end

-- The event's settings (ev.<name> for each of SETTINGS, ev.rate: the
-- admission rate as a number, nil for manual; ev.tickets), or nil when it
-- does not exist. `fresh` is true for the default event while Redis holds
-- no settings for it: the script then stores default_capacity and
-- default_queue_limit with its own writes, so the first instance to touch
-- the event decides for all.
local function settings()
  local s, tickets = stored_settings()
  local fresh = false
  if not (s.capacity or s.queue_limit) then
    if default_capacity == '' then return nil end
    s.capacity, s.queue_limit, fresh = default_capacity, default_queue_limit, true
  end
  local ev = {fresh = fresh}
  for i = 1, #SETTINGS do ev[SETTINGS[i]] = setting(SETTINGS[i], s[SETTINGS[i]]) end
  ev.rate = rate_of(ev.admit_rate)
  ev.tickets = int(tickets or 0, K_CFG)
  return ev
end

-- Appends the event's settings to a reply, in the order of SETTINGS.
local function with_settings(ev, out)
  for i = 1, #SETTINGS do out[#out + 1] = ev[SETTINGS[i]] end
  return out
end

local function store_settings(ev)
  redis.call('HSET', K_CFG, 'capacity', ev.capacity, 'queue_limit', ev.queue_limit)
end

-- Redis's clock in ms: the same for every instance.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A stored hold end (a score in K_HOLDS): ms, or math.huge for never.
local function end_of(v)
  if v == 'inf' then return math.huge end
  return int(v, K_HOLDS)
end

-- A hold end as a reply integer: -1 for never.
local function end_reply(e)
  if e == math.huge then return -1 end
  return e
end

-- When a hold made at `now` ends, as stored in K_HOLDS: ms, or 'inf' when
-- the event's holds never end.
local function hold_end(ev, now)
  if ev.hold_s > 0 then return string.format('%d', now + ev.hold_s * 1000) end
  return 'inf'
end

-- Appends {now, ticket} to `beats` when the waiter's stored heartbeat is
-- missing or older than a quarter of waiter_ttl_s: polls write rarely.
local function beat_if_stale(ev, now, ticket, beats)
  local beat = redis.call('ZSCORE', K_SEEN, ticket)
  if not beat or now - int(beat, K_SEEN) > ev.waiter_ttl_s * 250 then
    beats[#beats + 1] = now
    beats[#beats + 1] = ticket
  end
end

-- A seat's ticket, and whether a verify consumed it.
local function seat_of(v)
  local t, used = string.match(v, '^(%d+)(u?)$')
  if not t then error('ticketq: corrupt value in ' .. K_SEATS) end
  return tonumber(t), used == 'u'
end

-- A user's seat: whether they hold one, its seats entry, and its hold end
-- as stored (nil: confirmed). Both are checked here, before any write.
local function seat_state(user)
  local holder = redis.call('SISMEMBER', K_RESERVED, user) == 1
  local seat = redis.call('HGET', K_SEATS, user)
  local e = redis.call('ZSCORE', K_HOLDS, user)
  if seat then seat_of(seat) end
  if e then end_of(e) end
  return holder, seat, e
end

-- Whether a caller's ticket (`claimed`; '' for an operator) names the join
-- that `ticket` is.
local function same_join(claimed, ticket)
  return claimed == '' or tonumber(claimed) == ticket
end

-- The admissions from the line in the last minute: SLOTS slots of SLOT_MS,
-- the newest being slot number `newest` (time / SLOT_MS).
local function ring()
  local v = redis.call('HMGET', K_STATS, unpack(RING_FIELDS))
  local r = {newest = int(v[1] or 0, K_STATS)}
  for i = 0, SLOTS - 1 do r[i] = int(v[i + 2] or 0, K_STATS) end
  return r
end

-- How many were admitted in the minute before `now`, and over how many ms:
-- from the start of the oldest slot that admitted anyone, at least one slot.
local function admitted_recently(r, now)
  local count, oldest = 0, nil
  for s = math.max(r.newest, math.floor(now / SLOT_MS)) - SLOTS + 1, r.newest do
    local c = r[s % SLOTS]
    if c > 0 then
      count = count + c
      oldest = oldest or s
    end
  end
  if count == 0 then return 0, 0 end
  return count, math.max(SLOT_MS, now - oldest * SLOT_MS)
end

-- Stats fields that count n more admissions at `now`, appended to `out`.
local function ring_add(r, now, n, out)
  local cur = math.max(math.floor(now / SLOT_MS), r.newest)
  for s = math.max(r.newest + 1, cur - SLOTS + 1), cur do r[s % SLOTS] = 0 end
  r[cur % SLOTS] = r[cur % SLOTS] + n
  out[#out + 1] = 'rt'
  out[#out + 1] = string.format('%d', cur)
  for i = 0, SLOTS - 1 do
    out[#out + 1] = 'r' .. i
    out[#out + 1] = string.format('%d', r[i])
  end
end

-- Stats fields that note the event's counts at `now`, after the script's
-- changes, in the history ring (scripts.h), appended to `out`.
local function history_add(now, waiting, admitted, out)
  out[#out + 1] = HISTORY_FIELDS[math.floor(now / HISTORY_SLOT_MS) % HISTORY_SLOTS + 1]
  out[#out + 1] = string.format('%d:%d:%d', now, waiting, admitted)
end

-- The first n users of the line, leaving out those in the set `skip`, with
-- their tickets: {users = {...}, tickets = {...}}. A read, and the tickets
-- are checked here, so that admit() never finds corruption after a write.
local function line_head(n, skip)
  local head = {users = {}, tickets = {}}
  if n <= 0 then return head end
  local page = redis.call('ZRANGE', K_QUEUED, 0, n + #skip - 1, 'WITHSCORES')
  local skipped = {}
  for i = 1, #skip do skipped[skip[i]] = true end
  for i = 1, #page, 2 do
    local ticket = int(page[i + 1], K_QUEUED)
    if not skipped[page[i]] and #head.users < n then
      head.users[#head.users + 1] = page[i]
      head.tickets[#head.tickets + 1] = ticket
    end
  end
  return head
end

-- Moves `head` (line_head) from the line to seats, each holding until
-- hold_s from now. The caller has read every key this writes (queued,
-- reserved, seats, holds, seen, stats). `stats_out` holds further stats
-- fields to write. Returns how many were admitted.
local function admit(ev, now, head, r, stats_out)
  local users = head.users
  local seats, holds, tickets = {}, {}, {}
  local ends = hold_end(ev, now)
  for i = 1, #users do
    seats[#seats + 1] = users[i]
    tickets[i] = string.format('%d', head.tickets[i])
    seats[#seats + 1] = tickets[i]
    holds[#holds + 1] = ends
    holds[#holds + 1] = users[i]
  end
  if #users > 0 then
    write_each('ZREM', K_QUEUED, users)
    write_each('SADD', K_RESERVED, users)
    write_each('HSET', K_SEATS, seats)
    write_each('ZADD', K_HOLDS, holds)
    write_each('ZREM', K_SEEN, tickets)
    ring_add(r, now, #users, stats_out)
  end
  if #stats_out > 0 then redis.call('HSET', K_STATS, unpack(stats_out)) end
  return #users
end
)lua";

// Reserve a batch of users, in order of arrival. A user is admitted at once
// only while seats are free and nobody waits, so nobody jumps the line. Two
// reads answer "holds a seat?" and "in line?" for the whole batch;
// decisions are made in memory; the writes follow in one go. Every first
// join takes the next ticket.
constexpr const char* kReserve = R"lua(
local ev = settings()
if not ev then return {NO_EVENT} end
local is_reserved = read_each('SMISMEMBER', K_RESERVED, users)
local ticket_of = read_each('ZMSCORE', K_QUEUED, users)
local nres = redis.call('SCARD', K_RESERVED)
local nwait = redis.call('ZCARD', K_QUEUED)
redis.call('HLEN', K_SEATS)
local holding = redis.call('ZCARD', K_HOLDS)
redis.call('ZCARD', K_SEEN)
redis.call('HLEN', K_STATS)
local tickets = ev.tickets
local stale = {}  -- tickets of waiters who asked again: a heartbeat, when theirs is old
local out, seen_code, seen_pos = {OK}, {}, {}
local new_res, new_seats, new_wait = {}, {}, {}
local repeat_of = {[RESERVED] = ALREADY_RESERVED, [QUEUED] = ALREADY_IN_QUEUE,
                   [ALREADY_RESERVED] = ALREADY_RESERVED,
                   [ALREADY_IN_QUEUE] = ALREADY_IN_QUEUE, [SOLD_OUT] = SOLD_OUT,
                   [CLOSED] = CLOSED}
for i = 1, #users do
  local u = users[i]
  local prev = seen_code[u]
  local code, pos, ticket = 0, 0, 0
  if prev then
    code, pos = repeat_of[prev], seen_pos[u]
  elseif is_reserved[i] == 1 then
    code = ALREADY_RESERVED
  elseif ticket_of[i] then
    code, pos = ALREADY_IN_QUEUE, redis.call('ZRANK', K_QUEUED, u) + 1
    if ev.waiter_ttl_s > 0 then stale[#stale + 1] = string.format('%d', int(ticket_of[i], K_QUEUED)) end
  elseif ev.state == 'closed' then
    code = CLOSED
  elseif nres < ev.capacity and nwait == 0 then
    nres = nres + 1
    tickets = tickets + 1
    new_res[#new_res + 1] = u
    new_seats[#new_seats + 1] = u
    new_seats[#new_seats + 1] = string.format('%d', tickets)
    code, ticket = RESERVED, tickets
  elseif nwait < ev.queue_limit then
    nwait = nwait + 1
    tickets = tickets + 1
    new_wait[#new_wait + 1] = u
    code, pos, ticket = QUEUED, nwait, tickets
  else
    code = SOLD_OUT
  end
  seen_code[u], seen_pos[u] = code, pos
  out[#out + 1] = code
  out[#out + 1] = pos
  out[#out + 1] = ticket
end
local now = 0
if #new_res > 0 or #new_wait > 0 or #stale > 0 then now = now_ms() end
local beats = {}
for i = 1, #stale do beat_if_stale(ev, now, stale[i], beats) end
if ev.fresh then store_settings(ev) end
if tickets ~= ev.tickets then
  redis.call('HSET', K_CFG, 'tickets', string.format('%d', tickets))
end
if #new_res > 0 then
  write_each('SADD', K_RESERVED, new_res)
  write_each('HSET', K_SEATS, new_seats)
  local holds = {}
  local ends = hold_end(ev, now)
  for i = 1, #new_res do
    holds[#holds + 1] = ends
    holds[#holds + 1] = new_res[i]
  end
  write_each('ZADD', K_HOLDS, holds)
end
if #new_wait > 0 then
  local line = {}
  local first = tickets - #new_wait
  for i = 1, #new_wait do
    line[#line + 1] = string.format('%d', first + i)
    line[#line + 1] = new_wait[i]
    if ev.waiter_ttl_s > 0 then
      beats[#beats + 1] = now
      beats[#beats + 1] = string.format('%d', first + i)
    end
  end
  write_each('ZADD', K_QUEUED, line)
end
if #beats > 0 then write_each('ZADD', K_SEEN, beats) end
if #new_res > 0 or #new_wait > 0 then
  local h = {}
  history_add(now, nwait, holding + #new_res, h)
  redis.call('HSET', K_STATS, unpack(h))
end
return out
)lua";

// Where users are, and how fast the line moves. A waiting user's status is
// a heartbeat: written only when the stored one is older than a quarter of
// waiter_ttl_s, so that polling does not write on every call. A default
// event not stored yet is answered from default_capacity and
// default_queue_limit.
constexpr const char* kStatus = R"lua(
local ev = settings()
if not ev then return {NO_EVENT} end
local now = now_ms()
local is_reserved = read_each('SMISMEMBER', K_RESERVED, users)
local count, span = admitted_recently(ring(), now)
local paused = 0
if ev.state ~= 'open' or ev.rate == 0 then paused = 1 end
local out = {OK, now, count, span, paused, ev.waiter_ttl_s, STATE_CODE[ev.state]}
local beats = {}
for i = 1, #users do
  local u = users[i]
  local code, pos, ticket, ends, used = NOT_FOUND, 0, 0, 0, 0
  if is_reserved[i] == 1 then
    code = IS_RESERVED
    local seat = redis.call('HGET', K_SEATS, u)
    if seat then
      local was_used
      ticket, was_used = seat_of(seat)
      if was_used then used = 1 end
    end
    local e = redis.call('ZSCORE', K_HOLDS, u)
    ends = -2
    if e then ends = end_reply(end_of(e)) end
  else
    local rank = redis.call('ZRANK', K_QUEUED, u)
    if rank then
      code, pos = IN_QUEUE, rank + 1
      ticket = int(redis.call('ZSCORE', K_QUEUED, u), K_QUEUED)
      if ev.waiter_ttl_s > 0 then beat_if_stale(ev, now, string.format('%d', ticket), beats) end
    end
  end
  out[#out + 1] = code
  out[#out + 1] = pos
  out[#out + 1] = ticket
  out[#out + 1] = ends
  out[#out + 1] = used
end
if #beats > 0 then write_each('ZADD', K_SEEN, beats) end
return out
)lua";

// Admit from the head of the line while seats are free, at most `limit`;
// nobody while the event is paused or closed.
constexpr const char* kPromote = R"lua(
local ev = settings()
if not ev then return {NO_EVENT} end
if ev.state ~= 'open' then return {NOT_OPEN, ev.state} end
local nres = redis.call('SCARD', K_RESERVED)
local nwait = redis.call('ZCARD', K_QUEUED)
redis.call('HLEN', K_SEATS)
local holding = redis.call('ZCARD', K_HOLDS)
redis.call('ZCARD', K_SEEN)
local promoted = stat('promoted')
local r = ring()
local n = math.min(tonumber(limit), ev.capacity - nres, nwait)
local head = line_head(n, {})
n = #head.users
local now = now_ms()
if ev.fresh then store_settings(ev) end
if n > 0 then
  local out = {'promoted', string.format('%d', promoted + n)}
  history_add(now, nwait - n, holding + n, out)
  admit(ev, now, head, r, out)
end
local out = {OK, nwait - #head.users}
for i = 1, #head.users do out[#out + 1] = head.users[i] end
return out
)lua";

// A waiting user leaves the line; everyone behind moves up by one. A user
// holding a seat is not in line (cancel gives a seat back).
constexpr const char* kLeave = R"lua(
if not settings() then return {NO_EVENT} end
local ticket = redis.call('ZSCORE', K_QUEUED, user)
local holds = redis.call('SISMEMBER', K_RESERVED, user)
redis.call('ZCARD', K_SEEN)
local left = stat('left')
if not ticket then return {OK, holds == 1 and HOLDS_SEAT or NOT_IN_LINE, 0} end
if not same_join(claimed, int(ticket, K_QUEUED)) then return {OK, OTHER_JOIN, 0} end
local rank = redis.call('ZRANK', K_QUEUED, user)
local nwait = redis.call('ZCARD', K_QUEUED)
local holding = redis.call('ZCARD', K_HOLDS)
local out = {'left', string.format('%d', left + 1)}
history_add(now_ms(), nwait - 1, holding, out)
redis.call('ZREM', K_QUEUED, user)
redis.call('ZREM', K_SEEN, string.format('%d', int(ticket, K_QUEUED)))
redis.call('HSET', K_STATS, unpack(out))
return {OK, LEFT, rank + 1}
)lua";

// A seat goes back: the user's own (`claimed` its ticket) while it is only
// held, or any seat for an operator (by_operator '1'), a sold one too.
constexpr const char* kCancel = R"lua(
if not settings() then return {NO_EVENT} end
local operator = by_operator == '1'
local holder, seat, e = seat_state(user)
local queued = redis.call('ZSCORE', K_QUEUED, user)
local waiting = 0
if queued then waiting = 1 end
local cancelled = stat('cancelled')
if not holder then
  if waiting == 1 and not same_join(claimed, int(queued, K_QUEUED)) then return {OK, OTHER_JOIN} end
  return {OK, NO_SEAT, waiting}
end
if claimed ~= '' and not (seat and same_join(claimed, seat_of(seat))) then
  return {OK, OTHER_JOIN, 0}
end
if not e and not operator then return {OK, IS_CONFIRMED, 0} end
local out = {'cancelled', string.format('%d', cancelled + 1)}
if e then
  history_add(now_ms(), redis.call('ZCARD', K_QUEUED), redis.call('ZCARD', K_HOLDS) - 1, out)
end
redis.call('SREM', K_RESERVED, user)
redis.call('HDEL', K_SEATS, user)
redis.call('ZREM', K_HOLDS, user)
redis.call('HSET', K_STATS, unpack(out))
return {OK, DONE, 0}
)lua";

// A held seat is sold: its hold no longer ends. Idempotent; a hold whose
// time is up cannot be confirmed (the sweep is about to free it).
constexpr const char* kConfirm = R"lua(
if not settings() then return {NO_EVENT} end
local holder, seat, e = seat_state(user)
local now = now_ms()
if not holder then return {OK, NO_SEAT} end
if claimed ~= '' and not (seat and same_join(claimed, seat_of(seat))) then
  return {OK, OTHER_JOIN}
end
if not e then return {OK, UNCHANGED} end
if end_of(e) <= now then return {OK, HOLD_ENDED} end
redis.call('HLEN', K_STATS)
local h = {}
history_add(now, redis.call('ZCARD', K_QUEUED), redis.call('ZCARD', K_HOLDS) - 1, h)
redis.call('ZREM', K_HOLDS, user)
redis.call('HSET', K_STATS, unpack(h))
return {OK, DONE}
)lua";

// Is the seat of this admission (`user`, ticket `claimed`) still held now?
// With consume '1' the admission is consumed: accepted once.
constexpr const char* kVerify = R"lua(
if not settings() then return {NO_EVENT} end
consume = consume == '1'
local holder, seat, e = seat_state(user)
local now = now_ms()
if not holder or not seat then return {OK, NO_SEAT} end
local ticket, used = seat_of(seat)
if not same_join(claimed, ticket) then return {OK, OTHER_JOIN} end
local confirmed, ends = 1, -2
if e then
  confirmed, ends = 0, end_of(e)
  if ends <= now then return {OK, HOLD_ENDED, 0, 0, ends} end
  ends = end_reply(ends)
end
if consume then
  if used then return {OK, USED, 0, confirmed, ends, 1} end
  redis.call('HSET', K_SEATS, user, string.format('%du', ticket))
  used = true
end
return {OK, DONE, 0, confirmed, ends, used and 1 or 0}
)lua";

// The admission timer's step, run by every instance for every event: frees
// seats whose hold ended, drops waiters silent for waiter_ttl_s, then
// admits from the head of the line at admit_rate while seats are free, at
// most sweep_max of each (`more`: the caller steps again at once; what the
// rate allows beyond the step stays in the bucket). The rate is a token
// bucket on Redis's clock shared by all instances: it holds at most BURST
// users (half a second of the rate, at least 1) and is written only when
// someone is admitted, so an idle event costs no writes. `idle`: nothing
// can change until an operator or user acts (manual admission, no waiter
// expiry, no hold that ends).
constexpr const char* kTick = R"lua(
local ev = settings()
if not ev then return {NO_EVENT} end
local max, gap = tonumber(sweep_max), tonumber(gap_ms)
local now = now_ms()
local nres = redis.call('SCARD', K_RESERVED)
local nwait = redis.call('ZCARD', K_QUEUED)
redis.call('HLEN', K_SEATS)
local holding = redis.call('ZCARD', K_HOLDS)
local ended = redis.call('ZRANGEBYSCORE', K_HOLDS, '-inf', now, 'LIMIT', 0, max)
local next_hold = redis.call('ZRANGE', K_HOLDS, #ended, #ended, 'WITHSCORES')
redis.call('ZCARD', K_SEEN)
local b = redis.call('HMGET', K_STATS, 'bucket', 'bucket_ms', 'promoted', 'expired_holds',
                     'expired_waiters', 'stepped_ms', 'grace_until')
-- With waiter expiry on, steps note when they ran (at most once a second).
-- After a gap longer than gap_ms with no step (Redis, or every
-- instance, was down: nobody could poll), waiters get one waiter_ttl_s to
-- be heard from before any of them expires.
local out = {}
local silent = {}
if ev.waiter_ttl_s > 0 then
  local stepped = b[6] and int(b[6], K_STATS)
  local grace = int(b[7] or 0, K_STATS)
  if stepped and now - stepped > gap then
    grace = now + ev.waiter_ttl_s * 1000
    out = {'grace_until', string.format('%d', grace)}
  end
  if not stepped or now - stepped >= 1000 then
    out[#out + 1] = 'stepped_ms'
    out[#out + 1] = string.format('%d', now)
  end
  if now >= grace then
    silent = redis.call('ZRANGEBYSCORE', K_SEEN, '-inf', now - ev.waiter_ttl_s * 1000, 'LIMIT', 0, max)
  end
end
-- The users of the silent tickets (none for a ticket no longer in line).
local silent_users = {}
for i = 1, #silent do
  local u = redis.call('ZRANGEBYSCORE', K_QUEUED, silent[i], silent[i], 'LIMIT', 0, 1)
  if u[1] then silent_users[#silent_users + 1] = u[1] end
end
local r = ring()
local promoted = int(b[3] or 0, K_STATS)
local n, allowance = 0, 0
if ev.rate and ev.rate > 0 and ev.state == 'open' then
  local burst = math.max(1, math.ceil(ev.rate / 2))
  local have = burst
  if b[1] then have = int(b[1], K_STATS) / 1000 end
  local since = now
  if b[2] then since = int(b[2], K_STATS) end
  allowance = math.min(burst, have + ev.rate * math.max(0, now - since) / 1000)
  n = math.max(0, math.min(math.floor(allowance), ev.capacity - (nres - #ended),
                          nwait - #silent_users, max))
end
local head = line_head(n, silent_users)
n = #head.users
if ev.fresh then store_settings(ev) end
local expired_waiters = 0
if #ended > 0 then
  write_each('SREM', K_RESERVED, ended)
  write_each('HDEL', K_SEATS, ended)
  write_each('ZREM', K_HOLDS, ended)
end
if #silent_users > 0 then expired_waiters = write_each('ZREM', K_QUEUED, silent_users) end
if #silent > 0 then write_each('ZREM', K_SEEN, silent) end
if #ended > 0 then
  out[#out + 1] = 'expired_holds'
  out[#out + 1] = string.format('%d', int(b[4] or 0, K_STATS) + #ended)
end
if expired_waiters > 0 then
  out[#out + 1] = 'expired_waiters'
  out[#out + 1] = string.format('%d', int(b[5] or 0, K_STATS) + expired_waiters)
end
if #ended > 0 or expired_waiters > 0 or n > 0 then
  history_add(now, nwait - expired_waiters - n, holding - #ended + n, out)
end
local admitted = 0
if n > 0 then
  local left = allowance - n
  out[#out + 1] = 'promoted'
  out[#out + 1] = string.format('%d', promoted + n)
  out[#out + 1] = 'bucket'
  out[#out + 1] = string.format('%d', math.floor(left * 1000))
  out[#out + 1] = 'bucket_ms'
  out[#out + 1] = string.format('%d', now)
end
if n > 0 then
  admitted = admit(ev, now, head, r, out)
elseif #out > 0 then
  redis.call('HSET', K_STATS, unpack(out))
end
local more = 0
if #ended == max or #silent == max or n == max then more = 1 end
local idle = 0
if not ev.rate and ev.waiter_ttl_s == 0 and (not next_hold[2] or next_hold[2] == 'inf') then idle = 1 end
return {OK, admitted, #ended, expired_waiters, more, idle}
)lua";

// Empty the event's queue state; its settings (and the ticket counter)
// stay. UNLINK frees big sets off the main thread, and works on keys of any
// type, so a reset also clears a corrupt event.
constexpr const char* kReset = R"lua(
local ev = settings()
if not ev then return {NO_EVENT} end
if ev.fresh then store_settings(ev) end
redis.call('UNLINK', K_RESERVED, K_QUEUED, K_STATS, K_SEATS, K_HOLDS, K_SEEN)
return {OK}
)lua";

// Create or update an event with the settings given ("" keeps one);
// a new event needs capacity and queue_limit. Capacity may not drop below
// the seats already taken: reservations are never revoked. Settings not
// given are read (a corrupt one fails here, before any write); those given
// replace whatever was stored, so a PUT also repairs. The default event
// always existed ("updated"); its missing sizes are the default ones.
constexpr const char* kPut = R"lua(
local s = stored_settings()
local existed = s.capacity or s.queue_limit
local is_default = default_capacity ~= ''
if not existed and not is_default and (capacity == '' or queue_limit == '') then
  return {NEEDS_SIZE}
end
if not existed and is_default then
  s.capacity, s.queue_limit = default_capacity, default_queue_limit
end
local ev, fields = {}, {}
for i = 1, #SETTINGS do
  local name, kind = SETTINGS[i], SETTING_KIND[SETTINGS[i]]
  local numeric = kind == 'size' or kind == 'count'
  if ARGS[name] == '' then
    ev[name] = setting(name, s[name])
  elseif numeric then
    ev[name] = tonumber(ARGS[name])
  else
    ev[name] = ARGS[name]
  end
  fields[#fields + 1] = name
  fields[#fields + 1] = numeric and string.format('%d', ev[name]) or ev[name]
end
local nres = redis.call('SCARD', K_RESERVED)
redis.call('ZCARD', K_SEEN)
if capacity ~= '' and ev.capacity < nres then return {BELOW_RESERVED, nres} end
-- Without waiter expiry no heartbeat is kept: old ones would expire the
-- line at once should it be turned on again.
if ev.waiter_ttl_s == 0 then redis.call('UNLINK', K_SEEN) end
redis.call('HSET', K_CFG, unpack(fields))
return with_settings(ev, {OK, (existed or is_default) and 0 or 1})
)lua";

constexpr const char* kGet = R"lua(
local ev = settings()
if not ev then return {NO_EVENT} end
local now = now_ms()
local nres = redis.call('SCARD', K_RESERVED)
local nwait = redis.call('ZCARD', K_QUEUED)
local holding = redis.call('ZCARD', K_HOLDS)
local c = redis.call('HMGET', K_STATS, 'promoted', 'left', 'expired_holds', 'expired_waiters',
                     'cancelled')
for i = 1, 5 do c[i] = int(c[i] or 0, K_STATS) end
local recent = admitted_recently(ring(), now)
if ev.fresh then store_settings(ev) end
return with_settings(ev, {OK, nres, nwait, c[1], c[2], holding, math.max(0, nres - holding),
                          recent, c[3], c[4], c[5]})
)lua";

// One page of the events stored in Redis: their cfg keys (no event keys;
// `pattern` is the match pattern). A keyspace walk by SCAN, a page at a
// time: the only script that is not about one event.
constexpr const char* kEvents = R"lua(
local page = redis.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', count)
local out = {OK, page[1]}
for i = 1, #page[2] do out[#out + 1] = page[2][i] end
return out
)lua";

// The history ring of the dashboard's chart (scripts.h), every stored
// slot; the reader keeps those of the last ten minutes.
constexpr const char* kHistory = R"lua(
if not settings() then return {NO_EVENT} end
local v = redis.call('HMGET', K_STATS, unpack(HISTORY_FIELDS))
local out = {OK, now_ms()}
for i = 1, HISTORY_SLOTS do
  if v[i] then
    local t, waiting, admitted = string.match(v[i], '^(%d+):(%d+):(%d+)$')
    if not t then error('ticketq: corrupt value in ' .. K_STATS) end
    out[#out + 1] = int(t, K_STATS)
    out[#out + 1] = int(waiting, K_STATS)
    out[#out + 1] = int(admitted, K_STATS)
  end
end
return out
)lua";

QueueScript make(const ScriptContract& c, const char* body) {
  static const std::string names = names_prologue();
  QueueScript s;
  s.name = c.name.data();
  s.body = names + argv_prologue(c) + kPrologue + body;
  s.writes = c.writes;
  s.contract = &c;
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(s.body.data()), s.body.size(), digest);
  char hex[3];
  for (unsigned char ch : digest) {
    std::snprintf(hex, sizeof hex, "%02x", ch);
    s.sha1 += hex;
  }
  return s;
}

}  // namespace

const Scripts& scripts() {
  static const Scripts all{
      make(contract::reserve, kReserve), make(contract::status, kStatus),
      make(contract::promote, kPromote), make(contract::reset, kReset),
      make(contract::put, kPut),         make(contract::get, kGet),
      make(contract::leave, kLeave),     make(contract::cancel, kCancel),
      make(contract::confirm, kConfirm), make(contract::verify, kVerify),
      make(contract::tick, kTick),       make(contract::events, kEvents),
      make(contract::history, kHistory),
  };
  return all;
}

}  // namespace ticketq
