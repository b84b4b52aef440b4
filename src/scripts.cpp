#include "ticketq/scripts.h"

#include <openssl/sha.h>

#include <cctype>
#include <cstdio>

namespace ticketq {

namespace {

// Names every script shares, generated from the C++ definitions in
// scripts.h so that the key order and the result codes exist once.
std::string names_prologue() {
  std::string keys = "local ";
  std::string values;
  for (size_t i = 0; i < kEventKeys.size(); ++i) {
    std::string name = kEventKeys[i];
    for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    keys += (i > 0 ? ", K_" : "K_") + name;
    values += (i > 0 ? ", KEYS[" : "KEYS[") + std::to_string(i + 1) + "]";
  }
  std::string out = "\n" + keys + " = " + values + "\n";
  auto define = [&out](const char* name, int value) {
    out += "local " + std::string(name) + " = " + std::to_string(value) + "\n";
  };
  define("NO_EVENT", code::kNoEvent);
  define("BELOW_RESERVED", code::kBelowReserved);
  define("NOT_OPEN", code::kNotOpen);
  define("NEEDS_SIZE", code::kNeedsSize);
  define("OK", code::kOk);
  define("RESERVED", code::kReserved);
  define("QUEUED", code::kQueued);
  define("ALREADY_RESERVED", code::kAlreadyReserved);
  define("ALREADY_IN_QUEUE", code::kAlreadyInQueue);
  define("SOLD_OUT", code::kSoldOut);
  define("CLOSED", code::kClosed);
  define("NOT_FOUND", code::kNotFound);
  define("IS_RESERVED", code::kIsReserved);
  define("IN_QUEUE", code::kInQueue);
  define("NOT_IN_LINE", code::kNotInLine);
  define("LEFT", code::kLeft);
  define("HOLDS_SEAT", code::kHoldsSeat);
  return out;
}

// Shared by every script. A stored number that is not a whole number >= 0
// is corruption: the script stops there, before any write.
constexpr const char* kPrologue = R"lua(
local function int(v, key)
  local n = tonumber(v)
  if not n or n < 0 or n ~= math.floor(n) then
    error('ticketq: corrupt value in ' .. key)
  end
  return n
end

-- A counter in the stats hash; absent is 0.
local function stat(field)
  return int(redis.call('HGET', K_STATS, field) or 0, K_STATS)
end

-- A stored state; absent is open.
local function state_of(v)
  if not v then return 'open' end
  if v ~= 'open' and v ~= 'paused' and v ~= 'closed' then
    error('ticketq: corrupt value in ' .. K_CFG)
  end
  return v
end

-- The event's capacity, queue_limit, whether it is fresh, and its state;
-- nil when it does not exist. `fresh` is true for the default event while
-- Redis holds no settings for it: the script then stores ARGV[1], ARGV[2]
-- with its own writes, so the first instance to touch the event decides
-- for all.
local function settings()
  local s = redis.call('HMGET', K_CFG, 'capacity', 'queue_limit', 'state')
  if s[1] or s[2] then return int(s[1], K_CFG), int(s[2], K_CFG), false, state_of(s[3]) end
  if ARGV[1] ~= '' then return tonumber(ARGV[1]), tonumber(ARGV[2]), true, 'open' end
  return nil
end

local function store_settings(cap, limit)
  redis.call('HSET', K_CFG, 'capacity', cap, 'queue_limit', limit)
end

-- The ticket of the last user in line (0 for an empty line): tickets only
-- grow, so the line's order is join order.
local function last_ticket()
  local last = redis.call('ZRANGE', K_QUEUED, -1, -1, 'WITHSCORES')
  if last[2] then return int(last[2], K_QUEUED) end
  return 0
end
)lua";

// Reserve a batch of users, in order of arrival. A user is reserved only
// while seats are free and nobody waits, so nobody jumps the line. Two reads
// answer "reserved?" and "in line?" for the whole batch; decisions are made
// in memory; the writes follow in one go.
constexpr const char* kReserve = R"lua(
local cap, limit, fresh, state = settings()
if not cap then return {NO_EVENT} end
local users = {}
for i = 3, #ARGV do users[#users + 1] = ARGV[i] end
local is_reserved = redis.call('SMISMEMBER', K_RESERVED, unpack(users))
local ticket_of = redis.call('ZMSCORE', K_QUEUED, unpack(users))
local nres = redis.call('SCARD', K_RESERVED)
local nwait = redis.call('ZCARD', K_QUEUED)
local tail = last_ticket()
local out, seen_code, seen_pos = {OK}, {}, {}
local new_res, new_wait = {}, {}
local repeat_of = {[RESERVED] = ALREADY_RESERVED, [QUEUED] = ALREADY_IN_QUEUE,
                   [ALREADY_RESERVED] = ALREADY_RESERVED,
                   [ALREADY_IN_QUEUE] = ALREADY_IN_QUEUE, [SOLD_OUT] = SOLD_OUT,
                   [CLOSED] = CLOSED}
for i = 1, #users do
  local u = users[i]
  local prev = seen_code[u]
  local code, pos = 0, 0
  if prev then
    code, pos = repeat_of[prev], seen_pos[u]
  elseif is_reserved[i] == 1 then
    code = ALREADY_RESERVED
  elseif ticket_of[i] then
    code, pos = ALREADY_IN_QUEUE, redis.call('ZRANK', K_QUEUED, u) + 1
  elseif state == 'closed' then
    code = CLOSED
  elseif nres < cap and nwait == 0 then
    nres = nres + 1
    new_res[#new_res + 1] = u
    code = RESERVED
  elseif nwait < limit then
    nwait = nwait + 1
    tail = tail + 1
    new_wait[#new_wait + 1] = string.format('%d', tail)
    new_wait[#new_wait + 1] = u
    code, pos = QUEUED, nwait
  else
    code = SOLD_OUT
  end
  seen_code[u], seen_pos[u] = code, pos
  out[#out + 1] = code
  out[#out + 1] = pos
end
if fresh then store_settings(cap, limit) end
if #new_res > 0 then redis.call('SADD', K_RESERVED, unpack(new_res)) end
if #new_wait > 0 then redis.call('ZADD', K_QUEUED, unpack(new_wait)) end
return out
)lua";

// Read-only: a default event not stored yet is answered from ARGV.
constexpr const char* kStatus = R"lua(
if not settings() then return {NO_EVENT} end
local users = {}
for i = 3, #ARGV do users[#users + 1] = ARGV[i] end
local is_reserved = redis.call('SMISMEMBER', K_RESERVED, unpack(users))
local out = {OK}
for i = 1, #users do
  local code, pos = NOT_FOUND, 0
  if is_reserved[i] == 1 then
    code = IS_RESERVED
  else
    local rank = redis.call('ZRANK', K_QUEUED, users[i])
    if rank then code, pos = IN_QUEUE, rank + 1 end
  end
  out[#out + 1] = code
  out[#out + 1] = pos
end
return out
)lua";

// Promote from the head of the line while seats are free, at most ARGV[3];
// nobody while the event is paused or closed.
constexpr const char* kPromote = R"lua(
local cap, limit, fresh, state = settings()
if not cap then return {NO_EVENT} end
if state ~= 'open' then return {NOT_OPEN, state} end
local nres = redis.call('SCARD', K_RESERVED)
local nwait = redis.call('ZCARD', K_QUEUED)
local promoted = stat('promoted')
local n = math.min(tonumber(ARGV[3]), cap - nres, nwait)
if fresh then store_settings(cap, limit) end
local users = {}
if n > 0 then
  local popped = redis.call('ZPOPMIN', K_QUEUED, n)
  for i = 1, #popped, 2 do users[#users + 1] = popped[i] end
  redis.call('SADD', K_RESERVED, unpack(users))
  redis.call('HSET', K_STATS, 'promoted', string.format('%d', promoted + #users))
end
local out = {OK, nwait - #users}
for i = 1, #users do out[#out + 1] = users[i] end
return out
)lua";

// A waiting user leaves the line; everyone behind moves up by one. A user
// holding a seat is not in line (cancelling a seat is another operation).
constexpr const char* kLeave = R"lua(
if not settings() then return {NO_EVENT} end
local user = ARGV[3]
local rank = redis.call('ZRANK', K_QUEUED, user)
local holds = redis.call('SISMEMBER', K_RESERVED, user)
local left = stat('left')
if not rank then return {OK, holds == 1 and HOLDS_SEAT or NOT_IN_LINE, 0} end
redis.call('ZREM', K_QUEUED, user)
redis.call('HSET', K_STATS, 'left', string.format('%d', left + 1))
return {OK, LEFT, rank + 1}
)lua";

// Empty the event's queue state; its settings stay. UNLINK frees big sets
// off the main thread, and works on keys of any type, so a reset also
// clears a corrupt event.
constexpr const char* kReset = R"lua(
local cap, limit, fresh = settings()
if not cap then return {NO_EVENT} end
if fresh then store_settings(cap, limit) end
redis.call('UNLINK', K_RESERVED, K_QUEUED, K_STATS)
return {OK}
)lua";

// Create or update an event with the settings given (ARGV "" keeps one);
// a new event needs capacity and queue_limit. Capacity may not drop below
// the seats already taken: reservations are never revoked. Settings not
// given are read (a corrupt one fails here, before any write); those given
// replace whatever was stored, so a PUT also repairs. The default event
// always existed ("updated"); its missing settings come from ARGV[1..2].
constexpr const char* kPut = R"lua(
local stored = redis.call('HMGET', K_CFG, 'capacity', 'queue_limit', 'state')
local existed = stored[1] or stored[2]
local is_default = ARGV[1] ~= ''
if not existed and not is_default and (ARGV[3] == '' or ARGV[4] == '') then
  return {NEEDS_SIZE}
end
local cap, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
if not cap then cap = existed and int(stored[1], K_CFG) or tonumber(ARGV[1]) end
if not limit then limit = existed and int(stored[2], K_CFG) or tonumber(ARGV[2]) end
local state = ARGV[5]
if state == '' then state = existed and state_of(stored[3]) or 'open' end
local nres = redis.call('SCARD', K_RESERVED)
if ARGV[3] ~= '' and cap < nres then return {BELOW_RESERVED, nres} end
redis.call('HSET', K_CFG, 'capacity', string.format('%d', cap),
           'queue_limit', string.format('%d', limit), 'state', state)
return {OK, (existed or is_default) and 0 or 1, cap, limit, state}
)lua";

constexpr const char* kGet = R"lua(
local cap, limit, fresh, state = settings()
if not cap then return {NO_EVENT} end
local nres = redis.call('SCARD', K_RESERVED)
local nwait = redis.call('ZCARD', K_QUEUED)
local promoted, left = stat('promoted'), stat('left')
if fresh then store_settings(cap, limit) end
return {OK, cap, limit, nres, nwait, promoted, left, state}
)lua";

Script make(const char* name, const char* body) {
  static const std::string names = names_prologue();
  Script s{name, names + kPrologue + body, {}};
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(s.body.data()), s.body.size(), digest);
  char hex[3];
  for (unsigned char c : digest) {
    std::snprintf(hex, sizeof hex, "%02x", c);
    s.sha1 += hex;
  }
  return s;
}

}  // namespace

const Scripts& scripts() {
  static const Scripts all{
      make("reserve", kReserve), make("status", kStatus), make("promote", kPromote),
      make("reset", kReset),     make("put", kPut),       make("get", kGet),
      make("leave", kLeave),
  };
  return all;
}

}  // namespace ticketq
