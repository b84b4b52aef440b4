#include "pages/visitor.h"

#include <algorithm>
#include <map>
#include <vector>

#include "base/clock.h"
#include "core/pace.h"
#include "pages/web_assets.h"

namespace ticketq {

std::optional<int64_t> hold_expires_s(int64_t hold_ends_ms) {
  if (hold_ends_ms <= 0) return std::nullopt;
  return epoch_s_up(hold_ends_ms);
}

nlohmann::ordered_json hold_expires_at(int64_t hold_ends_ms) {
  auto s = hold_expires_s(hold_ends_ms);
  return s ? nlohmann::ordered_json(*s) : nlohmann::ordered_json();
}

using Json = nlohmann::ordered_json;

const char* visitor_state_name(VisitorState s) {
  switch (s) {
    case VisitorState::kNone:
      return "none";
    case VisitorState::kWaiting:
      return "waiting";
    case VisitorState::kAdmitted:
      return "admitted";
    case VisitorState::kConfirmed:
      return "confirmed";
    case VisitorState::kExpired:
      return "expired";
    case VisitorState::kLeft:
      return "left";
    case VisitorState::kClosed:
      return "closed";
    case VisitorState::kSoldOut:
      return "sold_out";
    case VisitorState::kReconnect:
      return "reconnect";
  }
  return "none";
}

bool is_final(VisitorState s) {
  return s != VisitorState::kWaiting && s != VisitorState::kAdmitted && s != VisitorState::kNone;
}

VisitorView simple_view(VisitorState state, const std::string& user, const char* reason) {
  VisitorView v;
  v.state = state;
  v.data = Json{{"state", visitor_state_name(state)}, {"user_id", user}};
  if (*reason != '\0') v.data["reason"] = reason;
  return v;
}

bool admission_token_to(std::string& out, const StatusResult& r, const std::string& user,
                        const std::string& event, int64_t ticket, const Tokens& tokens) {
  if (r.status != UserStatus::kReserved || ticket != r.ticket) return false;
  if (r.hold_ends_ms > 0 && r.hold_ends_ms <= r.pace.now_ms) return false;
  const int64_t now = unix_now_s();
  const int64_t ttl = r.hold_ends_ms > 0 ? epoch_s_up(r.hold_ends_ms) - now : kUserTokenTtlS;
  return tokens.issue_to(out, TokenKind::kAdmission, user, event, r.ticket, now,
                         std::max<int64_t>(ttl, 1));
}

std::optional<std::string> admission_token(const StatusResult& r, const std::string& user,
                                           const std::string& event, int64_t ticket,
                                           const Tokens& tokens) {
  std::string token;
  if (!admission_token_to(token, r, user, event, ticket, tokens)) return std::nullopt;
  return token;
}

VisitorView visitor_view(const StatusResult& r, const std::string& user, int64_t ticket,
                         const std::string& event, const Tokens& tokens, VisitorState before,
                         int64_t before_hold_ends_ms) {
  const int64_t now = r.pace.now_ms;
  // Another ticket is a later join of the same user id (a ticket of 0: a
  // seat from before tickets, the visitor's).
  if (r.status != UserStatus::kNotFound && r.ticket != 0 && r.ticket != ticket)
    return simple_view(VisitorState::kLeft, user, "superseded");
  switch (r.status) {
    case UserStatus::kInQueue: {
      VisitorView v = simple_view(VisitorState::kWaiting, user);
      auto eta = estimate_wait_s(r.pace, r.position);
      v.data["position"] = r.position;
      v.data["eta_s"] = eta ? Json(*eta) : Json();
      v.data["event_state"] = event_state_name(r.pace.state);
      return v;
    }
    case UserStatus::kReserved: {
      if (r.confirmed) return simple_view(VisitorState::kConfirmed, user);
      if (r.hold_ends_ms > 0 && r.hold_ends_ms <= now)
        return simple_view(VisitorState::kExpired, user, "hold_ended");
      VisitorView v = simple_view(VisitorState::kAdmitted, user);
      auto token = admission_token(r, user, event, ticket, tokens);
      v.data["admission_token"] = token ? Json(std::move(*token)) : Json();
      v.data["hold_expires_at"] = hold_expires_at(r.hold_ends_ms);
      v.hold_ends_ms = r.hold_ends_ms;
      return v;
    }
    case UserStatus::kNotFound:
      break;
  }
  if (before == VisitorState::kAdmitted)
    return before_hold_ends_ms > 0 && before_hold_ends_ms <= now
               ? simple_view(VisitorState::kExpired, user, "hold_ended")
               : simple_view(VisitorState::kLeft, user, "left");
  if (r.pace.state == EventState::kClosed) return simple_view(VisitorState::kClosed, user);
  if (before == VisitorState::kWaiting) return simple_view(VisitorState::kLeft, user, "left");
  return simple_view(VisitorState::kExpired, user, "not_in_line");
}

std::optional<LineProgress> line_progress(int64_t ahead_at_join, int64_t position) {
  if (ahead_at_join < 0 || position < 1) return std::nullopt;
  const int64_t ahead = position - 1;
  // Nobody joins ahead of anyone, so `ahead` never grows; were it larger,
  // the visitor has passed nobody yet.
  const int64_t of = std::max(ahead_at_join, ahead);
  if (of == 0) return std::nullopt;
  return LineProgress{of - ahead, of};
}

void add_progress(VisitorView& v, int64_t ahead_at_join) {
  if (v.state != VisitorState::kWaiting) return;
  auto p = line_progress(ahead_at_join, v.data.value("position", int64_t{0}));
  if (p) v.data["progress"] = Json{{"passed", p->passed}, {"of", p->of}};
}

Json newcomer_view(const EventInfo& e) {
  const char* state = "none";
  if (e.state == EventState::kClosed)
    state = "closed";
  else if (e.waiting >= e.settings.queue_limit &&
           (e.waiting > 0 || e.reserved >= e.settings.capacity))
    state = "sold_out";  // the reserve script's rule: free seats go to the line first
  return Json{{"state", state}, {"event_state", event_state_name(e.state)}};
}

Json unknown_event_view() {
  return Json{{"state", "unknown"}};
}

namespace {

std::string string_of(const Json& view, const char* key) {
  auto it = view.find(key);
  return it != view.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

Told told(const Json& view) {
  static const char* const kStates[] = {"none", "waiting", "admitted", "confirmed", "expired",
                                        "left", "closed",  "sold_out", "unknown"};
  Told t;
  t.state = string_of(view, "state");
  if (std::find(std::begin(kStates), std::end(kStates), t.state) == std::end(kStates))
    t.state = "none";
  const std::string event_state = string_of(view, "event_state");
  const std::string reason = string_of(view, "reason");
  t.heading = t.state;
  if (t.state == "waiting" && event_state == "paused") {
    t.heading = "paused";
    t.notice = "paused";
  } else if (t.state == "waiting" && event_state == "closed") {
    t.notice = "closedKeepPlace";
  } else if (t.state == "none" && event_state == "paused") {
    t.notice = "pausedJoin";
  } else if (t.state == "left") {
    t.notice = reason.empty() ? "left" : reason;
    if (reason == "seat_given_up" || reason == "seat_released") t.heading = reason;
  } else if (t.state == "expired" || t.state == "unknown") {
    t.notice = t.state == "unknown" ? "unknown" : reason;
  }
  return t;
}

namespace {

// The lines `key: 'text',` of web/strings.js, by their path through the
// objects (`name: {` ... `},`) around them; entries that are functions or
// span lines are the script's alone.
std::map<std::string, std::string, std::less<>> read_words(std::string_view js) {
  std::map<std::string, std::string, std::less<>> words;
  std::vector<std::string> path;
  auto is_name = [](std::string_view n) {
    return !n.empty() && std::all_of(n.begin(), n.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    });
  };
  while (!js.empty()) {
    size_t end = js.find('\n');
    std::string_view line = js.substr(0, end);
    js = end == std::string_view::npos ? std::string_view() : js.substr(end + 1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
    if (line == "}," || line == "}") {
      if (!path.empty()) path.pop_back();
      continue;
    }
    size_t colon = line.find(": ");
    if (colon == std::string_view::npos || !is_name(line.substr(0, colon))) continue;
    std::string_view name = line.substr(0, colon), value = line.substr(colon + 2);
    if (value == "{") {
      path.emplace_back(name);
      continue;
    }
    if (value.size() < 3 || value.front() != '\'' || value.back() != ',' ||
        value[value.size() - 2] != '\'')
      continue;
    value = value.substr(1, value.size() - 3);
    std::string text;
    for (size_t i = 0; i < value.size(); ++i) {
      if (value[i] == '\\' && i + 1 < value.size()) ++i;
      text += value[i];
    }
    std::string key;
    for (const std::string& p : path) key += p + ".";
    words[key + std::string(name)] = std::move(text);
  }
  return words;
}

void replace_all(std::string& text, std::string_view what, std::string_view with) {
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + with.size()))
    text.replace(at, what.size(), with);
}

// A word with its {event} filled in.
std::string word_for(std::string_view path, const std::string& event) {
  std::string w(page_word(path));
  replace_all(w, "{event}", event);
  return w;
}

}  // namespace

std::string_view page_word(std::string_view path) {
  static const auto words = [] {
    auto js = web_file("strings.js");
    return js ? read_words(*js) : std::map<std::string, std::string, std::less<>>{};
  }();
  auto it = words.find(path);
  return it == words.end() ? std::string_view() : std::string_view(it->second);
}

std::string html_escaped(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string wait_page_html(std::string_view tmpl, const std::string& event,
                           const std::string& booking_url, const Json* view) {
  // Text to fill in (escaped when filled in), and the parts left hidden.
  std::map<std::string, std::string, std::less<>> text = {
      {"event", event},
      {"booking_url", booking_url},
      {"title", word_for("pageTitle", event)},
      {"event_label", word_for("eventLabel", event)},
      {"heading", std::string(page_word("states.loading"))},
      {"state", "loading"},
  };
  std::map<std::string, bool, std::less<>> shown;
  if (view != nullptr) {
    const Told t = told(*view);
    text["view"] = view->dump(-1, ' ', false, Json::error_handler_t::replace);
    text["state"] = t.state;
    text["heading"] = page_word("states." + t.heading);
    text["notice"] = t.notice;
    if (!t.notice.empty()) text["notice_text"] = page_word("notices." + t.notice);
    shown["notice"] = !text["notice_text"].empty();
    if (t.state == "waiting") {
      shown["line"] = true;
      text["position"] = std::to_string(view->value("position", int64_t{0}));
      auto p = view->find("progress");
      if (p != view->end() && p->is_object()) {
        shown["progress"] = true;
        text["progress_value"] = std::to_string(p->value("passed", int64_t{0}));
        text["progress_max"] = std::to_string(p->value("of", int64_t{1}));
        std::string of(page_word("progressOf"));
        replace_all(of, "{passed}", text["progress_value"]);
        replace_all(of, "{of}", text["progress_max"]);
        text["progress_of"] = std::move(of);
      }
    } else if (t.state == "admitted") {
      shown["admission"] = true;
      auto hold = view->find("hold_expires_at");
      text["hold"] =
          page_word(hold != view->end() && hold->is_number() ? "heldLimited" : "heldNoLimit");
      const std::string token = string_of(*view, "admission_token");
      if (!token.empty()) {
        // To booking_url in a POST form's body (never in a URL), or shown
        // as a code when there is none.
        shown[booking_url.empty() ? "code" : "continue"] = true;
        text["token"] = token;
      }
    }
  }
  // One pass over the template: {{name}}, {{t:path}} (a word of
  // strings.js) and {{hidden:part}} (the attribute, unless shown).
  std::string out;
  out.reserve(tmpl.size() + 1024);
  for (size_t at = 0;;) {
    size_t open = tmpl.find("{{", at);
    size_t close = open == std::string_view::npos ? open : tmpl.find("}}", open + 2);
    if (close == std::string_view::npos) {
      out.append(tmpl.substr(at));
      return out;
    }
    out.append(tmpl.substr(at, open - at));
    std::string_view name = tmpl.substr(open + 2, close - open - 2);
    if (name.starts_with("t:")) {
      out += html_escaped(page_word(name.substr(2)));
    } else if (name.starts_with("hidden:")) {
      auto it = shown.find(name.substr(7));
      if (it == shown.end() || !it->second) out += " hidden";
    } else if (auto it = text.find(name); it != text.end()) {
      out += html_escaped(it->second);
    }
    at = close + 2;
  }
}

}  // namespace ticketq
