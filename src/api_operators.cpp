// Handlers for operators and their tools: move the line, reset it, create
// and read events, and the endpoints that load balancers and Prometheus
// call.
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "ticketq/api.h"
#include "ticketq/validate.h"

namespace ticketq {

using Json = nlohmann::ordered_json;

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
  core_.put_event(
      req.route.event, patch,
      [this, reply, patch, event = req.route.event](PutEventResult r) mutable {
        if (r.below_reserved)
          return reply.error(409, "capacity " + std::to_string(*patch.capacity) + " is below the " +
                                      std::to_string(r.reserved) + " seats already reserved");
        if (r.needs_size)
          return reply.error(400, "a new event needs both capacity and queue_limit");
        if (reply_failure(reply, r, event)) return;
        reply.json(r.created ? 201 : 200, {{"status", r.created ? "created" : "updated"},
                                           {"event", event},
                                           {"capacity", r.settings.capacity},
                                           {"queue_limit", r.settings.queue_limit},
                                           {"state", event_state_name(r.state)}});
      });
}

void Api::get_event(const Request& req, Reply reply) {
  core_.get_event(req.route.event, [this, reply, event = req.route.event](EventInfo r) mutable {
    if (reply_failure(reply, r, event)) return;
    reply.json(200, {{"event", event},
                     {"state", event_state_name(r.state)},
                     {"capacity", r.settings.capacity},
                     {"queue_limit", r.settings.queue_limit},
                     {"reserved", r.reserved},
                     {"waiting", r.waiting},
                     {"promoted", r.promoted},
                     {"left", r.left}});
  });
}

void Api::health(Reply reply) {
  redis_.ping([reply](ScriptReply&& r) mutable {
    if (r.fault == Fault::kNone) return reply.json(200, {{"status", "healthy"}});
    reply.json(503, {{"status", "unhealthy"}, {"error", fault_text(r.fault)}});
  });
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
        metrics_.shared().event_reserved.Add({{"event", event}}).Set(double(r.reserved));
        metrics_.shared().event_waiting.Add({{"event", event}}).Set(double(r.waiting));
      }
      if (--*pending > 0) return;
      reply.send(Response{200, metrics_.shared().render(), "text/plain; version=0.0.4"});
    });
  }
}

}  // namespace ticketq
