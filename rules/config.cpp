#include "rules/config.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>

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

namespace {

// ---- the schema: every key and its type (for --set, and listed by check-config --keys) ----

enum class Kind { Str, Int, Num, Bool, StrList };

struct KeySpec {
  std::string_view path;  // '*' = any name, '#' = an array index
  Kind kind;
  std::string_view what;
};

const std::vector<KeySpec>& schema() {
  static const std::vector<KeySpec> kSchema = {
      {"site.name", Kind::Str, "free text"},
      {"site.timezone", Kind::Str, "IANA time zone"},
      {"site.business_hours", Kind::Str, "weekly hours"},
      {"site.holidays", Kind::StrList, "dates"},
      {"site.remote_access", Kind::StrList, "numbers"},
      {"numbers.country_code", Kind::Str, "digits"},
      {"numbers.international_prefixes", Kind::StrList, "digits"},
      {"numbers.nanp_international", Kind::StrList, "area codes"},
      {"numbers.premium_npa", Kind::StrList, "area codes"},
      {"numbers.premium_nxx", Kind::StrList, "exchange codes"},
      {"numbers.toll_free_npa", Kind::StrList, "area codes"},
      {"numbers.emergency", Kind::StrList, "numbers"},
      {"numbers.high_risk_file", Kind::Str, "path"},
      {"numbers.international", Kind::StrList, "prefixes"},
      {"numbers.premium", Kind::StrList, "prefixes"},
      {"numbers.toll_free", Kind::StrList, "prefixes"},
      {"numbers.national", Kind::StrList, "prefixes"},
      {"numbers.local", Kind::StrList, "prefixes"},
      {"numbers.high_risk", Kind::StrList, "E.164 prefixes"},
      {"lines.voice_only", Kind::StrList, "SPAN or SPAN:CHANNELS"},
      {"notices.suppress_s", Kind::Num, "seconds"},
      {"notices.digest_s", Kind::Num, "seconds"},
      {"notices.digest_max", Kind::Int, "notices"},
      {"notices.default_policy", Kind::Bool, ""},
      {"notices.mask_digits", Kind::Bool, ""},
      {"notices.exec_timeout_s", Kind::Num, "seconds"},
      {"notices.exec_max_running", Kind::Int, "hooks"},
      {"notices.exec_max_queued", Kind::Int, "hooks"},
      {"email.to", Kind::StrList, "addresses"},
      {"email.from", Kind::Str, "address"},
      {"email.transport", Kind::Str, "sendmail, smtp, maildir"},
      {"email.maildir", Kind::Str, "path"},
      {"email.sendmail", Kind::Str, "path"},
      {"email.smtp_url", Kind::Str, "smtp://HOST:PORT or smtps://HOST:PORT"},
      {"email.starttls", Kind::Str, "try, required, none"},
      {"email.username", Kind::Str, ""},
      {"email.password_file", Kind::Str, "path"},
      {"email.ca_file", Kind::Str, "path"},
      {"email.spool_dir", Kind::Str, "path"},
      {"email.retry_min_s", Kind::Num, "seconds"},
      {"email.retry_max_s", Kind::Num, "seconds"},
      {"email.warn_after_s", Kind::Num, "seconds"},
      {"email.timeout_s", Kind::Num, "seconds"},
      {"email.subject_prefix", Kind::Str, "text"},
      {"email.max_per_window", Kind::Int, "mails, 0 = no limit"},
      {"email.window_s", Kind::Num, "seconds"},
      {"daemon.records_dir", Kind::Str, "path"},
      {"daemon.json_records", Kind::Bool, ""},
      {"daemon.control_socket", Kind::Str, "path"},
      {"daemon.log_target", Kind::Str, "auto, journal, syslog, stderr"},
      {"daemon.log_level", Kind::Str, "debug, info, warning, error"},
      {"daemon.syslog_server", Kind::Str, "HOST:PORT"},
      {"daemon.block_ms", Kind::Int, "8 or 20"},
      {"daemon.audio", Kind::Bool, ""},
      {"daemon.dsp_threads", Kind::Int, "threads, 0 = one per core"},
      {"daemon.unstored_records_max", Kind::Int, "records"},
      {"detectors.*.enabled", Kind::Bool, ""},
      {"detectors.concurrency.classes.*.warning", Kind::Int, "calls"},
      {"detectors.concurrency.classes.*.critical", Kind::Int, "calls"},
      {"detectors.concurrency.per_span.warning", Kind::Int, "calls"},
      {"detectors.concurrency.per_span.critical", Kind::Int, "calls"},
      {"detectors.call_rate.per_source.window_s", Kind::Num, "seconds"},
      {"detectors.call_rate.per_source.warning", Kind::Int, "calls"},
      {"detectors.call_rate.per_source.critical", Kind::Int, "calls"},
      {"detectors.call_rate.per_prefix.window_s", Kind::Num, "seconds"},
      {"detectors.call_rate.per_prefix.warning", Kind::Int, "calls"},
      {"detectors.call_rate.per_prefix.critical", Kind::Int, "calls"},
      {"detectors.call_rate.per_prefix.digits", Kind::Int, "digits"},
      {"detectors.call_rate.per_prefix.classes", Kind::StrList, "classes"},
      {"detectors.minutes_cap.classes.*.warning", Kind::Int, "minutes"},
      {"detectors.minutes_cap.classes.*.critical", Kind::Int, "minutes"},
      {"detectors.minutes_cap.per_source.warning", Kind::Int, "minutes"},
      {"detectors.minutes_cap.per_source.critical", Kind::Int, "minutes"},
      {"detectors.brute_force.window_s", Kind::Num, "seconds"},
      {"detectors.brute_force.warning", Kind::Int, "attempts"},
      {"detectors.brute_force.critical", Kind::Int, "attempts"},
      {"detectors.brute_force.min_digits", Kind::Int, "digits"},
      {"detectors.sequential_short_calls.short_call_s", Kind::Num, "seconds"},
      {"detectors.sequential_short_calls.window_s", Kind::Num, "seconds"},
      {"detectors.sequential_short_calls.warning", Kind::Int, "calls"},
      {"detectors.sequential_short_calls.critical", Kind::Int, "calls"},
      {"detectors.through_dial.end_together_s", Kind::Num, "seconds"},
      {"detectors.through_dial.min_match_digits", Kind::Int, "digits"},
      {"detectors.trunk_to_trunk.start_within_s", Kind::Num, "seconds"},
      {"detectors.call_forward.window_s", Kind::Num, "seconds"},
      {"detectors.wangiri_callback.max_ring_s", Kind::Num, "seconds"},
      {"detectors.wangiri_callback.memory_s", Kind::Num, "seconds"},
      {"detectors.span_down.after_s", Kind::Num, "seconds"},
      {"detectors.decode_anomaly_burst.anomalies", Kind::Int, "frames"},
      {"detectors.decode_anomaly_burst.window_s", Kind::Num, "seconds"},
      {"profile.#.name", Kind::Str, "name"},
      {"profile.#.numbers", Kind::StrList, "numbers"},
      {"profile.#.allowed_classes", Kind::StrList, "classes"},
      {"profile.#.hours", Kind::Str, "any, business_hours or weekly hours"},
      {"profile.#.daily_minutes.warning", Kind::Int, "minutes"},
      {"profile.#.daily_minutes.critical", Kind::Int, "minutes"},
      {"profile.#.allowlist", Kind::StrList, "numbers"},
      {"policy.#.name", Kind::Str, "name"},
      {"policy.#.category", Kind::StrList, "categories"},
      {"policy.#.min_severity", Kind::Str, "info, warning, critical"},
      {"policy.#.direction", Kind::Str, "outbound, inbound"},
      {"policy.#.profile", Kind::StrList, "profile names"},
      {"policy.#.class", Kind::StrList, "classes"},
      {"policy.#.window", Kind::StrList, "business_hours, after_hours, holiday"},
      {"policy.#.call_type", Kind::StrList, "voice, fax, modem, data"},
      {"policy.#.action", Kind::StrList, "allow, log, alert, digest, hangup, exec"},
      {"policy.#.exec", Kind::StrList, "argv"},
      {"policy.#.severity", Kind::Str, "info, warning, critical: raise to at least"},
  };
  return kSchema;
}

constexpr std::array<std::string_view, 14> kDetectorNames = {"destination",
                                                             "after_hours",
                                                             "concurrency",
                                                             "call_rate",
                                                             "minutes_cap",
                                                             "brute_force",
                                                             "sequential_short_calls",
                                                             "through_dial",
                                                             "trunk_to_trunk",
                                                             "call_forward",
                                                             "wangiri_callback",
                                                             "fax_modem",
                                                             "span_down",
                                                             "decode_anomaly_burst"};

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

bool is_index(std::string_view s) {
  return !s.empty() && s.size() < 6 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

const KeySpec* find_key(const std::vector<std::string>& path) {
  for (const KeySpec& k : schema()) {
    const auto pat = split_path(k.path);
    if (pat.size() != path.size()) continue;
    bool ok = true;
    for (std::size_t i = 0; i < pat.size() && ok; ++i) {
      if (pat[i] == "#")
        ok = is_index(path[i]);
      else if (pat[i] == "*")
        ok = !path[i].empty() && !is_index(path[i]);
      else
        ok = pat[i] == path[i];
    }
    if (ok && pat[0] == "detectors" && pat[1] == "*")
      ok = std::find(kDetectorNames.begin(), kDetectorNames.end(), path[1]) != kDetectorNames.end();
    if (ok) return &k;
  }
  return nullptr;
}

// A TOML basic string holding `s` exactly.
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

// ---- reading with positions ------------------------------------------------------------

class Reader {
 public:
  Reader(std::string source, std::vector<std::string>& errors,
         std::vector<std::string>* warnings = nullptr)
      : source_(std::move(source)), errors_(errors), warnings_(warnings) {}

  std::string where(const toml::source_region& r) const {
    if (r.path && r.path->starts_with("--set ")) return *r.path;
    const std::string& file = r.path ? *r.path : source_;
    if (r.begin.line == 0) return file;
    return file + ":" + std::to_string(r.begin.line) + ":" + std::to_string(r.begin.column);
  }
  void error(const toml::source_region& r, const std::string& msg) const {
    errors_.push_back(where(r) + ": " + msg);
  }
  void error(const toml::node& n, const std::string& msg) const { error(n.source(), msg); }
  // Valid but probably not what the site meant (check-config prints it, the daemon logs it).
  void warn(const toml::node& n, const std::string& msg) const {
    if (warnings_) warnings_->push_back(where(n.source()) + ": " + msg);
  }
  // An error inside a single-line string value, `offset` bytes into its text.
  void error_in_string(const toml::node& n, std::size_t offset, const std::string& msg) const {
    toml::source_region r = n.source();
    const auto len = n.value<std::string>().value_or("").size();
    // Exact only when the literal has no escapes (its width is the text plus two quotes).
    if (r.begin.line == r.end.line && r.end.column - r.begin.column == len + 2 &&
        !(r.path && r.path->starts_with("--set ")))
      r.begin.column = static_cast<toml::source_index>(r.begin.column + 1 + offset);
    error(r, msg);
  }
  std::size_t error_count() const { return errors_.size(); }

  void only_keys(const toml::table& t, std::string_view what,
                 std::initializer_list<std::string_view> known) const {
    only_keys(t, what, std::vector<std::string_view>(known));
  }
  template <typename Names>
  void only_keys(const toml::table& t, std::string_view what, const Names& known) const {
    for (auto&& [key, node] : t) {
      if (std::find(known.begin(), known.end(), key.str()) == known.end()) {
        std::string list;
        for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
        error(key.source(), "unknown key '" + std::string(key.str()) + "' in " + std::string(what) +
                                " (known: " + list + ")");
      }
    }
  }

  const toml::table* table(const toml::table& parent, std::string_view key,
                           std::string_view what) const {
    const toml::node* n = parent.get(key);
    if (!n) return nullptr;
    if (!n->is_table()) {
      error(*n, "'" + std::string(what) + "' must be a table");
      return nullptr;
    }
    return n->as_table();
  }

  // A string that must be one of `ok`; `out` keeps its value otherwise.
  void choice(const toml::table& t, std::string_view key,
              std::initializer_list<std::string_view> ok, std::string& out) const {
    const toml::node* n = t.get(key);
    if (!n) return;
    const auto v = n->value<std::string>();
    if (!n->is_string() || std::find(ok.begin(), ok.end(), *v) == ok.end()) {
      std::string list;
      for (auto o : ok) list += (list.empty() ? "\"" : ", \"") + std::string(o) + "\"";
      error(*n, "'" + std::string(key) + "' must be one of " + list);
      return;
    }
    out = *v;
  }

  std::optional<std::string> str(const toml::table& t, std::string_view key) const {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    if (!n->is_string()) {
      error(*n, "'" + std::string(key) + "' must be a string");
      return std::nullopt;
    }
    return *n->value<std::string>();
  }

  std::optional<bool> boolean(const toml::table& t, std::string_view key) const {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    if (!n->is_boolean()) {
      error(*n, "'" + std::string(key) + "' must be true or false");
      return std::nullopt;
    }
    return *n->value<bool>();
  }

  std::optional<std::int64_t> integer(const toml::table& t, std::string_view key, std::int64_t min,
                                      std::int64_t max) const {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    if (!n->is_integer()) {
      error(*n, "'" + std::string(key) + "' must be an integer");
      return std::nullopt;
    }
    const std::int64_t v = *n->value<std::int64_t>();
    if (v < min || v > max) {
      error(*n, "'" + std::string(key) + "' must be between " + std::to_string(min) + " and " +
                    std::to_string(max));
      return std::nullopt;
    }
    return v;
  }

  std::optional<double> number(const toml::table& t, std::string_view key, double min,
                               double max) const {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    if (!n->is_number()) {
      error(*n, "'" + std::string(key) + "' must be a number");
      return std::nullopt;
    }
    const double v = *n->value<double>();
    if (!(v >= min && v <= max)) {
      std::ostringstream m;
      m << "'" << key << "' must be between " << min << " and " << max;
      error(*n, m.str());
      return std::nullopt;
    }
    return v;
  }

  // A list of strings; a single string is a one-element list.
  std::optional<std::vector<const toml::node*>> strings(const toml::table& t,
                                                        std::string_view key) const {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    std::vector<const toml::node*> out;
    if (n->is_string()) {
      out.push_back(n);
      return out;
    }
    const toml::array* a = n->as_array();
    if (!a) {
      error(*n, "'" + std::string(key) + "' must be a string or a list of strings");
      return std::nullopt;
    }
    bool ok = true;
    for (const toml::node& e : *a) {
      if (!e.is_string()) {
        error(e, "each entry of '" + std::string(key) + "' must be a string");
        ok = false;
      }
      out.push_back(&e);
    }
    if (!ok) return std::nullopt;
    return out;
  }

  std::optional<std::vector<std::string>> string_values(const toml::table& t,
                                                        std::string_view key) const {
    auto nodes = strings(t, key);
    if (!nodes) return std::nullopt;
    std::vector<std::string> out;
    for (const toml::node* n : *nodes) out.push_back(*n->value<std::string>());
    return out;
  }

  // Strings of digits only (area codes, prefixes).
  std::optional<std::vector<std::string>> digit_strings(const toml::table& t,
                                                        std::string_view key) const {
    auto nodes = strings(t, key);
    if (!nodes) return std::nullopt;
    std::vector<std::string> out;
    bool ok = true;
    for (const toml::node* n : *nodes) {
      const std::string s = *n->value<std::string>();
      if (s.empty() ||
          !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        error(*n,
              "'" + std::string(key) + "' entries must be strings of digits (quote them: \"011\")");
        ok = false;
      }
      out.push_back(s);
    }
    if (!ok) return std::nullopt;
    return out;
  }

  std::optional<std::vector<NumberPattern>> patterns(const toml::table& t,
                                                     std::string_view key) const {
    auto nodes = strings(t, key);
    if (!nodes) return std::nullopt;
    std::vector<NumberPattern> out;
    bool ok = true;
    for (const toml::node* n : *nodes) {
      std::string err;
      auto p = parse_number_pattern(*n->value<std::string>(), err);
      if (!p) {
        error(*n, err);
        ok = false;
        continue;
      }
      out.push_back(*p);
    }
    if (!ok) return std::nullopt;
    return out;
  }

  std::optional<ClassSet> classes(const toml::table& t, std::string_view key) const {
    auto nodes = strings(t, key);
    if (!nodes) return std::nullopt;
    ClassSet out;
    bool ok = true;
    for (const toml::node* n : *nodes) {
      const std::string s = *n->value<std::string>();
      if (auto c = parse_number_class(s)) {
        out.add(*c);
      } else {
        error(*n, "unknown class '" + s +
                      "' (emergency, high_risk, premium, international, toll_free, national, "
                      "local, unknown)");
        ok = false;
      }
    }
    if (!ok) return std::nullopt;
    return out;
  }

  // { warning = N, critical = M } over `levels` (keys that are missing keep their value).
  void levels(const toml::node& n, std::string_view what, Levels& levels) const {
    const toml::table* t = n.as_table();
    if (!t) {
      error(n, "'" + std::string(what) + "' must be a table { warning = N, critical = M }");
      return;
    }
    only_keys(*t, what, {"warning", "critical"});
    Levels l = levels;
    if (auto v = integer(*t, "warning", 0, 1'000'000)) l.warning = *v;
    if (auto v = integer(*t, "critical", 0, 1'000'000)) l.critical = *v;
    if (l.warning > 0 && l.critical > 0 && l.warning > l.critical) {
      error(n, "'" + std::string(what) + "': warning (" + std::to_string(l.warning) +
                   ") must not be above critical (" + std::to_string(l.critical) + ")");
      return;
    }
    levels = l;
  }

  // warning/critical keys inline in a detector table.
  void inline_levels(const toml::table& t, std::string_view what, Levels& levels) const {
    Levels l = levels;
    if (auto v = integer(t, "warning", 0, 1'000'000)) l.warning = *v;
    if (auto v = integer(t, "critical", 0, 1'000'000)) l.critical = *v;
    if (l.warning > 0 && l.critical > 0 && l.warning > l.critical) {
      error(t, "'" + std::string(what) + "': warning (" + std::to_string(l.warning) +
                   ") must not be above critical (" + std::to_string(l.critical) + ")");
      return;
    }
    levels = l;
  }

  void class_levels(const toml::table& parent, std::string_view key, std::string_view what,
                    ClassLevels& out) const {
    const toml::table* t = table(parent, key, what);
    if (!t) return;
    for (auto&& [k, v] : *t) {
      auto c = parse_number_class(k.str());
      if (!c) {
        error(k.source(), "unknown class '" + std::string(k.str()) + "' in " + std::string(what) +
                              " (emergency, high_risk, premium, international, toll_free, "
                              "national, local, unknown)");
        continue;
      }
      Levels l = out.find(*c) ? *out.find(*c) : Levels{};
      levels(v, std::string(what) + "." + std::string(k.str()), l);
      out.set(*c, l);
    }
  }

 private:
  std::string source_;
  std::vector<std::string>& errors_;
  std::vector<std::string>* warnings_;
};

// ---- sections --------------------------------------------------------------------------

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

void read_site(const Reader& r, const toml::table& root, Config& c, std::vector<Holiday>& holidays,
               std::optional<WeeklyHours>& hours) {
  const toml::table* t = r.table(root, "site", "site");
  if (!t) return;
  r.only_keys(*t, "[site]", {"name", "timezone", "business_hours", "holidays", "remote_access"});
  if (auto v = r.str(*t, "name")) c.site.name = *v;
  if (auto v = r.str(*t, "timezone")) c.site.timezone = *v;
  if (const toml::node* n = t->get("business_hours"); n && n->is_string()) {
    c.site.business_hours = *n->value<std::string>();
    HoursError e;
    hours = parse_weekly_hours(c.site.business_hours, e);
    if (!hours)
      r.error_in_string(*n, e.offset, "site.business_hours: " + e.message);
    else
      warn_overlapping_hours(r, *n, "site.business_hours", *hours);
  } else if (n) {
    r.error(*n, "'business_hours' must be a string (\"Mon-Fri 08:00-18:00\")");
  }
  if (const toml::node* n = t->get("holidays")) {
    const toml::array* a = n->as_array();
    std::vector<const toml::node*> items;
    if (a)
      for (const toml::node& e : *a) items.push_back(&e);
    else
      items.push_back(n);
    for (const toml::node* e : items) {
      if (const auto* d = e->as_date()) {
        const toml::date& v = d->get();
        const std::chrono::year_month_day ymd{std::chrono::year(v.year),
                                              std::chrono::month(v.month), std::chrono::day(v.day)};
        if (!ymd.ok()) {
          r.error(*e, "not a valid date");
          continue;
        }
        holidays.push_back(Holiday{v.year, v.month, v.day});
        char buf[16];
        std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(v.year),
                      static_cast<unsigned>(v.month), static_cast<unsigned>(v.day));
        c.site.holidays.push_back(buf);
      } else if (e->is_string()) {
        const std::string s = *e->value<std::string>();
        auto h = parse_holiday(s);
        if (!h) {
          r.error(*e, "holiday '" + s + "' is not a date (2027-12-25, or 12-25 for every year)");
          continue;
        }
        holidays.push_back(*h);
        c.site.holidays.push_back(s);
      } else {
        r.error(*e, "holidays are dates (2027-12-25) or strings (\"12-25\" for every year)");
      }
    }
  }
  if (auto nodes = r.strings(*t, "remote_access")) {
    for (const toml::node* n : *nodes) {
      const std::string s = *n->value<std::string>();
      std::string err;
      auto p = parse_number_pattern(s, err);
      if (!p) {
        r.error(*n, "site.remote_access: " + err);
        continue;
      }
      c.site.remote_access.push_back(s);
      c.site.remote_access_patterns.push_back(*p);
    }
  }
}

void read_numbers(const Reader& r, const toml::table& root, NumberingPlan& plan,
                  std::optional<std::string>& high_risk_file, const toml::node*& high_risk_node) {
  const toml::table* t = r.table(root, "numbers", "numbers");
  if (!t) return;
  r.only_keys(*t, "[numbers]",
              {"country_code", "international_prefixes", "nanp_international", "premium_npa",
               "premium_nxx", "toll_free_npa", "emergency", "high_risk_file", "international",
               "premium", "toll_free", "national", "local", "high_risk"});
  if (const toml::node* n = t->get("country_code")) {
    const auto s = n->value<std::string>();
    if (!n->is_string() || s->empty() || s->size() > 3 ||
        !std::all_of(s->begin(), s->end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
      r.error(*n, "'country_code' must be 1-3 digits as a string (\"1\", \"44\")");
    else
      plan.country_code = *s;
  }
  struct ListKey {
    std::string_view key;
    std::vector<std::string>* out;
    std::size_t exact_len;  // 3 for area/exchange codes, 0 = any length
  };
  const ListKey lists[] = {
      {"international_prefixes", &plan.international_prefixes, 0},
      {"nanp_international", &plan.nanp_international, 3},
      {"premium_npa", &plan.premium_npa, 3},
      {"premium_nxx", &plan.premium_nxx, 3},
      {"toll_free_npa", &plan.toll_free_npa, 3},
      {"emergency", &plan.emergency, 0},
      {"international", &plan.extra_international, 0},
      {"premium", &plan.extra_premium, 0},
      {"toll_free", &plan.extra_toll_free, 0},
      {"national", &plan.extra_national, 0},
      {"local", &plan.extra_local, 0},
      {"high_risk", &plan.extra_high_risk, 0},
  };
  for (const ListKey& k : lists) {
    auto v = r.digit_strings(*t, k.key);
    if (!v) continue;
    bool ok = true;
    if (k.exact_len) {
      const auto nodes = r.strings(*t, k.key);
      for (std::size_t i = 0; i < v->size(); ++i) {
        if ((*v)[i].size() != k.exact_len) {
          r.error(*(*nodes)[i], "'" + std::string(k.key) + "' entries are 3-digit codes");
          ok = false;
        }
      }
    }
    if (ok) *k.out = *v;
  }
  if (const toml::node* n = t->get("high_risk_file")) {
    if (!n->is_string())
      r.error(*n, "'high_risk_file' must be a string (a path)");
    else
      high_risk_file = *n->value<std::string>();
    high_risk_node = n;
  }
}

void read_lines(const Reader& r, const toml::table& root, Config& c) {
  const toml::table* t = r.table(root, "lines", "lines");
  if (!t) return;
  r.only_keys(*t, "[lines]", {"voice_only"});
  auto nodes = r.strings(*t, "voice_only");
  if (!nodes) return;
  for (const toml::node* n : *nodes) {
    const std::string s = *n->value<std::string>();
    LineSpec l;
    const auto colon = s.find(':');
    bool ok = true;
    auto to_int = [](std::string_view d, int& out) {
      if (d.empty() || d.size() > 3 ||
          !std::all_of(d.begin(), d.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
        return false;
      out = std::stoi(std::string(d));
      return true;
    };
    ok = to_int(std::string_view(s).substr(0, colon), l.span) && l.span >= 1 && l.span <= 255;
    if (ok && colon != std::string::npos) {
      std::string_view rest = std::string_view(s).substr(colon + 1);
      ok = !rest.empty();
      while (ok && !rest.empty()) {
        const auto comma = rest.find(',');
        const std::string_view item = rest.substr(0, comma);
        const auto dash = item.find('-');
        int a = 0, b = 0;
        ok = to_int(item.substr(0, dash), a) &&
             (dash == std::string_view::npos ? (b = a, true) : to_int(item.substr(dash + 1), b)) &&
             a >= 1 && a <= b && b <= 31;
        if (ok) l.channels.emplace_back(a, b);
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      }
    }
    if (!ok) {
      r.error(*n, "lines.voice_only: '" + s +
                      "' is not SPAN or SPAN:CHANNELS (\"1\", \"2:1-12,15\"; spans 1-255, "
                      "channels 1-31)");
      continue;
    }
    c.voice_only.push_back(l);
  }
}

void read_notices(const Reader& r, const toml::table& root, NoticeSettings& n) {
  const toml::table* t = r.table(root, "notices", "notices");
  if (!t) return;
  r.only_keys(*t, "[notices]",
              {"suppress_s", "digest_s", "digest_max", "default_policy", "mask_digits",
               "exec_timeout_s", "exec_max_running", "exec_max_queued"});
  if (auto v = r.number(*t, "suppress_s", 0, 30 * 86400)) n.suppress_s = *v;
  if (auto v = r.number(*t, "digest_s", 60, 7 * 86400)) n.digest_s = *v;
  if (auto v = r.integer(*t, "digest_max", 1, 100000)) n.digest_max = *v;
  if (auto v = r.boolean(*t, "default_policy")) n.default_policy = *v;
  if (auto v = r.boolean(*t, "mask_digits")) n.mask_digits = *v;
  if (auto v = r.number(*t, "exec_timeout_s", 1, 3600)) n.exec_timeout_s = *v;
  if (auto v = r.integer(*t, "exec_max_running", 1, 256)) n.exec_max_running = *v;
  if (auto v = r.integer(*t, "exec_max_queued", 0, 100000)) n.exec_max_queued = *v;
}

void read_email(const Reader& r, const toml::table& root, EmailSettings& e) {
  const toml::table* t = r.table(root, "email", "email");
  if (!t) return;
  r.only_keys(*t, "[email]",
              {"to", "from", "transport", "sendmail", "smtp_url", "starttls", "username",
               "password_file", "ca_file", "maildir", "spool_dir", "retry_min_s", "retry_max_s",
               "warn_after_s", "timeout_s", "subject_prefix", "max_per_window", "window_s"});
  if (auto nodes = r.strings(*t, "to")) {
    for (const toml::node* n : *nodes) {
      const std::string a = *n->value<std::string>();
      if (!valid_mail_address(a))
        r.error(*n, "'" + a + "' is not an e-mail address (local@domain)");
      else
        e.to.push_back(a);
    }
  }
  if (const toml::node* n = t->get("from"); n && n->is_string()) {
    if (!valid_mail_address(*n->value<std::string>()))
      r.error(*n, "'from' is not an e-mail address (local@domain)");
    else
      e.from = *n->value<std::string>();
  } else if (n) {
    r.error(*n, "'from' must be a string");
  }
  r.choice(*t, "transport", {"sendmail", "smtp", "maildir"}, e.transport);
  r.choice(*t, "starttls", {"try", "required", "none"}, e.starttls);
  if (auto v = r.str(*t, "sendmail")) {
    if (!v->starts_with('/'))
      r.error(*t->get("sendmail"), "'sendmail' must be an absolute path");
    else
      e.sendmail = *v;
  }
  if (auto v = r.str(*t, "smtp_url")) {
    if (!v->starts_with("smtp://") && !v->starts_with("smtps://"))
      r.error(*t->get("smtp_url"), "'smtp_url' must be smtp://HOST[:PORT] or smtps://HOST[:PORT]");
    else
      e.smtp_url = *v;
  }
  if (auto v = r.str(*t, "maildir")) {
    if (v->empty())
      r.error(*t->get("maildir"), "'maildir' must not be empty");
    else
      e.maildir = *v;
  }
  if (auto v = r.str(*t, "username")) e.username = *v;
  if (auto v = r.str(*t, "password_file")) {
    struct stat st {};
    if (::stat(v->c_str(), &st) != 0 || !S_ISREG(st.st_mode))
      r.error(*t->get("password_file"), "cannot read the password file '" + *v + "'");
    else if (st.st_mode & (S_IROTH | S_IWOTH))
      r.error(*t->get("password_file"),
              "the password file '" + *v + "' is readable by everyone (chmod 600 it)");
    else
      e.password_file = *v;
  }
  if (auto v = r.str(*t, "ca_file")) {
    struct stat st {};
    if (v->empty())
      e.ca_file.clear();  // the system's CA store
    else if (::stat(v->c_str(), &st) != 0 || !S_ISREG(st.st_mode) || !std::ifstream(*v).is_open())
      r.error(*t->get("ca_file"), "cannot read the CA file '" + *v + "'");
    else
      e.ca_file = *v;
  }
  if (auto v = r.str(*t, "spool_dir")) {
    if (v->empty())
      r.error(*t->get("spool_dir"), "'spool_dir' must not be empty");
    else
      e.spool_dir = *v;
  }
  if (auto v = r.number(*t, "retry_min_s", 0.01, 86400)) e.retry_min_s = *v;
  if (auto v = r.number(*t, "retry_max_s", 0.01, 86400)) e.retry_max_s = *v;
  if (auto v = r.number(*t, "warn_after_s", 1, 30 * 86400)) e.warn_after_s = *v;
  if (auto v = r.number(*t, "timeout_s", 1, 3600)) e.timeout_s = *v;
  if (auto v = r.str(*t, "subject_prefix")) {
    const bool printable =
        std::all_of(v->begin(), v->end(), [](char c) { return c >= 0x20 && c < 0x7f; });
    if (!printable || v->size() > 64)
      r.error(*t->get("subject_prefix"),
              "'subject_prefix' must be printable ASCII, at most 64 characters");
    else
      e.subject_prefix = *v;
  }
  if (auto v = r.integer(*t, "max_per_window", 0, 100000)) e.max_per_window = *v;
  if (auto v = r.number(*t, "window_s", 1, 86400)) e.window_s = *v;
  if (e.retry_max_s < e.retry_min_s)
    r.error(*t, "email: retry_max_s must not be below retry_min_s");
}

void read_detectors(const Reader& r, const toml::table& root, Detectors& d) {
  const toml::table* t = r.table(root, "detectors", "detectors");
  if (!t) return;
  r.only_keys(*t, "[detectors]", kDetectorNames);
  auto section = [&](std::string_view name, std::initializer_list<std::string_view> keys,
                     bool& enabled) -> const toml::table* {
    const toml::table* s = r.table(*t, name, "detectors." + std::string(name));
    if (!s) return nullptr;
    r.only_keys(*s, "[detectors." + std::string(name) + "]", keys);
    if (auto v = r.boolean(*s, "enabled")) enabled = *v;
    return s;
  };
  constexpr double kDay = 86400;
  section("destination", {"enabled"}, d.destination.enabled);
  section("after_hours", {"enabled"}, d.after_hours.enabled);
  if (const auto* s =
          section("concurrency", {"enabled", "classes", "per_span"}, d.concurrency.enabled)) {
    r.class_levels(*s, "classes", "detectors.concurrency.classes", d.concurrency.classes);
    if (const toml::node* n = s->get("per_span"))
      r.levels(*n, "detectors.concurrency.per_span", d.concurrency.per_span);
  }
  if (const auto* s =
          section("call_rate", {"enabled", "per_source", "per_prefix"}, d.call_rate.enabled)) {
    if (const auto* ps = r.table(*s, "per_source", "detectors.call_rate.per_source")) {
      r.only_keys(*ps, "[detectors.call_rate.per_source]", {"window_s", "warning", "critical"});
      if (auto v = r.number(*ps, "window_s", 1, kDay)) d.call_rate.per_source.window_s = *v;
      r.inline_levels(*ps, "detectors.call_rate.per_source", d.call_rate.per_source.levels);
    }
    if (const auto* pp = r.table(*s, "per_prefix", "detectors.call_rate.per_prefix")) {
      r.only_keys(*pp, "[detectors.call_rate.per_prefix]",
                  {"window_s", "warning", "critical", "digits", "classes"});
      if (auto v = r.number(*pp, "window_s", 1, kDay)) d.call_rate.per_prefix.window_s = *v;
      r.inline_levels(*pp, "detectors.call_rate.per_prefix", d.call_rate.per_prefix.levels);
      if (auto v = r.integer(*pp, "digits", 1, 15))
        d.call_rate.prefix_digits = static_cast<int>(*v);
      if (auto v = r.classes(*pp, "classes")) d.call_rate.prefix_classes = *v;
    }
  }
  if (const auto* s =
          section("minutes_cap", {"enabled", "classes", "per_source"}, d.minutes_cap.enabled)) {
    r.class_levels(*s, "classes", "detectors.minutes_cap.classes", d.minutes_cap.classes);
    if (const toml::node* n = s->get("per_source"))
      r.levels(*n, "detectors.minutes_cap.per_source", d.minutes_cap.per_source);
  }
  if (const auto* s =
          section("brute_force", {"enabled", "window_s", "warning", "critical", "min_digits"},
                  d.brute_force.enabled)) {
    if (auto v = r.number(*s, "window_s", 1, kDay)) d.brute_force.window_s = *v;
    r.inline_levels(*s, "detectors.brute_force", d.brute_force.levels);
    if (auto v = r.integer(*s, "min_digits", 1, 64))
      d.brute_force.min_digits = static_cast<int>(*v);
  }
  if (const auto* s = section("sequential_short_calls",
                              {"enabled", "short_call_s", "window_s", "warning", "critical"},
                              d.sequential_short_calls.enabled)) {
    if (auto v = r.number(*s, "short_call_s", 1, 3600)) d.sequential_short_calls.short_call_s = *v;
    if (auto v = r.number(*s, "window_s", 1, kDay)) d.sequential_short_calls.window_s = *v;
    r.inline_levels(*s, "detectors.sequential_short_calls", d.sequential_short_calls.levels);
  }
  if (const auto* s = section("through_dial", {"enabled", "end_together_s", "min_match_digits"},
                              d.through_dial.enabled)) {
    if (auto v = r.number(*s, "end_together_s", 0, 60)) d.through_dial.end_together_s = *v;
    if (auto v = r.integer(*s, "min_match_digits", 1, 32))
      d.through_dial.min_match_digits = static_cast<int>(*v);
  }
  if (const auto* s =
          section("trunk_to_trunk", {"enabled", "start_within_s"}, d.trunk_to_trunk.enabled)) {
    if (auto v = r.number(*s, "start_within_s", 1, 3600)) d.trunk_to_trunk.start_within_s = *v;
  }
  if (const auto* s = section("call_forward", {"enabled", "window_s"}, d.call_forward.enabled)) {
    if (auto v = r.number(*s, "window_s", 0, 600)) d.call_forward.window_s = *v;
  }
  if (const auto* s = section("wangiri_callback", {"enabled", "max_ring_s", "memory_s"},
                              d.wangiri_callback.enabled)) {
    if (auto v = r.number(*s, "max_ring_s", 1, 600)) d.wangiri_callback.max_ring_s = *v;
    if (auto v = r.number(*s, "memory_s", 60, 30 * kDay)) d.wangiri_callback.memory_s = *v;
  }
  section("fax_modem", {"enabled"}, d.fax_modem.enabled);
  if (const auto* s = section("span_down", {"enabled", "after_s"}, d.span_down.enabled)) {
    if (auto v = r.number(*s, "after_s", 0, kDay)) d.span_down.after_s = *v;
  }
  if (const auto* s = section("decode_anomaly_burst", {"enabled", "anomalies", "window_s"},
                              d.decode_anomaly_burst.enabled)) {
    if (auto v = r.integer(*s, "anomalies", 1, 1000000))
      d.decode_anomaly_burst.anomalies = static_cast<int>(*v);
    if (auto v = r.number(*s, "window_s", 1, kDay)) d.decode_anomaly_burst.window_s = *v;
  }
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

void read_daemon(const Reader& r, const toml::table& root, DaemonSettings& d) {
  const toml::table* t = r.table(root, "daemon", "daemon");
  if (!t) return;
  r.only_keys(*t, "[daemon]",
              {"records_dir", "json_records", "control_socket", "log_target", "log_level",
               "syslog_server", "block_ms", "audio", "dsp_threads", "unstored_records_max"});
  auto path = [&](std::string_view key, std::string& out) {
    if (auto v = r.str(*t, key)) {
      if (!v->starts_with('/'))
        r.error(*t->get(key), "'" + std::string(key) + "' must be an absolute path");
      else
        out = *v;
    }
  };
  path("records_dir", d.records_dir);
  path("control_socket", d.control_socket);
  if (d.control_socket.size() >= 108)  // sun_path
    r.error(*t->get("control_socket"), "'control_socket' is too long for a Unix socket path");
  if (auto v = r.boolean(*t, "json_records")) d.json_records = *v;
  if (auto v = r.boolean(*t, "audio")) d.audio = *v;
  if (auto v = r.integer(*t, "dsp_threads", 0, 64)) d.dsp_threads = static_cast<int>(*v);
  if (auto v = r.integer(*t, "unstored_records_max", 0, 1000000))
    d.unstored_records_max = static_cast<std::size_t>(*v);
  r.choice(*t, "log_target", {"auto", "journal", "syslog", "stderr"}, d.log_target);
  r.choice(*t, "log_level", {"debug", "info", "warning", "error"}, d.log_level);
  if (auto v = r.str(*t, "syslog_server")) {
    // HOST:PORT, or [IPV6]:PORT (an IPv6 address has colons of its own).
    const auto colon = v->rfind(':');
    const bool bracketed = !v->empty() && v->front() == '[';
    const auto close = v->find(']');
    if (colon == std::string::npos || colon == 0 || colon + 1 == v->size() ||
        v->find_first_not_of("0123456789", colon + 1) != std::string::npos ||
        std::stol(v->substr(colon + 1, 6)) > 65535 ||
        (bracketed && (close == std::string::npos || close + 1 != colon || close == 1)))
      r.error(*t->get("syslog_server"), "'syslog_server' must be HOST:PORT or [IPV6]:PORT");
    else
      d.syslog_server = *v;
  }
  if (const toml::node* n = t->get("block_ms")) {
    const auto v = n->value<std::int64_t>();
    if (!n->is_integer() || (*v != 8 && *v != 20))
      r.error(*n, "'block_ms' must be 8 or 20");
    else
      d.block_ms = static_cast<int>(*v);
  }
}

void read_spans(const Reader& r, const toml::table& root, std::vector<SpanSettings>& spans) {
  std::set<int> used;
  for (const toml::table* t : table_array(r, root, "span")) {
    r.only_keys(*t, "[[span]]",
                {"span", "carrier_span", "mode", "type", "switchtype", "pbx_side", "name"});
    SpanSettings s;
    if (auto v = r.integer(*t, "span", 1, 255)) {
      s.span = static_cast<int>(*v);
    } else if (!t->get("span")) {
      r.error(*t, "a [[span]] needs 'span', the DAHDI span number");
      continue;
    }
    if (auto v = r.integer(*t, "carrier_span", 1, 255)) {
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
      else if (*v != "tap")
        r.error(*t->get("mode"), "'mode' must be \"tap\"");
    }
    if (s.mode == "tap" && !s.carrier_span && t->get("span"))
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
    r.only_keys(*t, "[[profile]]",
                {"name", "numbers", "allowed_classes", "hours", "daily_minutes", "allowlist"});
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
    r.only_keys(*t, "[[policy]]",
                {"name", "category", "min_severity", "direction", "profile", "class", "window",
                 "call_type", "action", "exec", "severity"});
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
  const KeySpec* spec = find_key(path);
  if (!spec) {
    r.error(here, "unknown key '" + key + "' (trunkwatch check-config --keys lists them)");
    return;
  }
  std::string literal;
  switch (spec->kind) {
    case Kind::Str:
      literal = value.starts_with('"') ? value : toml_quote(value);
      break;
    case Kind::StrList:
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

std::string kind_name(Kind k) {
  switch (k) {
    case Kind::Str:
      return "string";
    case Kind::Int:
      return "integer";
    case Kind::Num:
      return "number";
    case Kind::Bool:
      return "true|false";
    case Kind::StrList:
      return "list of strings";
  }
  return "?";
}

// The file's errors in file order (they are found section by section), then the rest.
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

std::vector<std::string> config_keys() {
  std::vector<std::string> out;
  for (const KeySpec& k : schema()) {
    std::string line = std::string(k.path) + " (" + kind_name(k.kind);
    if (!k.what.empty()) line += ": " + std::string(k.what);
    out.push_back(line + ")");
  }
  return out;
}

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
  r.only_keys(root, "the top level",
              {"site", "numbers", "lines", "notices", "email", "detectors", "profile", "policy",
               "daemon", "span"});
  std::vector<Holiday> holidays;
  std::optional<WeeklyHours> business = c->calendar.business_hours();
  read_site(r, root, *c, holidays, business);
  {
    std::string err;
    auto cal =
        SiteCalendar::make(c->site.timezone, business.value_or(WeeklyHours{}), holidays, err);
    if (cal) {
      c->calendar = std::move(*cal);
    } else {
      const toml::node* tz = root.at_path("site.timezone").node();
      r.error(tz ? tz->source() : toml::source_region{}, "site.timezone: " + err);
    }
  }
  NumberingPlan plan;
  std::optional<std::string> high_risk_file;
  const toml::node* high_risk_node = nullptr;
  read_numbers(r, root, plan, high_risk_file, high_risk_node);
  read_lines(r, root, *c);
  read_notices(r, root, c->notices);
  read_email(r, root, c->email);
  read_detectors(r, root, c->detectors);
  read_profiles(r, root, *c);
  read_policy(r, root, *c);
  read_daemon(r, root, c->daemon);
  read_spans(r, root, c->spans);
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
