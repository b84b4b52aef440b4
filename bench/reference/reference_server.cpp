// ticketq-reference: a MEASURING STICK, NOT A PRODUCT. Do not deploy it.
//
// The least code that answers `POST /reserve` and `GET /status/{id}` on the
// same stack as ticketq: libevent evhttp, hiredis async on its libevent
// adapter, and ONE call of ticketq's own Lua script per request (the script
// text of src/core/scripts.cpp, SCRIPT LOADed when the connection opens, run with
// EVALSHA: same keys, same semantics) for the event "default" with
// --capacity / --queue-limit. Nothing else: no JSON library (user_id is found
// by string search, replies are built with snprintf), no logging, no limits,
// no deadlines, no reconnect, no admin routes, no coalescing. `--threads N`
// runs N event loops on SO_REUSEPORT sockets, one Redis connection each.
// ticketq-bench against this and against ticketq shows what ticketq's own
// layers cost (or save) on top of the unavoidable evhttp + hiredis + Lua work.
//
//   ticketq-reference --port 8001 --redis-port 6379 --threads 2 --capacity 1000 --queue-limit
//   100000
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/scripts.h"

namespace {

struct Options {
  int port = 8001, redis_port = 6379, threads = 1;
  std::string redis_host = "127.0.0.1", redis_unix;
  long long capacity = 500, queue_limit = 500;
} opt;

std::string g_keys[ticketq::kScriptKeyCount];  // ticketq:{default}:cfg, ...
const std::string g_numkeys = std::to_string(ticketq::kScriptKeyCount);
std::string g_capacity, g_queue_limit;

struct Loop {
  event_base* base = nullptr;
  redisAsyncContext* redis = nullptr;  // null once the connection is gone
};

struct Call {
  evhttp_request* req;
  bool reserve;
  char user[65];
};

bool valid_id(const char* s, size_t n) {
  if (n == 0 || n > 64) return false;
  for (size_t i = 0; i < n; ++i)
    if (!isalnum(static_cast<unsigned char>(s[i])) && !strchr("._:@-", s[i])) return false;
  return true;
}

void send(evhttp_request* req, int code, const char* body, int len) {
  evbuffer* b = evbuffer_new();
  evbuffer_add(b, body, static_cast<size_t>(len));
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
  evhttp_send_reply(req, code, nullptr, b);
  evbuffer_free(b);
}

void fail(evhttp_request* req, int code, const char* why) {
  char buf[128];
  send(req, code, buf, snprintf(buf, sizeof buf, "{\"error\":\"%s\"}\n", why));
}

// reserve answers {0, code, position, ticket}; status {0, the line's pace
// in kStatusHeader figures, code, position, ...} (ticketq/scripts.h).
void on_reply(redisAsyncContext*, void* r, void* privdata) {
  auto* call = static_cast<Call*>(privdata);
  auto* rep = static_cast<redisReply*>(r);
  const size_t at = call->reserve ? 1 : 1 + ticketq::kStatusHeader;  // the user's code
  if (rep == nullptr || rep->type != REDIS_REPLY_ARRAY || rep->elements < at + 2 ||
      rep->element[0]->integer != 0) {
    fail(call->req, 503, "redis unavailable");
    delete call;
    return;
  }
  long long code = rep->element[at]->integer, pos = rep->element[at + 1]->integer;
  static const char* kReserve[] = {
      "", "reserved", "queued", "already_reserved", "already_in_queue", "sold_out"};
  static const char* kStatus[] = {"not_found", "reserved", "in_queue"};
  const char* name = call->reserve ? (code >= 1 && code <= 5 ? kReserve[code] : nullptr)
                                   : (code >= 0 && code <= 2 ? kStatus[code] : nullptr);
  if (name == nullptr) {
    fail(call->req, 503, "unexpected script reply");
    delete call;
    return;
  }
  bool with_pos = call->reserve ? (code == 2 || code == 4) : code == 2;
  int http = call->reserve ? (code == 5 ? 409 : 200) : (code == 0 ? 404 : 200);
  char buf[192];
  int n =
      with_pos
          ? snprintf(buf, sizeof buf, "{\"status\":\"%s\",\"user_id\":\"%s\",\"position\":%lld}\n",
                     name, call->user, pos)
          : snprintf(buf, sizeof buf, "{\"status\":\"%s\",\"user_id\":\"%s\"}\n", name, call->user);
  send(call->req, http, buf, n);
  delete call;
}

void run_script(Loop* loop, evhttp_request* req, bool reserve, const char* user, size_t len) {
  if (loop->redis == nullptr) return fail(req, 503, "redis unavailable");
  auto* call = new Call{req, reserve, {}};
  memcpy(call->user, user, len);
  const ticketq::Script& s = reserve ? ticketq::scripts().reserve : ticketq::scripts().status;
  std::vector<std::string_view> words = {"EVALSHA", s.sha1, g_numkeys};
  for (const auto& k : g_keys) words.push_back(k);
  words.push_back(g_capacity);
  words.push_back(g_queue_limit);
  words.push_back(std::string_view(user, len));
  const char* argv[16];
  size_t lens[16];
  for (size_t i = 0; i < words.size(); ++i) {
    argv[i] = words[i].data();
    lens[i] = words[i].size();
  }
  redisAsyncCommandArgv(loop->redis, on_reply, call, static_cast<int>(words.size()), argv, lens);
}

// {"user_id":"alice"}: a few lines of string search, not a JSON parser.
bool find_user(std::string_view body, const char** id, size_t* len) {
  size_t k = body.find("\"user_id\"");
  if (k == std::string_view::npos) return false;
  k += 9;
  while (k < body.size() && body[k] == ' ') ++k;
  if (k >= body.size() || body[k++] != ':') return false;
  while (k < body.size() && body[k] == ' ') ++k;
  if (k >= body.size() || body[k++] != '"') return false;
  size_t end = body.find('"', k);
  if (end == std::string_view::npos) return false;
  *id = body.data() + k;
  *len = end - k;
  return valid_id(*id, *len);
}

void on_request(evhttp_request* req, void* arg) {
  auto* loop = static_cast<Loop*>(arg);
  const char* uri = evhttp_request_get_uri(req);
  evhttp_cmd_type cmd = evhttp_request_get_command(req);
  if (cmd == EVHTTP_REQ_POST && strcmp(uri, "/reserve") == 0) {
    evbuffer* in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    const char* body = reinterpret_cast<const char*>(evbuffer_pullup(in, static_cast<ssize_t>(n)));
    const char* id;
    size_t len;
    if (body == nullptr || !find_user(std::string_view(body, n), &id, &len))
      return fail(req, 400, "user_id required");
    return run_script(loop, req, true, id, len);
  }
  if (cmd == EVHTTP_REQ_GET && strncmp(uri, "/status/", 8) == 0) {
    const char* id = uri + 8;
    if (!valid_id(id, strlen(id))) return fail(req, 400, "bad user_id");
    return run_script(loop, req, false, id, strlen(id));
  }
  fail(req, 404, "no such route");
}

void on_disconnect(const redisAsyncContext* c, int) {
  static_cast<Loop*>(c->data)->redis = nullptr;
}
void on_connect(const redisAsyncContext* c, int ok) {
  if (ok != REDIS_OK) on_disconnect(c, ok);
}

int listen_on(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 4096) != 0) {
    perror("ticketq-reference: bind/listen");
    exit(1);
  }
  evutil_make_socket_nonblocking(fd);
  return fd;
}

