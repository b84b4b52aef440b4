#include "base/metrics.h"

#include <prometheus/text_serializer.h>

namespace ticketq {

namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Histogram;

// Latency buckets, in seconds: 50 µs to 2.5 s.
const Histogram::BucketBoundaries& latency_buckets() {
  static const Histogram::BucketBoundaries b{0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                             0.0025,  0.005,  0.01,    0.025,  0.05,
                                             0.1,     0.25,   0.5,     1.0,    2.5};
  return b;
}

const Histogram::BucketBoundaries& batch_buckets() {
  static const Histogram::BucketBoundaries b{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000};
  return b;
}

}  // namespace

// The metric table: every family, its name and its help, in one place.
Metrics::Metrics()
    : requests(BuildCounter()
                   .Name("ticketq_http_requests_total")
                   .Help("HTTP requests answered, by route and status code")
                   .Register(*registry_)),
      request_seconds(BuildHistogram()
                          .Name("ticketq_http_request_duration_seconds")
                          .Help("Time from a request's arrival to its reply, by route")
                          .Register(*registry_)),
      redis_seconds(BuildHistogram()
                        .Name("ticketq_redis_roundtrip_seconds")
                        .Help("Time from sending a Redis call to its reply")
                        .Register(*registry_)),
      redis_errors(BuildCounter()
                       .Name("ticketq_redis_errors_total")
                       .Help("Redis calls that failed, by kind (timeout, unavailable, "
                             "overloaded, error)")
                       .Register(*registry_)),
      redis_reconnects(BuildCounter()
                           .Name("ticketq_redis_reconnects_total")
                           .Help("Redis connections re-established after a loss")
                           .Register(*registry_)),
      redis_inflight(BuildGauge()
                         .Name("ticketq_redis_inflight")
                         .Help("Redis calls waiting for a reply, by event loop")
                         .Register(*registry_)),
      redis_connected(BuildGauge()
                          .Name("ticketq_redis_connected")
                          .Help("1 when the event loop's Redis connection is up (with "
                                "Sentinel: to the master; with Cluster: to every master)")
                          .Register(*registry_)),
      redis_node_connected(BuildGauge()
                               .Name("ticketq_redis_node_connected")
                               .Help("1 when the event loop's connection to this Redis "
                                     "server is up, by loop and node (host:port)")
                               .Register(*registry_)),
      redis_node_master(BuildGauge()
                            .Name("ticketq_redis_node_master")
                            .Help("1 when this Redis server is a master for the event loop "
                                  "(its ROLE, or the Cluster's slot map), by loop and node")
                            .Register(*registry_)),
      redis_redirects(BuildCounter()
                          .Name("ticketq_redis_redirects_total")
                          .Help("Redis Cluster redirections followed or waited out, by kind "
                                "(moved, ask, tryagain, clusterdown)")
                          .Register(*registry_)),
      redis_failovers(BuildCounter()
                          .Name("ticketq_redis_failovers_total")
                          .Help("Master changes seen, by event loop: a Sentinel named "
                                "another master, or a Cluster master lost its slots")
                          .Register(*registry_)),
      batch_size(BuildHistogram()
                     .Name("ticketq_coalesced_batch_users")
                     .Help("Users per coalesced reserve/status script call")
                     .Register(*registry_)),
      promoted(BuildCounter()
                   .Name("ticketq_promoted_users_total")
                   .Help("Users promoted from the line to a seat, by event")
                   .Register(*registry_)),
      event_reserved(BuildGauge()
                         .Name("ticketq_event_reserved")
                         .Help("Seats reserved, by event (read from Redis at scrape time)")
                         .Register(*registry_)),
      event_waiting(BuildGauge()
                        .Name("ticketq_event_waiting")
                        .Help("Users waiting in line, by event (read from Redis at scrape time)")
                        .Register(*registry_)),
      event_admitted(BuildGauge()
                         .Name("ticketq_event_admitted")
                         .Help("Seats held by admitted users who have not confirmed, by event "
                               "(read from Redis at scrape time)")
                         .Register(*registry_)),
      event_confirmed(BuildGauge()
                          .Name("ticketq_event_confirmed")
                          .Help("Seats confirmed (sold), by event (read from Redis at scrape time)")
                          .Register(*registry_)),
      event_admitted_last_minute(
          BuildGauge()
              .Name("ticketq_event_admitted_last_minute")
              .Help("Users admitted from the line in the last minute, by event (read from Redis "
                    "at scrape time)")
              .Register(*registry_)),
      connections(BuildGauge()
                      .Name("ticketq_http_connections")
                      .Help("Open client connections")
                      .Register(*registry_)),
      connections_refused(BuildCounter()
                              .Name("ticketq_http_connections_refused_total")
                              .Help("Connections refused at once: with 503 past "
                                    "max_connections or out of file descriptors "
                                    "(reason=\"max_connections\"), with 429 past "
                                    "max_connections_per_client (reason=\"per_client\")")
                              .Register(*registry_)),
      slow_requests(BuildCounter()
                        .Name("ticketq_http_slow_requests_total")
                        .Help("Connections closed because a request did not arrive in full "
                              "within request_read_timeout_ms")
                        .Register(*registry_)),
      slow_readers(BuildCounter()
                       .Name("ticketq_http_slow_readers_total")
                       .Help("Connections closed because the client took no byte of its replies "
                             "within idle_timeout_s")
                       .Register(*registry_)),
      streams(BuildGauge()
                  .Name("ticketq_streams")
                  .Help("Open event streams (GET /v1/events/{event}/stream)")
                  .Register(*registry_)),
      stream_events(BuildCounter()
                        .Name("ticketq_stream_events_total")
                        .Help("Events sent on streams, by state")
                        .Register(*registry_)),
      stream_reads(BuildCounter()
                       .Name("ticketq_stream_redis_calls_total")
                       .Help("Redis calls made for stream watchers: kind=event (one per watched "
                             "event per tick), kind=users (a batch of watchers' states)")
                       .Register(*registry_)) {}

