// Tests of src/base/metrics.cpp: what a loop records shows up in the
// Prometheus text under the metric's name and labels, the series alerts
// watch exist from the start, loops share one registry, and the set of
// tracked events stays bounded.
#include "base/metrics.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace ticketq {
namespace {

// The exposition text as series ("name{labels}") -> value; comments skipped.
std::map<std::string, double> scrape(const Metrics& m) {
  std::map<std::string, double> out;
  std::istringstream in(m.render());
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

// The value of one series, or -1 if the text does not have it.
double value(const Metrics& m, const std::string& series) {
  auto all = scrape(m);
  auto it = all.find(series);
  return it == all.end() ? -1 : it->second;
}

// Each series of `want` has its value (-1: the text does not have it).
void expect_values(const Metrics& m, const std::vector<std::pair<std::string, double>>& want) {
  auto all = scrape(m);
  for (const auto& [series, v] : want) {
    auto it = all.find(series);
    EXPECT_EQ(it == all.end() ? -1 : it->second, v) << series;
  }
}

// Dashboards and alerts know the families by name and type. A family shows
// only once it has a series, so the test gives each one.
TEST(MetricsTest, EveryFamilyIsExposedUnderItsNameAndType) {
  Metrics m;
  EXPECT_EQ(m.render().find("# TYPE"), std::string::npos) << "no series, no family";
  const prometheus::Histogram::BucketBoundaries one_bucket{1};
  struct Row {
    const char* name;
    const char* type;
  };
  std::vector<Row> rows;
  auto counter = [&](prometheus::Family<prometheus::Counter>& f, const char* name) {
    f.Add({});
    rows.push_back({name, "counter"});
  };
  auto gauge = [&](prometheus::Family<prometheus::Gauge>& f, const char* name) {
    f.Add({});
    rows.push_back({name, "gauge"});
  };
  auto histogram = [&](prometheus::Family<prometheus::Histogram>& f, const char* name) {
    f.Add({}, one_bucket);
    rows.push_back({name, "histogram"});
  };
  counter(m.requests, "ticketq_http_requests_total");
  histogram(m.request_seconds, "ticketq_http_request_duration_seconds");
  histogram(m.redis_seconds, "ticketq_redis_roundtrip_seconds");
  counter(m.redis_errors, "ticketq_redis_errors_total");
  counter(m.redis_reconnects, "ticketq_redis_reconnects_total");
  gauge(m.redis_inflight, "ticketq_redis_inflight");
  gauge(m.redis_connected, "ticketq_redis_connected");
  gauge(m.redis_node_connected, "ticketq_redis_node_connected");
  gauge(m.redis_node_master, "ticketq_redis_node_master");
  counter(m.redis_redirects, "ticketq_redis_redirects_total");
  counter(m.redis_failovers, "ticketq_redis_failovers_total");
  histogram(m.batch_size, "ticketq_coalesced_batch_users");
  counter(m.promoted, "ticketq_promoted_users_total");
  gauge(m.event_reserved, "ticketq_event_reserved");
  gauge(m.event_waiting, "ticketq_event_waiting");
  gauge(m.event_admitted, "ticketq_event_admitted");
  gauge(m.event_confirmed, "ticketq_event_confirmed");
  gauge(m.event_admitted_last_minute, "ticketq_event_admitted_last_minute");
  gauge(m.connections, "ticketq_http_connections");
  counter(m.connections_refused, "ticketq_http_connections_refused_total");
  counter(m.slow_requests, "ticketq_http_slow_requests_total");
  counter(m.slow_readers, "ticketq_http_slow_readers_total");
  gauge(m.streams, "ticketq_streams");
  counter(m.stream_events, "ticketq_stream_events_total");
  counter(m.stream_reads, "ticketq_stream_redis_calls_total");

  const std::string text = "\n" + m.render();
  for (const Row& r : rows) {
    SCOPED_TRACE(r.name);
    EXPECT_NE(text.find(std::string("\n# HELP ") + r.name + " "), std::string::npos);
    EXPECT_NE(text.find(std::string("\n# TYPE ") + r.name + " " + r.type + "\n"),
              std::string::npos);
  }
}

// Alerts on Redis errors and refused connections must see a 0 before the
// first one happens, or a rate() over them has nothing to start from.
TEST(MetricsTest, SeriesThatAlertsWatchExistAtZeroFromTheStart) {
  Metrics m;
  LoopMetrics loop(m, 0);
  auto all = scrape(m);
  for (const char* series :
       {"ticketq_redis_errors_total{kind=\"timeout\"}",
        "ticketq_redis_errors_total{kind=\"unavailable\"}",
        "ticketq_redis_errors_total{kind=\"overloaded\"}",
        "ticketq_redis_errors_total{kind=\"error\"}", "ticketq_redis_reconnects_total",
        "ticketq_http_connections_refused_total{reason=\"max_connections\"}",
        "ticketq_http_connections_refused_total{reason=\"per_client\"}",
        "ticketq_http_slow_requests_total", "ticketq_http_slow_readers_total",
        "ticketq_redis_connected{loop=\"0\"}", "ticketq_redis_inflight{loop=\"0\"}",
        "ticketq_http_connections{loop=\"0\"}", "ticketq_streams{loop=\"0\"}",
        "ticketq_stream_redis_calls_total{kind=\"event\"}",
        "ticketq_stream_redis_calls_total{kind=\"users\"}"}) {
    SCOPED_TRACE(series);
    ASSERT_TRUE(all.count(series));
    EXPECT_EQ(all[series], 0);
  }
}

TEST(MetricsTest, RequestsCountByRouteAndCodeAndTimeByRoute) {
  Metrics m;
  LoopMetrics loop(m, 0);
  loop.request("reserve", 200, 0.0004);
  loop.request("reserve", 200, 0.003);
  loop.request("reserve", 503, 2.0);
  loop.request("status", 200, 0.00001);
  expect_values(m, {
                       {"ticketq_http_requests_total{code=\"200\",route=\"reserve\"}", 2},
                       {"ticketq_http_requests_total{code=\"503\",route=\"reserve\"}", 1},
                       {"ticketq_http_requests_total{code=\"200\",route=\"status\"}", 1},
                       {"ticketq_http_requests_total{code=\"503\",route=\"status\"}", -1},
                   });

  const std::string h = "ticketq_http_request_duration_seconds";
  EXPECT_EQ(value(m, h + "_count{route=\"reserve\"}"), 3);
  EXPECT_NEAR(value(m, h + "_sum{route=\"reserve\"}"), 2.0034, 1e-9);
  // Cumulative buckets of 50 µs .. 2.5 s.
  expect_values(m, {
                       {h + "_bucket{route=\"reserve\",le=\"0.0005\"}", 1},
                       {h + "_bucket{route=\"reserve\",le=\"0.005\"}", 2},
                       {h + "_bucket{route=\"reserve\",le=\"1\"}", 2},
                       {h + "_bucket{route=\"reserve\",le=\"2.5\"}", 3},
                       {h + "_bucket{route=\"status\",le=\"5e-05\"}", 1},
                       {h + "_count{route=\"status\"}", 1},
                   });
}

// The loop caches series by the route's address; a route of equal text at
// another address must still land in the same series.
TEST(MetricsTest, RoutesOfEqualTextShareOneSeries) {
  Metrics m;
  LoopMetrics loop(m, 0);
  std::string copy = "reserve";
  loop.request("reserve", 200, 0.001);
  loop.request(copy.c_str(), 200, 0.001);
  EXPECT_EQ(value(m, "ticketq_http_requests_total{code=\"200\",route=\"reserve\"}"), 2);
  EXPECT_EQ(value(m, "ticketq_http_request_duration_seconds_count{route=\"reserve\"}"), 2);
}

TEST(MetricsTest, GaugesArePerLoopAndCountersWithoutALoopAreShared) {
  Metrics m;
  LoopMetrics zero(m, 0);
  LoopMetrics one(m, 1);
  zero.connection_opened();
  zero.connection_opened();
  zero.connection_closed();
  one.connection_opened();
  one.connection_opened();
  one.connection_opened();
  zero.set_inflight(7);
  one.set_connected(true);
  zero.set_connected(false);
  zero.stream_opened();
  zero.reconnect();
  one.reconnect();
  one.failover();

  expect_values(m, {
                       {"ticketq_http_connections{loop=\"0\"}", 1},
                       {"ticketq_http_connections{loop=\"1\"}", 3},
                       {"ticketq_redis_inflight{loop=\"0\"}", 7},
                       {"ticketq_redis_inflight{loop=\"1\"}", 0},
                       {"ticketq_redis_connected{loop=\"0\"}", 0},
                       {"ticketq_redis_connected{loop=\"1\"}", 1},
                       {"ticketq_streams{loop=\"0\"}", 1},
                       {"ticketq_streams{loop=\"1\"}", 0},
                       {"ticketq_redis_reconnects_total", 2},
                       {"ticketq_redis_failovers_total{loop=\"0\"}", 0},
                       {"ticketq_redis_failovers_total{loop=\"1\"}", 1},
                   });
}

TEST(MetricsTest, KindsAndReasonsAreLabels) {
  Metrics m;
  LoopMetrics loop(m, 2);
  loop.redis_error("timeout");
  loop.redis_error("timeout");
  loop.redis_error("error");
  loop.redirect("moved");
  loop.redirect("ask");
  loop.redirect("ask");
  loop.connection_refused();
  loop.connection_refused_client();
  loop.connection_refused_client();
  loop.slow_request();
  loop.slow_reader();
  loop.stream_event("queued");
  loop.stream_event("admitted");
  loop.stream_event("admitted");
  loop.stream_read(true);
  loop.stream_read(false);
  loop.stream_read(false);
  loop.redis_call(0.0002);
  loop.batch(3);
  loop.batch(1000);

  expect_values(m, {
                       {"ticketq_redis_errors_total{kind=\"timeout\"}", 2},
                       {"ticketq_redis_errors_total{kind=\"error\"}", 1},
                       {"ticketq_redis_errors_total{kind=\"unavailable\"}", 0},
                       {"ticketq_redis_redirects_total{kind=\"moved\"}", 1},
                       {"ticketq_redis_redirects_total{kind=\"ask\"}", 2},
                       {"ticketq_http_connections_refused_total{reason=\"max_connections\"}", 1},
                       {"ticketq_http_connections_refused_total{reason=\"per_client\"}", 2},
                       {"ticketq_http_slow_requests_total", 1},
                       {"ticketq_http_slow_readers_total", 1},
                       {"ticketq_stream_events_total{state=\"queued\"}", 1},
                       {"ticketq_stream_events_total{state=\"admitted\"}", 2},
                       {"ticketq_stream_redis_calls_total{kind=\"users\"}", 1},
                       {"ticketq_stream_redis_calls_total{kind=\"event\"}", 2},
                       {"ticketq_redis_roundtrip_seconds_count", 1},
                       {"ticketq_redis_roundtrip_seconds_bucket{le=\"0.00025\"}", 1},
                       {"ticketq_redis_roundtrip_seconds_bucket{le=\"0.0001\"}", 0},
                       {"ticketq_coalesced_batch_users_count", 2},
                       {"ticketq_coalesced_batch_users_bucket{le=\"2\"}", 0},
                       {"ticketq_coalesced_batch_users_bucket{le=\"4\"}", 1},
                       {"ticketq_coalesced_batch_users_bucket{le=\"1000\"}", 2},
                   });
}

TEST(MetricsTest, NodesAreLabelledByLoopAndNodeAndFollowTheLastWord) {
  Metrics m;
  LoopMetrics zero(m, 0);
  LoopMetrics one(m, 1);
  zero.node_connected("r1:6379", true);
  zero.node_master("r1:6379", true);
  zero.node_connected("r2:6379", true);
  zero.node_master("r2:6379", false);
  one.node_connected("r1:6379", false);
  zero.node_master("r1:6379", false);  // a failover: r1 is a replica now
  zero.node_master("r2:6379", true);

  expect_values(m, {
                       {"ticketq_redis_node_connected{loop=\"0\",node=\"r1:6379\"}", 1},
                       {"ticketq_redis_node_connected{loop=\"0\",node=\"r2:6379\"}", 1},
                       {"ticketq_redis_node_connected{loop=\"1\",node=\"r1:6379\"}", 0},
                       {"ticketq_redis_node_master{loop=\"0\",node=\"r1:6379\"}", 0},
                       {"ticketq_redis_node_master{loop=\"0\",node=\"r2:6379\"}", 1},
                       {"ticketq_redis_node_master{loop=\"1\",node=\"r1:6379\"}", -1},
                   });
}

TEST(MetricsTest, PromotedAddsByEventOverLoops) {
  Metrics m;
  LoopMetrics zero(m, 0);
  LoopMetrics one(m, 1);
  zero.promoted("rush", 3);
  one.promoted("rush", 4);
  zero.promoted("calm", 1);
  EXPECT_EQ(value(m, "ticketq_promoted_users_total{event=\"rush\"}"), 7);
  EXPECT_EQ(value(m, "ticketq_promoted_users_total{event=\"calm\"}"), 1);
}

// Metrics is shared by every loop's thread; nothing recorded may be lost.
TEST(MetricsTest, LoopsOnThreadsLoseNoCount) {
  Metrics m;
  constexpr int kLoops = 4;
  constexpr int kEach = 2000;
  std::vector<std::thread> threads;
  for (int i = 0; i < kLoops; ++i)
    threads.emplace_back([&m, i] {
      LoopMetrics loop(m, i);
      for (int n = 0; n < kEach; ++n) {
        loop.request("reserve", 200, 0.001);
        loop.reconnect();
        loop.promoted("rush", 1);
        m.note_event("e" + std::to_string(n % 50));
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(value(m, "ticketq_http_requests_total{code=\"200\",route=\"reserve\"}"),
            kLoops * kEach);
  EXPECT_EQ(value(m, "ticketq_http_request_duration_seconds_count{route=\"reserve\"}"),
            kLoops * kEach);
  EXPECT_EQ(value(m, "ticketq_redis_reconnects_total"), kLoops * kEach);
  EXPECT_EQ(value(m, "ticketq_promoted_users_total{event=\"rush\"}"), kLoops * kEach);
  EXPECT_EQ(m.events().size(), 50u);
}

TEST(MetricsTest, TrackedEventsStayBounded) {
  Metrics m;
  m.note_event("first");
  m.note_event("first");
  EXPECT_EQ(m.events(), std::set<std::string>{"first"});
  for (size_t i = 0; i < 3 * Metrics::kMaxTrackedEvents; ++i) m.note_event("e" + std::to_string(i));
  std::set<std::string> events = m.events();
  EXPECT_EQ(events.size(), Metrics::kMaxTrackedEvents);
  // The ones noted first are kept; later ones are not tracked.
  EXPECT_TRUE(events.count("first"));
  EXPECT_TRUE(events.count("e0"));
  EXPECT_FALSE(events.count("e" + std::to_string(2 * Metrics::kMaxTrackedEvents)));
  m.note_event("late");
  EXPECT_FALSE(m.events().count("late"));
  m.note_event("first");  // known: no change
  EXPECT_EQ(m.events().size(), Metrics::kMaxTrackedEvents);
}

}  // namespace
}  // namespace ticketq
