// Handlers for operators and their tools: move the line, reset it, create
// and read events, and the endpoints that load balancers and Prometheus
// call.
#include <spdlog/spdlog.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "base/validate.h"
#include "frontend/api.h"

namespace ticketq {

using Json = nlohmann::ordered_json;

namespace {

// An event's settings as PUT and GET show them.
void add_settings(Json& body, const EventSettings& s, EventState state,
                  const AdmissionSettings& a) {
  Json rate = "manual";
  if (a.admit_rate) {
    double r = *a.admit_rate;
    rate =
        r == static_cast<double>(static_cast<int64_t>(r)) ? Json(static_cast<int64_t>(r)) : Json(r);
  }
  body.update(Json{{"state", event_state_name(state)},
                   {"capacity", s.capacity},
                   {"queue_limit", s.queue_limit},
                   {"admit_rate", std::move(rate)},
                   {"hold_s", a.hold_s},
                   {"waiter_ttl_s", a.waiter_ttl_s}});
}

}  // namespace

void Api::promote(const Request& req, Reply reply) {
  std::string error;
  auto text = query_param(req.query, "limit", &error);
  if (!error.empty()) return reply.error(400, error);
  auto limit = parse_promote_limit(text ? std::optional<std::string_view>(*text) : std::nullopt);
  if (!limit.ok()) return reply.error(400, limit.error);
  core_.promote(req.route.event, *limit.value,
                [this, reply, event = req.route.event](PromoteResult r) mutable {
                  if (reply_failure(reply, r, event)) return;
                  if (r.not_open)
                    return reply.error(409, std::string("the event is ") +
                                                event_state_name(r.state) + ": nobody is admitted");
                  size_t count = r.promoted.size();
                  if (count > 0) metrics_.promoted(event, count);
                  reply.json(200, {{"status", "queue_processed"},
                                   {"promoted_users", std::move(r.promoted)},
                                   {"promoted_count", count},
                                   {"remaining", r.remaining}});
                });
}

void Api::reset(const Request& req, Reply reply) {
  core_.reset(req.route.event, [this, reply, event = req.route.event](ResetResult r) mutable {
    if (reply_failure(reply, r, event)) return;
    reply.json(200, {{"status", "reset_done"}});
  });
}

void Api::put_event(const Request& req, Reply reply) {
  auto parsed = parse_event_body(req.body);
  if (!parsed.ok()) return reply.error(400, parsed.error);
  EventPatch patch = *parsed.value;
  core_.put_event(req.route.event, patch,
                  [this, reply, patch, event = req.route.event](PutEventResult r) mutable {
                    if (r.below_reserved)
                      return reply.error(409, "capacity " + std::to_string(*patch.capacity) +
                                                  " is below the " + std::to_string(r.reserved) +
                                                  " seats already reserved");
                    if (r.needs_size)
                      return reply.error(400, "a new event needs both capacity and queue_limit");
                    if (reply_failure(reply, r, event)) return;
                    Json body{{"status", r.created ? "created" : "updated"}, {"event", event}};
                    add_settings(body, r.settings, r.state, r.admission);
                    reply.json(r.created ? 201 : 200, std::move(body));
                  });
}

void Api::get_event(const Request& req, Reply reply) {
  core_.get_event(req.route.event, [this, reply, event = req.route.event](EventInfo r) mutable {
    if (reply_failure(reply, r, event)) return;
    Json body{{"event", event}};
    add_settings(body, r.settings, r.state, r.admission);
    body.update(Json{{"reserved", r.reserved},
                     {"waiting", r.waiting},
                     {"admitted", r.holding},
                     {"confirmed", r.confirmed},
                     {"admitted_last_minute", r.admitted_last_minute},
                     {"promoted", r.promoted},
                     {"left", r.left},
                     {"cancelled", r.cancelled},
                     {"expired", r.expired_holds + r.expired_waiters},
                     {"expired_holds", r.expired_holds},
                     {"expired_waiters", r.expired_waiters}});
    reply.json(200, std::move(body));
  });
}

// The dashboard's chart on first paint: waiting and admitted over the last
// ten minutes, from the ring every instance writes in Redis (history.h).
void Api::event_history(const Request& req, Reply reply) {
  core_.history(req.route.event, [this, reply, event = req.route.event](HistoryResult r) mutable {
    if (reply_failure(reply, r, event)) return;
    Json points = Json::array();
    for (const HistoryPoint& p : history_points(r.now_ms, std::move(r.samples)))
      points.push_back({{"t_ms", p.t_ms}, {"waiting", p.waiting}, {"admitted", p.admitted}});
    reply.json(200, {{"event", event},
                     {"now_ms", r.now_ms},
                     {"window_s", history_window_ms() / 1000},
                     {"points", std::move(points)}});
  });
}

namespace {

// Walks the events stored in Redis a page at a time, then answers with
// their names, sorted; the default event is always listed.
struct EventWalk {
  static constexpr size_t kMaxEvents = 10000;
  static constexpr int64_t kPage = 1000;
  QueueCore& core;
  Reply reply;
  std::set<std::string> names{kDefaultEvent};
  bool truncated = false;  // names were dropped