std::string Metrics::render() const {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(registry_->Collect());
}

void Metrics::note_event(const std::string& event) {
  std::lock_guard<std::mutex> lock(events_mutex_);
  if (events_.size() < kMaxTrackedEvents) events_.insert(event);
}

std::set<std::string> Metrics::events() const {
  std::lock_guard<std::mutex> lock(events_mutex_);
  return events_;
}

LoopMetrics::LoopMetrics(Metrics& m, int loop)
    : m_(m),
      loop_(std::to_string(loop)),
      redis_seconds_(m.redis_seconds.Add({}, latency_buckets())),
      reconnects_(m.redis_reconnects.Add({})),
      inflight_(m.redis_inflight.Add({{"loop", std::to_string(loop)}})),
      connected_(m.redis_connected.Add({{"loop", std::to_string(loop)}})),
      failovers_(m.redis_failovers.Add({{"loop", std::to_string(loop)}})),
      batch_size_(m.batch_size.Add({}, batch_buckets())),
      connections_(m.connections.Add({{"loop", std::to_string(loop)}})),
      refused_(m.connections_refused.Add({{"reason", "max_connections"}})),
      refused_client_(m.connections_refused.Add({{"reason", "per_client"}})),
      slow_(m.slow_requests.Add({})),
      slow_readers_(m.slow_readers.Add({})),
      streams_(m.streams.Add({{"loop", std::to_string(loop)}})),
      stream_reads_event_(m.stream_reads.Add({{"kind", "event"}})),
      stream_reads_users_(m.stream_reads.Add({{"kind", "users"}})) {
  // Series that alerts watch exist from the start, at 0.
  for (const char* kind : {"timeout", "unavailable", "overloaded", "error"}) redis_error_at(kind);
}

// `state` is one of a fixed set of string literals, so its address is a key.
void LoopMetrics::stream_event(const char* state) {
  prometheus::Counter*& c = stream_events_[state];
  if (c == nullptr) c = &m_.stream_events.Add({{"state", state}});
  c->Increment();
}

// `route` is one of a fixed set of string literals, so its address is a key.
void LoopMetrics::request(const char* route, int code, double seconds) {
  auto& counter = requests_[{route, code}];
  if (counter == nullptr)
    counter = &m_.requests.Add({{"route", route}, {"code", std::to_string(code)}});
  counter->Increment();
  auto& hist = request_seconds_[route];
  if (hist == nullptr) hist = &m_.request_seconds.Add({{"route", route}}, latency_buckets());
  hist->Observe(seconds);
}

void LoopMetrics::redis_call(double seconds) {
  redis_seconds_.Observe(seconds);
}

prometheus::Counter& LoopMetrics::redis_error_at(const char* kind) {
  auto& counter = errors_[kind];
  if (counter == nullptr) counter = &m_.redis_errors.Add({{"kind", kind}});
  return *counter;
}

void LoopMetrics::redis_error(const char* kind) {
  redis_error_at(kind).Increment();
}

void LoopMetrics::node_connected(const std::string& node, bool up) {
  m_.redis_node_connected.Add({{"loop", loop_}, {"node", node}}).Set(up ? 1 : 0);
}

void LoopMetrics::node_master(const std::string& node, bool master) {
  m_.redis_node_master.Add({{"loop", loop_}, {"node", node}}).Set(master ? 1 : 0);
}

// `kind` is one of a fixed set of string literals, so its address is a key.
void LoopMetrics::redirect(const char* kind) {
  prometheus::Counter*& c = redirects_[kind];
  if (c == nullptr) c = &m_.redis_redirects.Add({{"kind", kind}});
  c->Increment();
}

void LoopMetrics::promoted(const std::string& event, size_t n) {
  auto& counter = promoted_[event];
  if (counter == nullptr) counter = &m_.promoted.Add({{"event", event}});
  counter->Increment(static_cast<double>(n));
}

}  // namespace ticketq
