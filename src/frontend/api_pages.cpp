// Handlers for browsers: the waiting room (docs/pages.md) and its calls,
// which know the visitor by the event's cookie, the operator's dashboard,
// and the files both are made of (web/, compiled in).
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/validate.h"
#include "core/pace.h"
#include "frontend/api.h"
#include "pages/visitor.h"
#include "pages/web_assets.h"

namespace ticketq {

using Json = nlohmann::ordered_json;

namespace {

// Another site's page must not join the line for a visitor (and replace
// their cookie) nor make them leave it.
constexpr const char* kCrossSite = "the waiting room's calls come from its own pages";

const char* content_type_of(std::string_view name) {
  auto ends = [&](std::string_view ext) {
    return name.size() > ext.size() && name.substr(name.size() - ext.size()) == ext;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  return nullptr;
}

// The visitor's cookie: the user token, for the event's waiting room alone
// (its page, its calls and its stream, all under /wait/{event}), never
// readable by a script, never sent by another site's request.
std::string set_cookie(const std::string& event, std::string_view token, int64_t max_age_s,
                       bool secure) {
  std::string line = "Set-Cookie: tq_" + event + "=" + std::string(token) + "; Path=/wait/" +
                     event + "; Max-Age=" + std::to_string(max_age_s) +
                     "; HttpOnly; SameSite=Strict";
  if (secure) line += "; Secure";
  return line;
}

}  // namespace

// Pages run only their own files: no inline script or style, nothing from
// elsewhere, never in a frame. booking_url's origin is checked at load
// (config.cpp): scheme and host characters only.
std::string page_headers(const std::string& booking_url) {
  std::string form = "'self'";  // a path on this site: nothing to add
  for (std::string_view scheme : {"http://", "https://"})
    if (booking_url.rfind(scheme, 0) == 0)
      form += " " + booking_url.substr(0, booking_url.find_first_of("/?#", scheme.size()));
  return "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "
         "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action " +
         form +
         "; frame-ancestors 'none'\r\n"
         "X-Content-Type-Options: nosniff\r\n"
         "X-Frame-Options: DENY\r\n"
         "Referrer-Policy: no-referrer\r\n";
}

void Api::page(const Request& req, Reply reply) {
  const bool admin = req.route.op == Op::kAdminPage;
  auto file = web_file(admin ? "admin.html" : "wait.html");
  if (!file) return reply.error(404, "no such page");
  if (admin) {
    Response r{200, std::string(*file), "text/html; charset=utf-8", nullptr, "no-store"};
    r.headers = page_headers_;
    return reply.send(std::move(r));
  }
  // The waiting room is painted in the visitor's state: the event's (for a
  // newcomer) or their own (by the cookie), one script call either way.
  // Without an answer from Redis the page goes out unpainted, and its script
  // asks. It is the visitor's own: never stored.
  const std::string& event = req.route.event;
  auto paint = [this, event, tmpl = *file](Reply& reply, const Outcome& o,
                                           const nlohmann::ordered_json* view) {
    nlohmann::ordered_json unknown = unknown_event_view();
    if (o.fault != Fault::kNone) view = nullptr;
    if (o.no_event) view = &unknown;
    if (o.ok()) note_event(event);
    Response r{o.no_event ? 404 : 200, wait_page_html(tmpl, event, cfg_.booking_url, view),
               "text/html; charset=utf-8", nullptr, "no-store"};
    r.headers = page_headers_;
    reply.send(std::move(r));
  };
  auto who = visitor(req);
  if (!who) {
    if (!req.cookies.empty()) reply.add_header(set_cookie(event, "", 0, cfg_.cookie_secure != 0));
    core_.get_event(event, [reply, paint](EventInfo e) mutable {
      nlohmann::ordered_json view = newcomer_view(e);
      paint(reply, e, &view);
    });
    return;
  }
  coalescer_.status(event, who->sub,
                    [this, reply, paint, event, user = who->sub, ticket = who->tkt,
                     ahead = who->ahd](StatusResult r) mutable {
                      VisitorView v = visitor_view(r, user, ticket, event, tokens_);
                      add_progress(v, ahead);
                      paint(reply, r, &v.data);
                    });
}

void Api::asset(const Request& req, Reply reply) {
  const char* type = content_type_of(req.route.file);
  auto file = type != nullptr && req.route.file.find(".html") == std::string::npos
                  ? web_file(req.route.file)
                  : std::nullopt;
  if (!file) return reply.error(404, "no such file");
  Response r{200, std::string(*file), type, nullptr, "public, max-age=300"};
  r.headers = page_headers_;
  reply.send(std::move(r));
}

TokenCheck Api::first_user_token(const std::vector<std::string>& tokens,
                                 const std::string& event) const {
  TokenCheck first{TokenError::kMalformed, {}};  // none given
  for (size_t i = 0; i < tokens.size(); ++i) {
    TokenCheck t = check_token(tokens[i], event, {TokenKind::kUser});
    if (t.ok()) return t;
    if (i == 0) first = std::move(t);
  }
  return first;
}

// The visitor: the first of the event's cookies that is a valid user token
// of the event (others, tossed in by a sibling subdomain, are ignored).
std::optional<TokenClaims> Api::visitor(const Request& req) const {
  TokenCheck t = first_user_token(req.cookies, req.route.event);
  if (!t.ok()) return std::nullopt;
  return std::move(t.claims);
}

void Api::reply_view(Reply reply, const std::string& event, const std::string& user, int64_t ticket,
                     int64_t ahead_at_join) {
  coalescer_.status(event, user,
                    [this, reply, event, user, ticket, ahead_at_join](StatusResult r) mutable {
                      if (reply_failure(reply, r, event)) return;
                      VisitorView v = visitor_view(r, user, ticket, event, tokens_);
                      add_progress(v, ahead_at_join);
                      const bool waiting = v.state == VisitorState::kWaiting;
                      auto eta = waiting ? estimate_wait_s(r.pace, r.position) : std::nullopt;
                      v.data["poll_after_ms"] = poll_after_ms(r.pace, waiting, eta);
                      reply.json(200, std::move(v.data));
                    });
}

// The visitor's state; for one who has not joined (or whose cookie is no
// longer good, which is then cleared) what a newcomer is offered.
void Api::wait_status(const Request& req, Reply reply) {
  auto who = visitor(req);
  if (!who) {
    if (!req.cookies.empty())
      reply.add_header(set_cookie(req.route.event, "", 0, cfg_.cookie_secure != 0));
    core_.get_event(req.route.event, [this, reply, event = req.route.event](EventInfo e) mutable {
      if (reply_failure(reply, e, event)) return;
      reply.json(200, newcomer_view(e));
    });
    return;
  }
  reply_view(std::move(reply), req.route.event, who->sub, who->tkt, who->ahd);
}

// Joins the line as a new visitor and sets the cookie. A visitor whose
// cookie still holds a place (a reload, a second tab) keeps it instead.
void Api::wait_join(const Request& req, Reply reply) {
  if (req.cross_site) return reply.error(403, kCrossSite);
  const std::string& event = req.route.event;
  auto join = [this, event](Reply reply) {
    std::string user = make_uuid_v4();
    coalescer_.reserve(event, user, [this, reply, event, user](ReserveResult r) mutable {
      if (reply_failure(reply, r, event)) return;
      switch (r.status) {
        case ReserveStatus::kSoldOut:
          return reply.json(409, {{"state", "sold_out"}, {"error", "no seat and no place left"}});
        case ReserveStatus::kClosed:
          return reply.json(403, {{"state", "closed"}, {"error", "the event is closed"}});
        default:
          break;
      }
      // The people ahead now: how the page measures the way to the front.
      const int64_t ahead = r.status == ReserveStatus::kQueued ? r.position - 1 : -1;
      auto token = tokens_.issue(TokenKind::kUser, user, event, r.ticket, unix_now_s(),
                                 kUserTokenTtlS, ahead);
      if (!token) {
        spdlog::error("request {}: could not sign a user token", reply.info().id);
        return reply.error(503, "could not sign the visitor's token");
      }
      reply.add_header(set_cookie(event, *token, kUserTokenTtlS, cfg_.cookie_secure != 0));
      reply_view(std::move(reply), event, user, r.ticket, ahead);
    });
  };
  auto who = visitor(req);
  if (!who) return join(std::move(reply));
  coalescer_.status(event, who->sub,
                    [this, reply, join, event, user = who->sub, ticket = who->tkt,
                     ahead = who->ahd](StatusResult r) mutable {
                      if (reply_failure(reply, r, event)) return;
                      VisitorView v = visitor_view(r, user, ticket, event, tokens_);
                      if (v.state != VisitorState::kWaiting && v.state != VisitorState::kAdmitted &&
                          v.state != VisitorState::kConfirmed)
                        return join(std::move(reply));
                      reply_view(std::move(reply), event, user, ticket, ahead);
                    });
}

// Leaves the line, or gives the held seat back, and clears the cookie.
void Api::wait_leave(const Request& req, Reply reply) {
  if (req.cross_site) return reply.error(403, kCrossSite);
  const std::string& event = req.route.event;
  const std::string clear = set_cookie(event, "", 0, cfg_.cookie_secure != 0);
  auto who = visitor(req);
  if (!who) {
    reply.add_header(clear);
    return reply.json(200, {{"state", "none"}});
  }
  // The cookie goes only once the place is given up: after a fault the
  // visitor keeps it, and may try again. The reason tells a place in line
  // left from a seat given up.
  auto left = [clear, user = who->sub](Reply& reply, const char* reason) {
    reply.add_header(clear);
    reply.json(200, {{"state", "left"}, {"user_id", user}, {"reason", reason}});
  };
  core_.leave(
      event, who->sub, who->tkt,
      [this, reply, left, event, user = who->sub, ticket = who->tkt](LeaveResult r) mutable {
        if (reply_failure(reply, r, event)) return;
        if (r.status != LeaveStatus::kHoldsSeat) return left(reply, "left");
        core_.cancel(event, user, ticket, [this, reply, left, event](SeatResult s) mutable {
          if (reply_failure(reply, s, event)) return;
          if (s.status == SeatStatus::kIsConfirmed)
            return reply.json(409, {{"state", "confirmed"}, {"error", "the seat is sold"}});
          left(reply, "seat_given_up");
        });
      });
}

}  // namespace ticketq
