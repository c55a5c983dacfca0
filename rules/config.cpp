#include "rules/config.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <set>

#include "rules/config_schema.hpp"

#ifndef TW_DATA_DIR
#define TW_DATA_DIR "/usr/share/trunkwatch"
#endif

namespace tw::rules {

// ---- small value types ------------------------------------------------------------------

std::optional<Severity> Levels::level(double value) const {
  if (critical > 0 && value >= static_cast<double>(critical)) return Severity::Critical;
  if (warning > 0 && value >= static_cast<double>(warning)) return Severity::Warning;
  return std::nullopt;
}

const Levels* ClassLevels::find(NumberClass c) const {
  for (const auto& [k, l] : levels)
    if (k == c) return &l;
  return nullptr;
}

void ClassLevels::set(NumberClass c, Levels l) {
  for (auto& [k, old] : levels) {
    if (k == c) {
      old = l;
      return;
    }
  }
  levels.emplace_back(c, l);
}

bool Profile::allowlisted(std::string_view called, std::string_view e164) const {
  return std::any_of(allowlist.begin(), allowlist.end(), [&](const NumberPattern& p) {
    return p.matches(called) || (!e164.empty() && p.matches(e164));
  });
}

Profile Profile::builtin_default() {
  Profile p;
  p.name = "default";
  for (std::size_t i = 0; i < kNumberClassCount; ++i) {
    const auto c = static_cast<NumberClass>(i);
    if (c != NumberClass::Premium && c != NumberClass::HighRisk) p.allowed_classes.add(c);
  }
  return p;
}

bool valid_mail_address(std::string_view a) {
  const auto at = a.find('@');
  if (a.empty() || a.size() > 254 || at == std::string_view::npos || at == 0 ||
      at + 1 == a.size() || a.find('@', at + 1) != std::string_view::npos)
    return false;
  return std::all_of(a.begin(), a.end(), [](char c) {
    return c > 0x20 && c < 0x7f &&
           std::string_view("<>()[]\\,;:\"").find(c) == std::string_view::npos;
  });
}

bool LineSpec::matches(int span_id, std::optional<int> channel) const {
  if (span_id != span) return false;
  if (channels.empty()) return true;
  if (!channel) return false;
  return std::any_of(channels.begin(), channels.end(),
                     [&](const auto& r) { return *channel >= r.first && *channel <= r.second; });
}

const Profile& Config::profile_for(std::string_view number) const {
  for (const Profile& p : profiles)
    for (const NumberPattern& n : p.numbers)
      if (n.matches(number)) return p;
  return profiles.back();
}

bool Config::is_remote_access(std::string_view called) const {
  for (std::size_t i = 0; i < site.remote_access_patterns.size(); ++i) {
    const NumberPattern& p = site.remote_access_patterns[i];
    if (p.matches(called)) return true;
    if (!p.exact.empty() && same_number(p.exact, called)) return true;
  }
  return false;
}

bool Config::voice_only_line(int span, std::optional<int> channel) const {
  return std::any_of(voice_only.begin(), voice_only.end(),
                     [&](const LineSpec& l) { return l.matches(span, channel); });
}

std::vector<std::string> ConfigOptions::default_high_risk_search() {
  std::vector<std::string> out = {"/etc/trunkwatch/high-risk-destinations.toml",
                                  std::string(TW_DATA_DIR) + "/high-risk-destinations.toml"};
#ifdef TW_SOURCE_DATA_DIR
  // Development builds find the file in the source tree.
  out.push_back(std::string(TW_SOURCE_DATA_DIR) + "/high-risk-destinations.toml");
#endif
  return out;
}

namespace config_detail {

// Weekly hours whose ranges overlap on a day ("Mon-Fri 08:00-18:00; Fri 12:00-20:00") are
// valid, but usually a typo in a day or a time: name the first overlap of each day.
void warn_overlapping_hours(const Reader& r, const toml::node& n, std::string_view key,
                            const WeeklyHours& hours) {
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};
  auto clock = [](int minute) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%02d:%02d", minute / 60, minute % 60);
    return std::string(buf);
  };
  std::string found;
  for (unsigned d : {1u, 2u, 3u, 4u, 5u, 6u, 0u}) {
    auto ranges = hours.ranges[d];
    std::sort(ranges.begin(), ranges.end());
    for (std::size_t i = 1; i < ranges.size(); ++i) {
      if (ranges[i].first < ranges[i - 1].second) {
        found += std::string(found.empty() ? "" : ", ") + kDays[d] + " " +
                 clock(ranges[i - 1].first) + "-" + clock(ranges[i - 1].second) + " and " +
                 clock(ranges[i].first) + "-" + clock(ranges[i].second);
        break;
      }
    }
  }
  if (!found.empty())
    r.warn(n, std::string(key) + ": overlapping time ranges (" + found +
                  "): each day and time should be listed once; check the days and times");
}

