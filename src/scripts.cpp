#include "ticketq/scripts.h"

#include <openssl/sha.h>

#include <cstdio>

namespace ticketq {

namespace {

// Shared by every script: the event's settings, or nil when it does not exist.
constexpr const char* kPrologue = R"lua(
local function settings()
  local s = redis.call('HMGET', KEYS[1], 'capacity', 'queue_limit')
  if s[1] then return tonumber(s[1]), tonumber(s[2]) end
  if ARGV[1] ~= '' then return tonumber(ARGV[1]), tonumber(ARGV[2]) end
  return nil
end
)lua";

// Reserve a batch of users, in order of arrival. A user is reserved only
// while seats are free and nobody waits, so nobody jumps the line. Two reads
// answer "reserved?" and "ticket?" for the whole batch; decisions are made in
// memory; the writes follow in one go.
constexpr const char* kReserve = R"lua(
local cap, limit = settings()
if not cap then return {-1} end
local users = {}
for i = 3, #ARGV do users[#users + 1] = ARGV[i] end
local is_reserved = redis.call('SMISMEMBER', KEYS[2], unpack(users))
local ticket_of = redis.call('HMGET', KEYS[5], unpack(users))
local nres = redis.call('SCARD', KEYS[2])
local nwait = redis.call('LLEN', KEYS[4])
local head = tonumber(redis.call('GET', KEYS[6]) or 0)
local tail = tonumber(redis.call('GET', KEYS[7]) or 0)
local out, seen_code, seen_pos = {0}, {}, {}
local new_res, new_wait, tickets = {}, {}, {}
local repeat_of = {3, 4, 3, 4, 5}
for i = 1, #users do
  local u = users[i]
  local prev = seen_code[u]
  local code, pos = 0, 0
  if prev then
    code, pos = repeat_of[prev], seen_pos[u]
  elseif is_reserved[i] == 1 then
    code = 3
  elseif ticket_of[i] then
    code, pos = 4, tonumber(ticket_of[i]) - head
  elseif nres < cap and nwait == 0 then
    nres = nres + 1
    new_res[#new_res + 1] = u
    code = 1
  elseif nwait < limit then
    nwait = nwait + 1
    tail = tail + 1
    new_wait[#new_wait + 1] = u
    tickets[#tickets + 1] = u
    tickets[#tickets + 1] = tail
    code, pos = 2, tail - head
  else
    code = 5
  end
  seen_code[u], seen_pos[u] = code, pos
  out[#out + 1] = code
  out[#out + 1] = pos
end
if #new_res > 0 then redis.call('SADD', KEYS[2], unpack(new_res)) end
if #new_wait > 0 then
  redis.call('RPUSH', KEYS[4], unpack(new_wait))
  redis.call('SADD', KEYS[3], unpack(new_wait))
  redis.call('HSET', KEYS[5], unpack(tickets))
  redis.call('SET', KEYS[7], string.format('%d', tail))
end
return out
)lua";

constexpr const char* kStatus = R"lua(
if not settings() then return {-1} end
local users = {}
for i = 3, #ARGV do users[#users + 1] = ARGV[i] end
local is_reserved = redis.call('SMISMEMBER', KEYS[2], unpack(users))
local ticket_of = redis.call('HMGET', KEYS[5], unpack(users))
local head = tonumber(redis.call('GET', KEYS[6]) or 0)
local out = {0}
for i = 1, #users do
  local code, pos = 0, 0
  if is_reserved[i] == 1 then
    code = 1
  elseif ticket_of[i] then
    code, pos = 2, tonumber(ticket_of[i]) - head
  end
  out[#out + 1] = code
  out[#out + 1] = pos
end
return out
)lua";

// Promote from the head of the line while seats are free, at most ARGV[3].
constexpr const char* kPromote = R"lua(
local cap = settings()
if not cap then return {-1} end
local n = math.min(tonumber(ARGV[3]), cap - redis.call('SCARD', KEYS[2]))
local users = {}
if n > 0 then users = redis.call('LRANGE', KEYS[4], 0, n - 1) end
if #users > 0 then
  redis.call('LTRIM', KEYS[4], #users, -1)
  redis.call('SREM', KEYS[3], unpack(users))
  redis.call('HDEL', KEYS[5], unpack(users))
  redis.call('SADD', KEYS[2], unpack(users))
  redis.call('INCRBY', KEYS[6], #users)
end
local out = {0, redis.call('LLEN', KEYS[4])}
for i = 1, #users do out[#out + 1] = users[i] end
return out
)lua";

// Empty the event's queue state; its settings stay. UNLINK frees big sets
// off the main thread.
constexpr const char* kReset = R"lua(
if not settings() then return {-1} end
redis.call('UNLINK', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7])
return {0}
)lua";

// Create or update an event. Capacity may not drop below the seats already
// taken: reservations are never revoked.
constexpr const char* kPut = R"lua(
local existed = settings() ~= nil
local nres = redis.call('SCARD', KEYS[2])
if tonumber(ARGV[3]) < nres then return {-2, nres} end
redis.call('HSET', KEYS[1], 'capacity', ARGV[3], 'queue_limit', ARGV[4])
return {0, existed and 0 or 1}
)lua";

constexpr const char* kGet = R"lua(
local cap, limit = settings()
if not cap then return {-1} end
return {0, cap, limit, redis.call('SCARD', KEYS[2]), redis.call('LLEN', KEYS[4]),
        tonumber(redis.call('GET', KEYS[6]) or 0)}
)lua";

Script make(const char* name, const char* body) {
  Script s{name, std::string(kPrologue) + body, {}};
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
  };
  return all;
}

}  // namespace ticketq
