#include "support/reserve_load.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "support/http_client.h"
#include "support/stack.h"

namespace ticketq::test {

int64_t now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
}

std::string fmt_ms(int64_t us) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(us) / 1000.0);
  return buf;
}

ReserveLoad::ReserveLoad(int port, int connections, std::string tag, Millis max_run,
                         std::vector<std::string> events)
    : port_(port),
      connections_(connections),
      tag_(std::move(tag)),
      max_run_(max_run),
      events_(std::move(events)) {}

void ReserveLoad::start() {
  for (int w = 0; w < connections_; ++w) threads_.emplace_back([this, w] { run(w); });
}

void ReserveLoad::stop() {
  stop_ = true;
  for (auto& t : threads_) t.join();
  threads_.clear();
}

int64_t ReserveLoad::answered(int status) {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t n = 0;
  for (const auto& o : outcomes_) n += o.status == status;
  return n;
}

std::vector<int64_t> ReserveLoad::first_done_per_worker(int status, int64_t since_us) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int64_t> best(connections_, -1);
  for (const auto& o : outcomes_)
    if (o.status == status && o.done_us >= since_us && best[o.worker] < 0)
      best[o.worker] = o.done_us;
  return best;
}

int64_t ReserveLoad::first_done(int status, int64_t since_us) {
  int64_t first = -1;
  for (int64_t t : first_done_per_worker(status, since_us))
    if (t >= 0 && (first < 0 || t < first)) first = t;
  return first;
}

int64_t ReserveLoad::wait_first(int status, int64_t since_us, Millis timeout) {
  int64_t at = -1;
  wait_until([&] { return (at = first_done(status, since_us)) >= 0; }, timeout, Millis(2));
  return at;
}

bool ReserveLoad::wait_more(int status, int64_t n, Millis timeout) {
  int64_t target = answered(status) + n;
  return wait_until([&] { return answered(status) >= target; }, timeout, Millis(5));
}

void ReserveLoad::run(int w) {
  constexpr int kMaxPerWorker = 200000;
  std::unique_ptr<HttpClient> c;
  int64_t end_ms = now_ms() + max_run_.count();
  for (int i = 0; i < kMaxPerWorker && !stop_.load() && now_ms() < end_ms; ++i) {
    if (!c) c = std::make_unique<HttpClient>(port_, Millis(10000));
    Outcome o;
    o.user = tag_ + "-" + std::to_string(w) + "-" + std::to_string(i);
    o.worker = w;
    std::string path = "/reserve";
    if (!events_.empty()) {
      o.event = events_[static_cast<size_t>(w + i) % events_.size()];
      path = "/v1/events/" + o.event + "/reserve";
    }
    o.sent_us = now_us();
    HttpResponse r = c->post(path, user_body(o.user));
    o.done_us = now_us();
    o.status = r.status;
    o.retry_after = r.header("Retry-After").value_or("") == "1";
    if (r.status == 0) o.error = r.error;
    if (r.status != 200 && r.status != 409) o.body = r.body;
    if (r.json.is_object() && r.json.contains("status") && r.json["status"].is_string())
      o.state = r.json["status"].get<std::string>();
    if (r.json.is_object() && r.json.contains("position") && r.json["position"].is_number())
      o.position = r.json["position"].get<int64_t>();
    if (o.acked()) ++acked_;
    bool failed = r.status == 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      outcomes_.push_back(std::move(o));
    }
    // The server is gone (killed): do not spin on refused connections.
    if (failed) std::this_thread::sleep_for(Millis(5));
  }
}

void AckCheck::add(const AckCheck& o) {
  sent += o.sent;
  acked += o.acked;
  lost += o.lost;
  wrong += o.wrong;
  phantoms += o.phantoms;
  unacked_in_redis += o.unacked_in_redis;
  for (const auto& e : o.examples) problem(e);
}