void serve(int fd) {
  Loop loop;
  loop.base = event_base_new();
  evhttp* http = evhttp_new(loop.base);
  evhttp_set_gencb(http, on_request, &loop);
  evhttp_accept_socket_with_handle(http, fd);
  redisAsyncContext* c = opt.redis_unix.empty()
                             ? redisAsyncConnect(opt.redis_host.c_str(), opt.redis_port)
                             : redisAsyncConnectUnix(opt.redis_unix.c_str());
  if (c == nullptr || c->err) {
    fprintf(stderr, "ticketq-reference: redis: %s\n", c ? c->errstr : "out of memory");
    exit(1);
  }
  c->data = &loop;
  redisLibeventAttach(c, loop.base);
  redisAsyncSetConnectCallback(c, on_connect);
  redisAsyncSetDisconnectCallback(c, on_disconnect);
  // Queued ahead of every EVALSHA on this connection.
  for (const ticketq::Script* s : {&ticketq::scripts().reserve, &ticketq::scripts().status})
    redisAsyncCommand(c, nullptr, nullptr, "SCRIPT LOAD %b", s->body.data(), s->body.size());
  loop.redis = c;
  event_base_dispatch(loop.base);
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (v == nullptr) a = "--help";
    if (a == "--port")
      opt.port = atoi(v);
    else if (a == "--redis-host")
      opt.redis_host = v;
    else if (a == "--redis-port")
      opt.redis_port = atoi(v);
    else if (a == "--redis-unix")
      opt.redis_unix = v;
    else if (a == "--threads")
      opt.threads = atoi(v);
    else if (a == "--capacity")
      opt.capacity = atoll(v);
    else if (a == "--queue-limit")
      opt.queue_limit = atoll(v);
    else {
      fprintf(stderr,
              "usage: ticketq-reference [--port N] [--redis-host H] [--redis-port N] "
              "[--redis-unix PATH] [--threads N] [--capacity N] [--queue-limit N]\n");
      return 2;
    }
    ++i;
  }
  if (opt.threads < 1 || opt.port < 0 || opt.capacity < 0 || opt.queue_limit < 0) return 2;
  const char* names[] = {"cfg", "reserved", "queued", "waiting", "ticket", "head", "tail"};
  for (int i = 0; i < ticketq::kScriptKeyCount; ++i)
    g_keys[i] = std::string("ticketq:{default}:") + names[i];
  g_capacity = std::to_string(opt.capacity);
  g_queue_limit = std::to_string(opt.queue_limit);
  signal(SIGPIPE, SIG_IGN);

  std::vector<int> fds = {listen_on(opt.port)};
  sockaddr_in a{};
  socklen_t alen = sizeof a;
  getsockname(fds[0], reinterpret_cast<sockaddr*>(&a), &alen);  // port 0 picks one
  int port = ntohs(a.sin_port);
  for (int i = 1; i < opt.threads; ++i) fds.push_back(listen_on(port));
  std::vector<std::thread> loops;
  for (int fd : fds) loops.emplace_back(serve, fd);
  printf("ticketq-reference listening on http://127.0.0.1:%d (%d threads)\n", port, opt.threads);
  fflush(stdout);
  for (auto& t : loops) t.join();
}