  static void next(std::shared_ptr<EventWalk> self, const std::string& cursor) {
    self->core.list_events(cursor, kPage, [self](EventsPage page) {
      if (!page.ok()) {
        spdlog::debug("request {}: 503: {}", self->reply.info().id, page.detail);
        return self->reply.error(503, fault_text(page.fault));
      }
      for (std::string& e : page.events) {
        if (self->names.size() < kMaxEvents)
          self->names.insert(std::move(e));
        else if (self->names.count(e) == 0)
          self->truncated = true;
      }
      bool full = self->names.size() >= kMaxEvents;
      if (page.cursor != "0" && !full) return next(self, page.cursor);
      self->reply.json(200, {{"events", self->names},
                             {"truncated", self->truncated || (full && page.cursor != "0")}});
    });
  }
};

}  // namespace

void Api::list_events(Reply reply) {
  EventWalk::next(std::make_shared<EventWalk>(EventWalk{core_, std::move(reply)}), "0");
}

void Api::health(Reply reply) {
  redis_.ping([reply](ScriptReply&& r) mutable {
    if (r.fault == Fault::kNone) return reply.json(200, {{"status", "healthy"}});
    reply.json(503, {{"status", "unhealthy"}, {"error", fault_text(r.fault)}});
  });
}

// Anyone may ask whether this instance is ready; an operator (X-Token) is
// also shown each Redis server behind it (addresses are not for everyone).
void Api::ready(const Request& req, Reply reply) {
  bool ok = redis_.ready();
  nlohmann::json body = {{"status", ok ? "ready" : "not_ready"}};
  if (req.admin) {
    nlohmann::json nodes = nlohmann::json::array();
    for (const RedisNodeStatus& n : redis_.node_status())
      nodes.push_back(
          {{"node", n.address}, {"role", n.role}, {"connected", n.connected}, {"ready", n.ready}});
    body["redis"] = std::move(nodes);
  }
  reply.json(ok ? 200 : 503, std::move(body));
}

// Reads the live counts of every event this process has seen exist (one
// script call each, all pipelined), then renders. Counts of events Redis
// could not answer for keep their last value.
void Api::metrics(Reply reply) {
  std::set<std::string> events = metrics_.shared().events();
  events.insert(kDefaultEvent);
  auto pending = std::make_shared<size_t>(events.size());
  for (const std::string& event : events) {
    core_.get_event(event, [this, pending, reply, event](EventInfo r) mutable {
      if (r.ok()) {
        Metrics& m = metrics_.shared();
        m.event_reserved.Add({{"event", event}}).Set(double(r.reserved));
        m.event_waiting.Add({{"event", event}}).Set(double(r.waiting));
        m.event_admitted.Add({{"event", event}}).Set(double(r.holding));
        m.event_confirmed.Add({{"event", event}}).Set(double(r.confirmed));
        m.event_admitted_last_minute.Add({{"event", event}}).Set(double(r.admitted_last_minute));
      }
      if (--*pending > 0) return;
      reply.send(Response{200, metrics_.shared().render(), "text/plain; version=0.0.4"});
    });
  }
}

}  // namespace ticketq