AckCheck check_acks(RedisClient& db, const std::vector<Outcome>& outcomes,
                    const std::set<std::string>& also_sent, const std::string& event) {
  AckCheck c;
  std::set<std::string> reserved = db.smembers(RedisClient::key(event, "reserved"));
  std::vector<std::string> line = db.line(event);
  std::set<std::string> queued(line.begin(), line.end());
  std::map<std::string, int64_t> position;  // 1 + the users ahead
  for (size_t i = 0; i < line.size(); ++i) position[line[i]] = static_cast<int64_t>(i) + 1;
  std::set<std::string> sent = also_sent;
  for (const auto& o : outcomes) {
    if (o.event != event) continue;
    sent.insert(o.user);
    bool in_r = reserved.count(o.user) != 0, in_q = queued.count(o.user) != 0;
    if (!o.acked()) {
      c.unacked_in_redis += in_r || in_q;
      continue;
    }
    ++c.acked;
    std::string was = o.user + " (told " + std::to_string(o.status) + " " + o.state + ")";
    if (o.status == 409) {
      if (o.state != "sold_out" || in_r || in_q) {
        ++c.wrong;
        c.problem(was + " is in Redis");
      }
    } else if (o.state == "reserved" || o.state == "already_reserved") {
      if (!in_r) {
        ++(in_q ? c.wrong : c.lost);
        c.problem(was + (in_q ? " is queued" : " is missing"));
      }
    } else if (o.state == "queued" || o.state == "already_in_queue") {
      if (!in_q) {
        ++(in_r ? c.wrong : c.lost);
        c.problem(was + (in_r ? " is reserved" : " is missing"));
      } else {
        auto t = position.find(o.user);
        int64_t pos = t == position.end() ? -1 : t->second;
        if (pos != o.position) {  // nobody was promoted: positions never move
          ++c.wrong;
          c.problem(was + " position " + std::to_string(o.position) + " is now " +
                    std::to_string(pos));
        }
      }
    } else {
      ++c.wrong;
      c.problem(was + ": unexpected reply state");
    }
  }
  c.sent = static_cast<int64_t>(sent.size());
  for (const auto* set : {&reserved, &queued})
    for (const auto& u : *set)
      if (sent.count(u) == 0) {
        ++c.phantoms;
        c.problem("phantom " + u);
      }
  return c;
}

void expect_clean(const AckCheck& c) {
  EXPECT_EQ(c.lost, 0) << ::testing::PrintToString(c.examples);
  EXPECT_EQ(c.wrong, 0) << ::testing::PrintToString(c.examples);
  EXPECT_EQ(c.phantoms, 0) << ::testing::PrintToString(c.examples);
}

void expect_invariants(RedisClient& db, int64_t capacity, const std::string& event) {
  auto bad = db.check_invariants(event, capacity);
  EXPECT_TRUE(bad.empty()) << event << ": " << ::testing::PrintToString(bad);
}

StatusCounts::StatusCounts(const std::vector<Outcome>& outcomes) {
  for (const auto& o : outcomes) {
    ++by_status[o.status];
    if (o.status == 0 && transport_errors++ == 0) first_error = o.error;
    if (o.status >= 500 && o.status != 503) ++other_5xx;
    if (o.status == 503 && !o.retry_after) ++missing_retry_after;
  }
}

void expect_only_503s(const std::vector<Outcome>& outcomes) {
  StatusCounts counts(outcomes);
  EXPECT_EQ(counts.other_5xx, 0);
  EXPECT_EQ(counts.missing_retry_after, 0);
  EXPECT_EQ(counts.transport_errors, 0) << counts.first_error;
  for (const Outcome& r : outcomes) {
    if (r.status != 200 && r.status != 409) {
      ASSERT_EQ(r.status, 503) << r.user << ": " << r.body;
    }
    for (const char* leak : {"NOSCRIPT", "MOVED", "ASK ", "TRYAGAIN", "CLUSTERDOWN", "READONLY",
                             "NOREPLICAS", "LOADING", "MASTERDOWN", "ERR "})
      ASSERT_EQ(r.body.find(leak), std::string::npos) << r.user << ": " << r.body;
  }
}

}  // namespace ticketq::test