// An exec hook that cannot run is found at the first notice otherwise, in the middle of an
// incident.
void warn_unusable_program(const Reader& r, const toml::node& n, const std::string& program) {
  struct stat st {};
  if (::stat(program.c_str(), &st) != 0)
    r.warn(n, "exec: the program '" + program + "' does not exist (" + std::strerror(errno) + ")");
  else if (!S_ISREG(st.st_mode))
    r.warn(n, "exec: '" + program + "' is not a regular file");
  else if (::access(program.c_str(), X_OK) != 0)
    r.warn(n,
           "exec: the program '" + program + "' is not executable (" + std::strerror(errno) + ")");
}

}  // namespace config_detail

namespace {

using namespace config_detail;

bool is_index(std::string_view s) {
  return !s.empty() && s.size() < 6 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::vector<std::string> split_path(std::string_view key) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = key.find('.', start);
    out.emplace_back(key.substr(start, dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return out;
}

std::string toml_quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04X", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// ---- the hand-written parts: levels tables and the arrays of tables ----------------------
// Their keys are declared in rules/config_schema.cpp (--set, --keys, the docs, the known-key
// lists come from there); what is read by hand is a shape a flat table of keys does not
// express: { warning, critical } pairs, class-name maps, and [[...]] entries whose keys depend
// on each other (a profile's hours on the calendar, a policy's exec on its actions).

// An integer key of a [[...]] entry, read by hand, in the range its declaration gives.
std::optional<std::int64_t> declared_integer(const Reader& r, const toml::table& t,
                                             std::string_view path) {
  const Setting& s = *find_setting(path);
  return r.integer(t, s.key(), static_cast<std::int64_t>(s.min), static_cast<std::int64_t>(s.max));
}

void read_detector_levels(const Reader& r, const toml::table& root, Detectors& d) {
  if (const auto* s = root.at_path("detectors.concurrency").as_table()) {
    r.class_levels(*s, "classes", "detectors.concurrency.classes", d.concurrency.classes);
    if (const toml::node* n = s->get("per_span"))
      r.levels(*n, "detectors.concurrency.per_span", d.concurrency.per_span);
  }
  if (const auto* s = root.at_path("detectors.minutes_cap").as_table()) {
    r.class_levels(*s, "classes", "detectors.minutes_cap.classes", d.minutes_cap.classes);
    if (const toml::node* n = s->get("per_source"))
      r.levels(*n, "detectors.minutes_cap.per_source", d.minutes_cap.per_source);
  }
}

// Rules between keys of one table, checked once the table is read.
void check_sections(const Reader& r, const toml::table& root, const Config& c) {
  // warning/critical keys inline in a detector table.
  const std::pair<std::string_view, const Levels*> inline_levels[] = {
      {"detectors.call_rate.per_source", &c.detectors.call_rate.per_source.levels},
      {"detectors.call_rate.per_prefix", &c.detectors.call_rate.per_prefix.levels},
      {"detectors.brute_force", &c.detectors.brute_force.levels},
      {"detectors.sequential_short_calls", &c.detectors.sequential_short_calls.levels},
  };
  for (const auto& [path, l] : inline_levels) {
    const toml::table* t = root.at_path(path).as_table();
    if (!t || !(l->warning > 0 && l->critical > 0 && l->warning > l->critical)) continue;
    r.error(*t, "'" + std::string(path) + "': warning (" + std::to_string(l->warning) +
                    ") must not be above critical (" + std::to_string(l->critical) + ")");
  }
  if (const toml::table* t = root.get_as<toml::table>("email");
      t && c.email.retry_max_s < c.email.retry_min_s)
    r.error(*t, "email: retry_max_s must not be below retry_min_s");
}

std::vector<const toml::table*> table_array(const Reader& r, const toml::table& root,
                                            std::string_view key) {
  std::vector<const toml::table*> out;
  const toml::node* n = root.get(key);
  if (!n) return out;
  const toml::array* a = n->as_array();
  if (!a) {
    r.error(*n,
            "'" + std::string(key) + "' must be an array of tables ([[" + std::string(key) + "]])");
    return out;
  }
  for (const toml::node& e : *a) {
    if (const toml::table* t = e.as_table())
      out.push_back(t);
    else
      r.error(e, "each '" + std::string(key) + "' entry must be a table");
  }
  return out;
}

bool valid_name(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

void read_spans(const Reader& r, const toml::table& root, std::vector<SpanSettings>& spans) {
  std::set<int> used;
  for (const toml::table* t : table_array(r, root, "span")) {
    r.only_keys(*t, "[[span]]", known_keys("span.#"));
    SpanSettings s;
    if (auto v = declared_integer(r, *t, "span.#.span")) {
      s.span = static_cast<int>(*v);
    } else if (!t->get("span")) {
      r.error(*t, "a [[span]] needs 'span', the DAHDI span number");
      continue;
    }
    if (auto v = declared_integer(r, *t, "span.#.carrier_span")) {
      s.carrier_span = static_cast<int>(*v);
      if (*s.carrier_span == s.span)
        r.error(*t->get("carrier_span"), "'carrier_span' must be another span than 'span'");
    }
    for (const std::optional<int> n : {std::optional<int>(s.span), s.carrier_span}) {
      if (n && *n > 0 && !used.insert(*n).second) {
        const toml::node* at = t->get(n == s.carrier_span ? "carrier_span" : "span");
        r.error(at ? at->source() : t->source(),
                "span " + std::to_string(*n) + " is already used by another [[span]]");
      }
    }
    if (auto v = r.str(*t, "mode")) {
      if (*v == "endpoint")
        r.error(*t->get("mode"),
                "mode \"endpoint\" (trunkwatch owning the D-channel) is not available yet; use "
                "\"tap\"");
      else if (!parse_enum<SpanMode>(*v))
        r.error(*t->get("mode"), "'mode' must be \"tap\"");
    }
    if (s.mode == SpanMode::Tap && !s.carrier_span && t->get("span"))
      r.error(*t,
              "a tapped span needs 'carrier_span': the card span that receives what the "
              "carrier transmits (a passive tap sees each direction on its own span)");
    if (auto v = r.str(*t, "type")) {
      if (*v == "t1")
        s.type = hal::SpanType::T1;
      else if (*v == "e1")
        s.type = hal::SpanType::E1;
      else
        r.error(*t->get("type"), "'type' must be \"t1\" or \"e1\"");
    }
    if (auto v = r.str(*t, "switchtype")) {
      hal::SwitchType st;
      if (hal::parse_switch_type(*v, st))
        s.switch_type = st;
      else
        r.error(*t->get("switchtype"),
                "unknown switchtype '" + *v + "' (ni2, 4ess, 5ess, dms100, euroisdn, qsig)");
    }
    if (auto v = r.str(*t, "pbx_side")) {
      if (*v == "user")
        s.pbx_side = hal::Role::User;
      else if (*v == "network")
        s.pbx_side = hal::Role::Network;
      else
        r.error(*t->get("pbx_side"), "'pbx_side' must be \"user\" or \"network\"");
    }
    if (auto v = r.str(*t, "name")) s.name = *v;
    spans.push_back(std::move(s));
  }
}

void read_profiles(const Reader& r, const toml::table& root, Config& c) {
  std::set<std::string> names;
  std::optional<Profile> user_default;
  for (const toml::table* t : table_array(r, root, "profile")) {
    r.only_keys(*t, "[[profile]]", known_keys("profile.#"));
    Profile p = Profile::builtin_default();
    p.name.clear();
    if (auto v = r.str(*t, "name")) {
      if (!valid_name(*v))
        r.error(*t->get("name"), "a profile name is letters, digits, '_', '-' and '.'");
      else if (!names.insert(*v).second)
        r.error(*t->get("name"), "there is already a profile named '" + *v + "'");
      else
        p.name = *v;
    } else if (!t->get("name")) {
      r.error(*t, "a profile needs a 'name'");
    }
    if (auto v = r.patterns(*t, "numbers")) p.numbers = *v;
    if (auto v = r.classes(*t, "allowed_classes")) p.allowed_classes = *v;
    if (auto v = r.patterns(*t, "allowlist")) p.allowlist = *v;
    if (const toml::node* n = t->get("daily_minutes"))
      r.levels(*n, "daily_minutes", p.daily_minutes);
    if (const toml::node* n = t->get("hours")) {
      if (!n->is_string()) {
        r.error(*n, "'hours' must be a string: \"any\", \"business_hours\" or weekly hours");
      } else {
        p.hours_text = *n->value<std::string>();
        if (p.hours_text == "any") {
          p.hours.reset();
        } else if (p.hours_text == "business_hours") {
          p.hours = c.calendar.business_hours();
          p.hours_skip_holidays = true;
        } else {
          HoursError e;
          p.hours = parse_weekly_hours(p.hours_text, e);
          if (!p.hours)
            r.error_in_string(*n, e.offset, "hours: " + e.message);
          else
            warn_overlapping_hours(r, *n, "profile " + p.name + ": hours", *p.hours);
        }
      }
    }
    if (p.name == "default") {
      if (t->get("numbers"))
        r.error(*t->get("numbers"),
                "the default profile takes every number no other profile matches: it has no "
                "'numbers'");
      user_default = p;
      continue;
    }
    if (!p.name.empty() && p.numbers.empty() && !t->get("numbers"))
      r.error(*t, "profile '" + p.name + "' needs 'numbers' (which calling numbers it covers)");
    c.profiles.push_back(std::move(p));
  }
  c.profiles.push_back(user_default ? *user_default : Profile::builtin_default());
}

template <typename T, typename Parse>
std::vector<T> parse_list(const Reader& r, const toml::table& t, std::string_view key, Parse parse,
                          const std::string& choices) {
  std::vector<T> out;
  auto nodes = r.strings(t, key);
  if (!nodes) return out;
  for (const toml::node* n : *nodes) {
    const std::string s = *n->value<std::string>();
    if (auto v = parse(s))
      out.push_back(*v);
    else
      r.error(*n, "unknown " + std::string(key) + " '" + s + "' (" + choices + ")");
  }
  return out;
}

void read_policy(const Reader& r, const toml::table& root, Config& c) {
  std::string categories;
  for (Category cat : all_categories())
    categories += (categories.empty() ? "" : ", ") + std::string(to_string(cat));
  std::size_t index = 0;
  for (const toml::table* t : table_array(r, root, "policy")) {
    ++index;
    r.only_keys(*t, "[[policy]]", known_keys("policy.#"));
    PolicyRule rule;
    rule.name = r.str(*t, "name").value_or("rule-" + std::to_string(index));
    rule.categories = parse_list<Category>(r, *t, "category", parse_category, categories);
    if (const toml::node* n = t->get("min_severity")) {
      const auto s = n->value<std::string>();
      const auto v = s ? parse_severity(*s) : std::nullopt;
      if (!v)
        r.error(*n, "'min_severity' must be \"info\", \"warning\" or \"critical\"");
      else
        rule.min_severity = *v;
    }
    if (const toml::node* n = t->get("severity")) {
      const auto s = n->value<std::string>();
      const auto v = s ? parse_severity(*s) : std::nullopt;
      if (!v)
        r.error(*n, "'severity' must be \"info\", \"warning\" or \"critical\"");
      else
        rule.severity = *v;
    }
    if (const toml::node* n = t->get("direction")) {
      const auto s = n->value<std::string>();
      if (s && *s == "outbound")
        rule.direction = calls::Direction::Outbound;
      else if (s && *s == "inbound")
        rule.direction = calls::Direction::Inbound;
      else if (!(s && *s == "any"))
        r.error(*n, "'direction' must be \"outbound\", \"inbound\" or \"any\"");
    }
    if (auto names = r.strings(*t, "profile")) {
      for (const toml::node* n : *names) {
        const std::string s = *n->value<std::string>();
        const bool known = std::any_of(c.profiles.begin(), c.profiles.end(),
                                       [&](const Profile& p) { return p.name == s; });
        if (!known)
          r.error(*n, "unknown profile '" + s + "'");
        else
          rule.profiles.push_back(s);
      }
    }
    if (auto v = r.classes(*t, "class")) rule.classes = *v;
    rule.windows = parse_list<TimeWindow>(r, *t, "window", parse_time_window,
                                          "business_hours, after_hours, holiday");
    rule.call_types = parse_list<std::string>(
        r, *t, "call_type",
        [](const std::string& s) {
          return valid_call_type(s) ? std::optional<std::string>(s) : std::nullopt;
        },
        "voice, fax, modem, data");
    rule.actions = parse_list<Action>(r, *t, "action", parse_action,
                                      "allow, log, alert, digest, hangup, exec");
    if (!t->get("action")) r.error(*t, "policy rule '" + rule.name + "' needs an 'action'");
    const bool allow =
        std::find(rule.actions.begin(), rule.actions.end(), Action::Allow) != rule.actions.end();
    if (allow && rule.actions.size() > 1)
      r.error(*t->get("action"), "'allow' cannot be combined with other actions");
    const bool exec =
        std::find(rule.actions.begin(), rule.actions.end(), Action::Exec) != rule.actions.end();
    if (auto argv = r.string_values(*t, "exec")) {
      rule.exec = *argv;
      if (rule.exec.empty() || !rule.exec[0].starts_with('/'))
        r.error(*t->get("exec"),
                "'exec' must start with the absolute path of the program (no shell is used)");
      else
        warn_unusable_program(r, *t->get("exec"), rule.exec[0]);
      if (!exec) r.error(*t->get("exec"), "'exec' is set but 'action' has no \"exec\"");
    } else if (exec && !t->get("exec")) {
      r.error(*t->get("action"), "action \"exec\" needs 'exec' (the program and its arguments)");
    }
    c.rules.push_back(std::move(rule));
  }
  c.site_rules = c.rules.size();
}

// --set KEY=VALUE over the parsed document.
void apply_override(const Reader& r, toml::table& root, const std::string& text) {
  const std::string label = "--set " + text;
  toml::source_region here;
  here.path = std::make_shared<const std::string>(label);
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    r.error(here, "expected KEY=VALUE");
    return;
  }
  const std::string key = text.substr(0, eq), value = text.substr(eq + 1);
  const auto path = split_path(key);
  const Setting* spec = find_setting(key);
  if (!spec) {
    r.error(here, "unknown key '" + key + "' (trunkwatch check-config --keys lists them)");
    return;
  }
  std::string literal;
  switch (spec->type) {
    case KeyType::String:
    case KeyType::Choice:
      literal = value.starts_with('"') ? value : toml_quote(value);
      break;
    case KeyType::StringList:
      // A single value for a list key is a one-element list.
      literal = value.starts_with('[') ? value : "[" + toml_quote(value) + "]";
      break;
    default:
      literal = value;
  }
  toml::table snippet;
  try {
    snippet = toml::parse("v = " + literal, std::string_view(label));
  } catch (const toml::parse_error& e) {
    r.error(here, "'" + value + "' is not a valid value (" + std::string(e.description()) + ")");
    return;
  }
  toml::node* current = &root;
  for (std::size_t i = 0; i + 1 < path.size(); ++i) {
    if (is_index(path[i])) {
      toml::array* a = current->as_array();
      const std::size_t idx = std::stoul(path[i]);
      if (!a || idx >= a->size() || !a->get(idx)->is_table()) {
        r.error(here, "there is no [[" + path[i - 1] + "]] entry " + path[i] + " (" +
                          std::to_string(a ? a->size() : 0) + " in the file, counted from 0)");
        return;
      }
      current = a->get(idx);
      continue;
    }
    toml::table* t = current->as_table();
    if (!t) {
      r.error(here, "'" + path[i - 1] + "' is not a table");
      return;
    }
    toml::node* next = t->get(path[i]);
    if (!next && is_index(path[i + 1])) {
      r.error(here, "there is no [[" + path[i] + "]] entry " + path[i + 1] + " in the file");
      return;
    }
    if (!next) next = &t->insert_or_assign(path[i], toml::table{}).first->second;
    current = next;
  }
  toml::table* t = current->as_table();
  if (!t) {
    r.error(here, "'" + path[path.size() - 2] + "' is not a table");
    return;
  }
  t->insert_or_assign(path.back(), std::move(*snippet.get("v")));
}

void sort_by_position(std::vector<std::string>& errors, const std::string& source) {
  auto position = [&](const std::string& e) -> std::pair<long, long> {
    const std::string prefix = source + ":";
    if (!e.starts_with(prefix)) return {1L << 30, 0};
    long line = 0, col = 0;
    if (std::sscanf(e.c_str() + prefix.size(), "%ld:%ld", &line, &col) != 2) return {1L << 30, 0};
    return {line, col};
  };
  std::stable_sort(errors.begin(), errors.end(), [&](const std::string& a, const std::string& b) {
    return position(a) < position(b);
  });
}

}  // namespace
ConfigResult parse_config(std::string_view text, const std::string& source,
                          const ConfigOptions& options) {
  ConfigResult result;
  Reader r(source, result.errors, &result.warnings);
  toml::table root;
  try {
    root = toml::parse(text, std::string_view(source));
  } catch (const toml::parse_error& e) {
    r.error(e.source(), std::string(e.description()));
    return result;
  }
  for (const std::string& o : options.overrides) apply_override(r, root, o);

  auto c = std::make_shared<Config>();
  c->source = source;
  c->profiles.clear();
  c->rules.clear();
  Loading l(*c);
  read_table(r, root, "", l);
  {
    std::string err;
    auto cal = SiteCalendar::make(c->site.timezone, l.business_hours.value_or(WeeklyHours{}),
                                  l.holidays, err);
    if (cal) {
      c->calendar = std::move(*cal);
    } else {
      const toml::node* tz = root.at_path("site.timezone").node();
      r.error(tz ? tz->source() : toml::source_region{}, "site.timezone: " + err);
    }
  }
  check_sections(r, root, *c);
  read_detector_levels(r, root, c->detectors);
  read_profiles(r, root, *c);
  read_policy(r, root, *c);
  read_spans(r, root, c->spans);
  const std::optional<std::string>& high_risk_file = l.high_risk_file;
  const toml::node* high_risk_node = l.high_risk_node;
  NumberingPlan& plan = l.plan;
  if (c->notices.default_policy)
    for (PolicyRule& rule : default_policy()) c->rules.push_back(std::move(rule));

  // The high-risk list: the configured file (relative to the config file), else the first of
  // the standard places.
  HighRiskList high_risk;
  if (high_risk_file && !high_risk_file->empty()) {
    std::filesystem::path p(*high_risk_file);
    const bool from_set = high_risk_node && high_risk_node->source().path &&
                          high_risk_node->source().path->starts_with("--set ");
    if (p.is_relative() && !from_set && source.find('/') != std::string::npos)
      p = std::filesystem::path(source).parent_path() / p;
    std::vector<std::string> errs;
    std::string text;
    if (::access(p.c_str(), R_OK) != 0) {
      r.error(high_risk_node->source(), "numbers.high_risk_file: cannot read '" + p.string() + "'");
    } else if (auto err = read_config_file(p.string(), text); !err.empty()) {
      r.error(high_risk_node->source(), "numbers.high_risk_file: " + err);
    } else if (auto list = parse_high_risk(text, p.string(), errs)) {
      high_risk = std::move(*list);
      c->high_risk_file = p.string();
    } else {
      result.errors.insert(result.errors.end(), errs.begin(), errs.end());
    }
  } else {
    for (const std::string& p : options.high_risk_search) {
      if (!std::filesystem::exists(p)) continue;
      std::vector<std::string> errs;
      std::string text;
      if (auto err = read_config_file(p, text); !err.empty()) {
        result.errors.push_back(err);
      } else if (auto list = parse_high_risk(text, p, errs)) {
        high_risk = std::move(*list);
        c->high_risk_file = p;
      } else {
        result.errors.insert(result.errors.end(), errs.begin(), errs.end());
      }
      break;
    }
    if (c->high_risk_file.empty())
      result.warnings.push_back(
          "no high-risk destination file found (numbers.high_risk_file): high-risk "
          "destinations are not recognized");
  }
  c->classifier = Classifier(std::move(plan), std::move(high_risk));
  if (!result.errors.empty()) {
    sort_by_position(result.errors, source);
    return result;
  }
  result.config = std::move(c);
  return result;
}

std::string read_config_file(const std::string& path, std::string& text, std::size_t limit) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return path + ": cannot read the file: " + std::strerror(errno);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return path + ": cannot read the file: " + std::strerror(errno);
  if (!S_ISREG(st.st_mode))
    return path + ": not a regular file (" +
           (S_ISFIFO(st.st_mode)                         ? "a FIFO"
            : S_ISDIR(st.st_mode)                        ? "a directory"
            : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                                                         : "a socket") +
           "); only regular files are read";
  const std::string too_big = path + ": larger than " + std::to_string(limit / (1024 * 1024)) +
                              " MiB, the limit for configuration files";
  if (static_cast<std::uint64_t>(st.st_size) > limit) return too_big;
  text.clear();
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return path + ": cannot read the file: " + std::strerror(errno);
    if (n == 0) break;
    if (text.size() + static_cast<std::size_t>(n) > limit) return too_big;  // grew meanwhile
    text.append(buf, static_cast<std::size_t>(n));
  }
  return "";
}

ConfigResult load_config(const std::string& path, const ConfigOptions& options) {
  if (path.empty()) return parse_config("", "(built-in defaults)", options);
  std::string text;
  if (auto err = read_config_file(path, text); !err.empty()) {
    ConfigResult r;
    r.errors.push_back(err);
    return r;
  }
  return parse_config(text, path, options);
}

}  // namespace tw::rules