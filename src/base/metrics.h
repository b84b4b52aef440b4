// Prometheus metrics (prometheus-cpp core registry and text serializer,
// served at GET /metrics). One Metrics object is shared by
// every event loop; prometheus-cpp's counters and histograms are thread-safe.
// Each loop caches its labelled series (LoopMetrics) so the hot path never
// looks a label set up twice.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>

namespace ticketq {

class Metrics {
  // Declared first: the families below are registered in it.
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();

 public:
  Metrics();

  // Prometheus text exposition format, version 0.0.4.
  std::string render() const;

  // Events this process has served, for the per-event gauges (bounded).
  void note_event(const std::string& event);
  std::set<std::string> events() const;
  static constexpr size_t kMaxTrackedEvents = 200;

  // The families; series are created through LoopMetrics.
  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Histogram>& request_seconds;
  prometheus::Family<prometheus::Histogram>& redis_seconds;
  prometheus::Family<prometheus::Counter>& redis_errors;
  prometheus::Family<prometheus::Counter>& redis_reconnects;
  prometheus::Family<prometheus::Gauge>& redis_inflight;
  prometheus::Family<prometheus::Gauge>& redis_connected;
  prometheus::Family<prometheus::Gauge>& redis_node_connected;
  prometheus::Family<prometheus::Gauge>& redis_node_master;
  prometheus::Family<prometheus::Counter>& redis_redirects;
  prometheus::Family<prometheus::Counter>& redis_failovers;
  prometheus::Family<prometheus::Histogram>& batch_size;
  prometheus::Family<prometheus::Counter>& promoted;
  prometheus::Family<prometheus::Gauge>& event_reserved;
  prometheus::Family<prometheus::Gauge>& event_waiting;
  prometheus::Family<prometheus::Gauge>& event_admitted;
  prometheus::Family<prometheus::Gauge>& event_confirmed;
  prometheus::Family<prometheus::Gauge>& event_admitted_last_minute;
  prometheus::Family<prometheus::Gauge>& connections;
  prometheus::Family<prometheus::Counter>& connections_refused;
  prometheus::Family<prometheus::Counter>& slow_requests;
  prometheus::Family<prometheus::Counter>& slow_readers;
  prometheus::Family<prometheus::Gauge>& streams;
  prometheus::Family<prometheus::Counter>& stream_events;
  prometheus::Family<prometheus::Counter>& stream_reads;

  // Open client connections over all loops (the cap's count).
  std::atomic<int64_t> open_connections{0};

 private:
  mutable std::mutex events_mutex_;
  std::set<std::string> events_;
};

// One loop's handles on the shared metrics. Not thread-safe: one per loop.
class LoopMetrics {
 public:
  LoopMetrics(Metrics& m, int loop);

  void request(const char* route, int code, double seconds);
  void redis_call(double seconds);
  void redis_error(const char* kind);
  void reconnect() { reconnects_.Increment(); }
  void set_inflight(size_t n) { inflight_.Set(static_cast<double>(n)); }
  void set_connected(bool up) { connected_.Set(up ? 1 : 0); }
  // One Redis server of this loop (host:port): connected, and a master
  // (ROLE says so, or the Cluster's slot map).
  void node_connected(const std::string& node, bool up);
  void node_master(const std::string& node, bool master);
  // A Cluster redirection followed or waited out: "moved", "ask",
  // "tryagain", "clusterdown".
  void redirect(const char* kind);
  // The master moved: a Sentinel named another, or a Cluster master lost
  // its slots to another node.
  void failover() { failovers_.Increment(); }
  void batch(size_t users) { batch_size_.Observe(static_cast<double>(users)); }
  void promoted(const std::string& event, size_t n);
  void connection_opened() { connections_.Increment(); }
  void connection_closed() { connections_.Decrement(); }
  // Past max_connections (or out of descriptors): 503.
  void connection_refused() { refused_.Increment(); }
  // Past max_connections_per_client: 429.
  void connection_refused_client() { refused_client_.Increment(); }
  void slow_request() { slow_.Increment(); }
  void slow_reader() { slow_readers_.Increment(); }
  void stream_opened() { streams_.Increment(); }
  void stream_closed() { streams_.Decrement(); }
  void stream_event(const char* state);
  // A Redis call made for the watchers ("event": the counters of a watched
  // event; "users": a batch of watchers' states).
  void stream_read(bool users) { (users ? stream_reads_users_ : stream_reads_event_).Increment(); }

  Metrics& shared() { return m_; }

 private:
  prometheus::Counter& redis_error_at(const char* kind);

  Metrics& m_;
  std::string loop_;
  std::map<std::pair<const char*, int>, prometheus::Counter*> requests_;
  std::map<const char*, prometheus::Histogram*> request_seconds_;
  std::map<std::string, prometheus::Counter*> errors_;
  std::map<std::string, prometheus::Counter*> promoted_;
  prometheus::Histogram& redis_seconds_;
  prometheus::Counter& reconnects_;
  prometheus::Gauge& inflight_;
  prometheus::Gauge& connected_;
  prometheus::Counter& failovers_;
  std::map<const char*, prometheus::Counter*> redirects_;
  prometheus::Histogram& batch_size_;
  prometheus::Gauge& connections_;
  prometheus::Counter& refused_;
  prometheus::Counter& refused_client_;
  prometheus::Counter& slow_;
  prometheus::Counter& slow_readers_;
  prometheus::Gauge& streams_;
  std::map<const char*, prometheus::Counter*> stream_events_;
  prometheus::Counter& stream_reads_event_;
  prometheus::Counter& stream_reads_users_;
};

}  // namespace ticketq
