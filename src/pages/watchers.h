// The live streams of one event loop (docs/pages.md): every visitor
// watching their place gets an event when it changes, and Redis is not
// asked once per watcher.
//
// Watchers are kept by event. Every tick, one script call per watched event
// reads the event's counters; only when they moved (an admission, a leave,
// an expiry, a reset, a new state), when watchers are new, or when their
// heartbeat is due (a watched waiter never expires) are the watchers'
// states read, in batched calls of up to `batch` users. Each watcher is
// sent what changed for them; a comment line every `heartbeat_ms` keeps
// proxies and the idle timeout from closing quiet streams.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/queue_core.h"
#include "pages/visitor.h"
#include "tokens/tokens.h"
#include "transport/client_address.h"
#include "transport/reply.h"

struct event_base;
struct event;

namespace ticketq {

class LoopMetrics;

struct WatchOptions {
  int64_t tick_ms = 250;         // how often watched events are read
  int64_t heartbeat_ms = 15000;  // a comment on every stream this often
  size_t batch = 1000;           // users per script call
  int64_t retry_ms = 2000;       // the reconnect delay streams are told
  // Streams open per user (event and user), over every loop of the
  // process; past max_per_user (0: no cap) a new one gets 429.
  KeyedCounts* per_user = nullptr;
  int64_t max_per_user = 0;
};

// One stream's first lines: the reconnect delay and a comment.
std::string stream_preamble(int64_t retry_ms);
// A view's data as a stream sends it: compact JSON. Made once per view;
// the digest and the event below take it.
std::string view_json(const VisitorView& v);
// What a view says, as a number: equal for views that need not be sent
// again. An admission counts by its hold's end, not its freshly signed token.
uint64_t view_digest(const VisitorView& v, std::string_view json);
// A view as one Server-Sent Event: "id: <digest>\nevent: <state>\ndata: <json>\n\n".
std::string stream_event(const VisitorView& v, uint64_t digest, std::string_view json);

class Watchers {
 public:
  Watchers(event_base* base, QueueCore& core, StreamSink& sink, const Tokens& tokens,
           WatchOptions options, LoopMetrics* metrics);
  ~Watchers();
  Watchers(const Watchers&) = delete;
  Watchers& operator=(const Watchers&) = delete;

  // Answers `reply` with a stream watching `user`'s join `ticket` of
  // `event` (`ahead_at_join`: the people ahead then, -1 unknown); the first
  // state goes out at the next tick. `last_id` is the client's
  // Last-Event-ID: that state is not sent again. Past the user's cap of
  // streams, 429.
  void open(Reply reply, Response head, const std::string& event, std::string user, int64_t ticket,
            int64_t ahead_at_join, std::string_view last_id);
  // Shutdown: every stream is told to reconnect and ended; streams opened
  // from now on are ended at once the same way.
  void farewell();
  size_t size() const { return watchers_.size(); }

 private:
  struct Watcher {
    StreamHandle stream = nullptr;
    std::string event;
    std::string user;
    int64_t ticket = 0;
    int64_t ahead_at_join = -1;
    uint64_t told = 0;  // digest of what the client has
    VisitorState state = VisitorState::kNone;
    int64_t hold_ends_ms = 0;
    bool counted = false;  // in options_.per_user
  };
  // One event's watchers on this loop.
  struct Watched {
    std::unordered_set<uint64_t> ids;
    std::vector<uint64_t> fresh;  // not read yet
    uint64_t counters = 0;        // digest of the counters last read
    int64_t waiting = 0;          // the count of waiters last read
    bool read = false;
    int64_t read_all_ms = 0;  // when every watcher's state was last read
    int calls = 0;            // Redis calls in flight
  };

  static void on_tick(int fd, short what, void* arg);
  static void on_beat(int fd, short what, void* arg);
  void tick();
  void on_counters(const std::string& event, const EventInfo& info);
  void read_users(std::map<std::string, Watched>::iterator it, const std::vector<uint64_t>& ids);
  void on_users(const std::string& event, const std::vector<uint64_t>& ids,
                const std::vector<StatusResult>& results);
  void settle(std::map<std::string, Watched>::iterator it);
  // Sends `v` to the watcher unless the client has it; ends the stream
  // after a final state.
  void tell(uint64_t id, Watcher& w, const VisitorView& v);
  void end(uint64_t id, Watcher& w);
  void remove(uint64_t id);  // the client went away

  event_base* base_;
  QueueCore& core_;
  StreamSink& sink_;
  const Tokens& tokens_;
  WatchOptions options_;
  LoopMetrics* metrics_;
  event* timer_;
  event* beat_timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  bool closing_ = false;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, Watcher> watchers_;
  std::map<std::string, Watched> events_;
};

}  // namespace ticketq
