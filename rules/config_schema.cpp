// Every configuration key, declared once. The defaults are not repeated here: they are read
// from a default-constructed Config (rules/config.hpp), through the same accessor that stores
// a value read from the file.
#include "rules/config_schema.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <type_traits>

namespace tw::rules::config_detail {

namespace {

// ---- defaults as TOML text ---------------------------------------------------------------

std::string in_quotes(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

std::string number_text(double v) {
  if (std::floor(v) == v && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  std::ostringstream o;
  o << std::setprecision(15) << v;
  return o.str();
}

std::string toml_text(bool v) {
  return v ? "true" : "false";
}
std::string toml_text(const std::string& v) {
  return in_quotes(v);
}
std::string toml_text(double v) {
  return number_text(v);
}
template <typename I>
requires std::is_integral_v<I> std::string toml_text(I v) {
  return std::to_string(v);
}
template <ConfigEnum E>
std::string toml_text(E v) {
  return in_quotes(to_string(v));
}
std::string toml_text(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + in_quotes(s);
  return "[" + out + "]";
}
std::string toml_text(const ClassSet& v) {
  std::string out;
  for (std::size_t i = 0; i < kNumberClassCount; ++i)
    if (v.has(static_cast<NumberClass>(i)))
      out += (out.empty() ? "" : ", ") + in_quotes(to_string(static_cast<NumberClass>(i)));
  return "[" + out + "]";
}

// An accessor is a captureless lambda Loading& -> T&: default-constructible (C++20), so the
// read and default functions below are plain functions, one per key.
template <typename F>
using FieldOf = std::remove_reference_t<decltype(F{}(std::declval<Loading&>()))>;

template <typename F>
std::string default_of() {
  Config c;
  Loading l(c);
  return toml_text(F{}(l));
}

template <typename F>
std::string value_of(const Config& c) {
  // The accessor only reads here; the Config was made non-const (parse_config).
  Loading l(const_cast<Config&>(c));
  return toml_text(F{}(l));
}

// ---- typed reads ---------------------------------------------------------------------------

template <typename F>
void read_bool(const Reader& r, const Setting& s, const toml::node& n, Loading& l) {
  if (auto v = r.boolean(n, s.key())) F{}(l) = *v;
}

template <typename F>
void read_integer(const Reader& r, const Setting& s, const toml::node& n, Loading& l) {
  if (auto v =
          r.integer(n, s.key(), static_cast<std::int64_t>(s.min), static_cast<std::int64_t>(s.max)))
    F{}(l) = static_cast<FieldOf<F>>(*v);
}

template <typename F>
void read_number(const Reader& r, const Setting& s, const toml::node& n, Loading& l) {
  if (auto v = r.number(n, s.key(), s.min, s.max)) F{}(l) = *v;
}

template <typename F>
void read_string(const Reader& r, const Setting& s, const toml::node& n, Loading& l) {
  if (auto v = r.str(n, s.key())) F{}(l) = *v;
}

template <typename F>
void read_choice(const Reader& r, const Setting& s, const toml::node& n, Loading& l) {
  if (auto i = r.choice(n, s.key(), s.words)) F{}(l) = static_cast<FieldOf<F>>(*i);
}

template <typename F>
void read_absolute_path(const Reader& r, const Setting& s, const toml::node& n, Loading& l) {
  if (auto v = r.str(n, s.key())) {
    if (!v->starts_with('/'))
      r.error(n, "'" + s.key() + "' must be an absolute path");
    else
      F{}(l) = *v;
  }
}

template <typename F>
void read_not_empty(const Reader& r, const Setting& s, const toml::node& n, Loading& l) {
  if (auto v = r.str(n, s.key())) {
    if (v->empty())
      r.error(n, "'" + s.key() + "' must not be empty");
    else
      F{}(l) = *v;
  }
}

template <typename F>
void read_classes(const Reader& r, const Setting& s, const toml::node& n, Loading& l) {
  auto nodes = r.strings(n, s.key());
  if (!nodes) return;
  ClassSet out;
  bool ok = true;
  for (const toml::node* e : *nodes) {
    const std::string v = *e->value<std::string>();
    if (auto c = parse_number_class(v)) {
      out.add(*c);
    } else {
      r.error(*e, "unknown class '" + v +
                      "' (emergency, high_risk, premium, international, toll_free, national, "
                      "local, unknown)");
      ok = false;
    }
  }
  if (ok) F{}(l) = out;
}

// Strings of digits (area codes, prefixes); `Length` > 0: each exactly that long.
template <typename F, std::size_t Length>
void read_digits(const Reader& r, const Setting& s, const toml::node& n, Loading& l) {
  auto nodes = r.strings(n, s.key());
  if (!nodes) return;
  std::vector<std::string> out;
  bool ok = true;
  for (const toml::node* e : *nodes) {
    const std::string v = *e->value<std::string>();
    if (v.empty() ||
        !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      r.error(*e, "'" + s.key() + "' entries must be strings of digits (quote them: \"011\")");
      ok = false;
    }
    out.push_back(v);
  }
  if (!ok) return;
  if constexpr (Length > 0) {
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (out[i].size() != Length) {
        r.error(*(*nodes)[i], "'" + s.key() + "' entries are 3-digit codes");
        ok = false;
      }
    }
  }
  if (ok) F{}(l) = out;
}

// ---- declaration helpers -------------------------------------------------------------------

template <typename F>
Setting boolean(std::string_view path, std::string_view help, F) {
  return {.path = path,
          .type = KeyType::Bool,
          .help = help,
          .read = &read_bool<F>,
          .show_default = &default_of<F>,
          .show_value = &value_of<F>};
}
template <typename F>
Setting integer(std::string_view path, std::int64_t min, std::int64_t max, std::string_view what,
                std::string_view help, F) {
  return {.path = path,
          .type = KeyType::Integer,
          .what = what,
          .help = help,
          .min = static_cast<double>(min),
          .max = static_cast<double>(max),
          .read = &read_integer<F>,
          .show_default = &default_of<F>};
}
template <typename F>
Setting number(std::string_view path, double min, double max, std::string_view what,
               std::string_view help, F) {
  return {.path = path,
          .type = KeyType::Number,
          .what = what,
          .help = help,
          .min = min,
          .max = max,
          .read = &read_number<F>,
          .show_default = &default_of<F>};
}
template <typename F>
Setting string(std::string_view path, std::string_view what, std::string_view help, F,
               ReadFn read = &read_string<F>) {
  return {.path = path,
          .type = KeyType::String,
          .what = what,
          .help = help,
          .read = read,
          .show_default = &default_of<F>};
}
template <typename F>
Setting choice(std::string_view path, std::string_view help, F) {
  return {.path = path,
          .type = KeyType::Choice,
          .help = help,
          .words = EnumWords<FieldOf<F>>::words,
          .read = &read_choice<F>,
          .show_default = &default_of<F>};
}
template <typename F>
Setting string_list(std::string_view path, std::string_view what, std::string_view help, F,
                    ReadFn read) {
  return {.path = path,
          .type = KeyType::StringList,
          .what = what,
          .help = help,
          .read = read,
          .show_default = &default_of<F>};
}
template <typename F>
Setting digits(std::string_view path, std::string_view what, std::string_view help, F f) {
  return string_list(path, what, help, f, &read_digits<F, 0>);
}
template <typename F>
Setting codes(std::string_view path, std::string_view what, std::string_view help, F f) {
  return string_list(path, what, help, f, &read_digits<F, 3>);
}
template <typename F>
Setting classes(std::string_view path, std::string_view help, F f) {
  return string_list(path, "classes", help, f, &read_classes<F>);
}
template <typename F>
Setting absolute_path(std::string_view path, std::string_view help, F f) {
  return string(path, "absolute path", help, f, &read_absolute_path<F>);
}
template <typename F>
Setting not_empty(std::string_view path, std::string_view what, std::string_view help, F f) {
  return string(path, what, help, f, &read_not_empty<F>);
}
// A key read by hand-written code (rules/config.cpp): its default said in words.
Setting declared(std::string_view path, KeyType type, std::string_view what, std::string_view help,
                 std::string_view default_text, std::span<const std::string_view> words = {}) {
  return {.path = path,
          .type = type,
          .what = what,
          .help = help,
          .words = words,
          .default_text = default_text};
}
// The default levels of a class table, "international 4, premium 2, high_risk 2".
template <typename F, bool Critical>
std::string class_levels_default() {
  Config c;
  Loading l(c);
  std::string out;
  for (const auto& [cls, lv] : F{}(l).levels)
    out += (out.empty() ? "" : ", ") + std::string(to_string(cls)) + " " +
           std::to_string(Critical ? lv.critical : lv.warning);
  return out;
}
template <typename F, bool Critical>
std::string level_default() {
  Config c;
  Loading l(c);
  const Levels& lv = F{}(l);
  return std::to_string(Critical ? lv.critical : lv.warning);
}

// A level (warning or critical) of a { warning = N, critical = M } table, read by
// Reader::levels, or of a class table (Reader::class_levels): F gives the Levels or the
// ClassLevels.
template <bool Critical, typename F>
Setting level(std::string_view path, std::string_view what, std::string_view help, F) {
  return {.path = path,
          .type = KeyType::Integer,
          .what = what,
          .help = help,
          .min = 0,
          .max = 1'000'000,
          .show_default = &level_default<F, Critical>};
}
template <bool Critical, typename F>
Setting class_level(std::string_view path, std::string_view what, std::string_view help, F) {
  return {.path = path,
          .type = KeyType::Integer,
          .what = what,
          .help = help,
          .min = 0,
          .max = 1'000'000,
          .show_default = &class_levels_default<F, Critical>};
}

// ---- keys whose reading is more than a type and a range ------------------------------------

void read_business_hours(const Reader& r, const Setting&, const toml::node& n, Loading& l) {
  if (!n.is_string()) {
    r.error(n, "'business_hours' must be a string (\"Mon-Fri 08:00-18:00\")");
    return;
  }
  l.c.site.business_hours = *n.value<std::string>();
  HoursError e;
  l.business_hours = parse_weekly_hours(l.c.site.business_hours, e);
  if (!l.business_hours)
    r.error_in_string(n, e.offset, "site.business_hours: " + e.message);
  else
    warn_overlapping_hours(r, n, "site.business_hours", *l.business_hours);
}

void read_holidays(const Reader& r, const Setting&, const toml::node& n, Loading& l) {
  const toml::array* a = n.as_array();
  std::vector<const toml::node*> items;
  if (a)
    for (const toml::node& e : *a) items.push_back(&e);
  else
    items.push_back(&n);
  for (const toml::node* e : items) {
    if (const auto* d = e->as_date()) {
      const toml::date& v = d->get();
      const std::chrono::year_month_day ymd{std::chrono::year(v.year), std::chrono::month(v.month),
                                            std::chrono::day(v.day)};
      if (!ymd.ok()) {
        r.error(*e, "not a valid date");
        continue;
      }
      l.holidays.push_back(Holiday{v.year, v.month, v.day});
      char buf[16];
      std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(v.year),
                    static_cast<unsigned>(v.month), static_cast<unsigned>(v.day));
      l.c.site.holidays.push_back(buf);
    } else if (e->is_string()) {
      const std::string s = *e->value<std::string>();
      auto h = parse_holiday(s);
      if (!h) {
        r.error(*e, "holiday '" + s + "' is not a date (2027-12-25, or 12-25 for every year)");
        continue;
      }
      l.holidays.push_back(*h);
      l.c.site.holidays.push_back(s);
    } else {
      r.error(*e, "holidays are dates (2027-12-25) or strings (\"12-25\" for every year)");
    }
  }
}

void read_remote_access(const Reader& r, const Setting& s, const toml::node& n, Loading& l) {
  auto nodes = r.strings(n, s.key());
  if (!nodes) return;
  for (const toml::node* e : *nodes) {
    const std::string v = *e->value<std::string>();
    std::string err;
    auto p = parse_number_pattern(v, err);
    if (!p) {
      r.error(*e, "site.remote_access: " + err);
      continue;
    }
    l.c.site.remote_access.push_back(v);
    l.c.site.remote_access_patterns.push_back(*p);
  }
}

void read_country_code(const Reader& r, const Setting&, const toml::node& n, Loading& l) {
  const auto s = n.value<std::string>();
  if (!n.is_string() || s->empty() || s->size() > 3 ||
      !std::all_of(s->begin(), s->end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
    r.error(n, "'country_code' must be 1-3 digits as a string (\"1\", \"44\")");
  else
    l.plan.country_code = *s;
}

void read_high_risk_file(const Reader& r, const Setting&, const toml::node& n, Loading& l) {
  if (!n.is_string())
    r.error(n, "'high_risk_file' must be a string (a path)");
  else
    l.high_risk_file = *n.value<std::string>();
  l.high_risk_node = &n;
}

void read_voice_only(const Reader& r, const Setting& s, const toml::node& n, Loading& l) {
  auto nodes = r.strings(n, s.key());
  if (!nodes) return;
  for (const toml::node* e : *nodes) {
    const std::string v = *e->value<std::string>();
    LineSpec line;
    const auto colon = v.find(':');
    auto to_int = [](std::string_view d, int& out) {
      if (d.empty() || d.size() > 3 ||
          !std::all_of(d.begin(), d.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
        return false;
      out = std::stoi(std::string(d));
      return true;
    };
    bool ok = to_int(std::string_view(v).substr(0, colon), line.span) && line.span >= 1 &&
              line.span <= 255;
    if (ok && colon != std::string::npos) {
      std::string_view rest = std::string_view(v).substr(colon + 1);
      ok = !rest.empty();
      while (ok && !rest.empty()) {
        const auto comma = rest.find(',');
        const std::string_view item = rest.substr(0, comma);
        const auto dash = item.find('-');
        int a = 0, b = 0;
        ok = to_int(item.substr(0, dash), a) &&
             (dash == std::string_view::npos ? (b = a, true) : to_int(item.substr(dash + 1), b)) &&
             a >= 1 && a <= b && b <= 31;
        if (ok) line.channels.emplace_back(a, b);
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      }
    }
    if (!ok) {
      r.error(*e, "lines.voice_only: '" + v +
                      "' is not SPAN or SPAN:CHANNELS (\"1\", \"2:1-12,15\"; spans 1-255, "
                      "channels 1-31)");
      continue;
    }
    l.c.voice_only.push_back(line);
  }
}

void read_mail_to(const Reader& r, const Setting& s, const toml::node& n, Loading& l) {
  auto nodes = r.strings(n, s.key());
  if (!nodes) return;
  for (const toml::node* e : *nodes) {
    const std::string a = *e->value<std::string>();
    if (!valid_mail_address(a))
      r.error(*e, "'" + a + "' is not an e-mail address (local@domain)");
    else
      l.c.email.to.push_back(a);
  }
}

void read_mail_from(const Reader& r, const Setting&, const toml::node& n, Loading& l) {
  if (!n.is_string())
    r.error(n, "'from' must be a string");
  else if (!valid_mail_address(*n.value<std::string>()))
    r.error(n, "'from' is not an e-mail address (local@domain)");
  else
    l.c.email.from = *n.value<std::string>();
}

void read_smtp_url(const Reader& r, const Setting& s, const toml::node& n, Loading& l) {
  if (auto v = r.str(n, s.key())) {
    if (!v->starts_with("smtp://") && !v->starts_with("smtps://"))
      r.error(n, "'smtp_url' must be smtp://HOST[:PORT] or smtps://HOST[:PORT]");
    else
      l.c.email.smtp_url = *v;
  }
}

void read_password_file(const Reader& r, const Setting& s, const toml::node& n, Loading& l) {
  if (auto v = r.str(n, s.key())) {
    struct stat st {};
    if (::stat(v->c_str(), &st) != 0 || !S_ISREG(st.st_mode))
      r.error(n, "cannot read the password file '" + *v + "'");
    else if (st.st_mode & (S_IROTH | S_IWOTH))
      r.error(n, "the password file '" + *v + "' is readable by everyone (chmod 600 it)");
    else
      l.c.email.password_file = *v;
  }
}

void read_ca_file(const Reader& r, const Setting& s, const toml::node& n, Loading& l) {
  if (auto v = r.str(n, s.key())) {
    struct stat st {};
    if (v->empty())
      l.c.email.ca_file.clear();  // the system's CA store
    else if (::stat(v->c_str(), &st) != 0 || !S_ISREG(st.st_mode) || !std::ifstream(*v).is_open())
      r.error(n, "cannot read the CA file '" + *v + "'");
    else
      l.c.email.ca_file = *v;
  }
}

void read_subject_prefix(const Reader& r, const Setting& s, const toml::node& n, Loading& l) {
  if (auto v = r.str(n, s.key())) {
    const bool printable =
        std::all_of(v->begin(), v->end(), [](char c) { return c >= 0x20 && c < 0x7f; });
    if (!printable || v->size() > 64)
      r.error(n, "'subject_prefix' must be printable ASCII, at most 64 characters");
    else
      l.c.email.subject_prefix = *v;
  }
}

void read_control_socket(const Reader& r, const Setting& s, const toml::node& n, Loading& l) {
  if (auto v = r.str(n, s.key())) {
    if (!v->starts_with('/'))
      r.error(n, "'control_socket' must be an absolute path");
    else
      l.c.daemon.control_socket = *v;
  }
  if (l.c.daemon.control_socket.size() >= 108)  // sun_path
    r.error(n, "'control_socket' is too long for a Unix socket path");
}

void read_syslog_server(const Reader& r, const Setting& s, const toml::node& n, Loading& l) {
  if (auto v = r.str(n, s.key())) {
    // HOST:PORT, or [IPV6]:PORT (an IPv6 address has colons of its own).
    const auto colon = v->rfind(':');
    const bool bracketed = !v->empty() && v->front() == '[';
    const auto close = v->find(']');
    if (colon == std::string::npos || colon == 0 || colon + 1 == v->size() ||
        v->find_first_not_of("0123456789", colon + 1) != std::string::npos ||
        std::stol(v->substr(colon + 1, 6)) > 65535 ||
        (bracketed && (close == std::string::npos || close + 1 != colon || close == 1)))
      r.error(n, "'syslog_server' must be HOST:PORT or [IPV6]:PORT");
    else
      l.c.daemon.syslog_server = *v;
  }
}

void read_block_ms(const Reader& r, const Setting&, const toml::node& n, Loading& l) {
  const auto v = n.value<std::int64_t>();
  if (!n.is_integer() || (*v != 8 && *v != 20))
    r.error(n, "'block_ms' must be 8 or 20");
  else
    l.c.daemon.block_ms = static_cast<int>(*v);
}

// ---- words of values read by hand-written code ---------------------------------------------

constexpr std::string_view kSeverities[] = {"info", "warning", "critical"};
constexpr std::string_view kDirections[] = {"outbound", "inbound", "any"};
constexpr std::string_view kWindows[] = {"business_hours", "after_hours", "holiday"};
constexpr std::string_view kCallTypes[] = {"voice", "fax", "modem", "data"};
constexpr std::string_view kActions[] = {"allow", "log", "alert", "digest", "hangup", "exec"};
constexpr std::string_view kSpanTypes[] = {"t1", "e1"};
constexpr std::string_view kSwitchTypes[] = {"ni2", "4ess", "5ess", "dms100", "euroisdn", "qsig"};
constexpr std::string_view kPbxSides[] = {"user", "network"};

constexpr double kDay = 86400;

// The table. Its order is the order of the known-key lists in errors and of the docs' tables.
std::vector<Setting> make_settings() {
  using K = KeyType;
  // The accessors: one lambda per key, naming the field the value goes to.
#define TW_AT(expr)          \
  [](Loading & l) -> auto& { \
    return l.expr;           \
  }
  std::vector<Setting> s = {
      // [site]
      string("site.name", "free text", "free text", TW_AT(c.site.name)),
      string("site.timezone", "IANA time zone",
             "IANA time zone of the site (OS tz database); business hours, holidays and the "
             "daily minute counters (local midnight) are read in it, DST included",
             TW_AT(c.site.timezone)),
      string("site.business_hours", "weekly hours",
             "when the site is open: the policy window `business_hours`; everything else is "
             "`after_hours`",
             TW_AT(c.site.business_hours), &read_business_hours),
      string_list("site.holidays", "dates",
                  "whole local days that are the window `holiday` (and closed for profiles with "
                  "`hours = \"business_hours\"`)",
                  TW_AT(c.site.holidays), &read_holidays),
      string_list("site.remote_access", "numbers",
                  "number patterns of the DIDs outsiders dial into: DISA, voicemail, "
                  "auto-attendant. Watched for code guessing, short-call bursts and "
                  "through-dialing; digits keyed on them are masked. With none configured, "
                  "trunk-to-trunk patterns are watched instead",
                  TW_AT(c.site.remote_access), &read_remote_access),

      // [numbers]
      string("numbers.country_code", "digits",
             "the site's country code. `\"1\"` turns on the North American rules (`1`+NPA "
             "national, NPA-NXX-XXXX local, the Caribbean codes); otherwise `0`+number is "
             "national",
             TW_AT(plan.country_code), &read_country_code),
      digits("numbers.international_prefixes", "digits", "dialed prefixes meaning international",
             TW_AT(plan.international_prefixes)),
      codes("numbers.nanp_international", "area codes",
            "NANP area codes that are other countries: international in every form (`1`+NPA, "
            "NPA, `+1`NPA)",
            TW_AT(plan.nanp_international)),
      codes("numbers.premium_npa", "area codes", "premium-rate area codes",
            TW_AT(plan.premium_npa)),
      codes("numbers.premium_nxx", "exchange codes",
            "premium-rate exchange codes (NPA-976-XXXX, 976-XXXX)", TW_AT(plan.premium_nxx)),
      codes("numbers.toll_free_npa", "area codes", "toll-free area codes",
            TW_AT(plan.toll_free_npa)),
      digits("numbers.emergency", "numbers",
             "emergency numbers, whole numbers as dialed (`9911` = 911 behind a trunk access "
             "digit). Never hung up",
             TW_AT(plan.emergency)),
      {.path = "numbers.high_risk_file",
       .type = K::String,
       .what = "path",
       .help = "the high-risk destination list. `\"\"` uses the first that exists of "
               "`/etc/trunkwatch/high-risk-destinations.toml`, "
               "`<datadir>/trunkwatch/high-risk-destinations.toml` (installed from `data/`), and "
               "in development builds the source tree's `data/`; none found is a warning "
               "(high-risk destinations then go unrecognized). A relative path is relative to "
               "the config file. Re-read on every (re)load; a regular file of at most 4 MiB "
               "(see Validation)",
       .read = &read_high_risk_file,
       .show_default = [] { return std::string("\"\""); }},
      digits("numbers.international", "prefixes",
             "site override: extra dialed prefixes that make a number international; the "
             "overrides win over the rules above (first match in the order premium, "
             "international, toll_free, national, local)",
             TW_AT(plan.extra_international)),
      digits("numbers.premium", "prefixes", "site override: extra premium-rate dialed prefixes",
             TW_AT(plan.extra_premium)),
      digits("numbers.toll_free", "prefixes", "site override: extra toll-free dialed prefixes",
             TW_AT(plan.extra_toll_free)),
      digits("numbers.national", "prefixes", "site override: extra national dialed prefixes",
             TW_AT(plan.extra_national)),
      digits("numbers.local", "prefixes", "site override: extra local dialed prefixes",
             TW_AT(plan.extra_local)),
      digits("numbers.high_risk", "E.164 prefixes",
             "extra high-risk E.164 prefixes (without `+`), on top of the data file",
             TW_AT(plan.extra_high_risk)),

      // [lines]
      {.path = "lines.voice_only",
       .type = K::StringList,
       .what = "SPAN or SPAN:CHANNELS",
       .help = "spans, or channels of a span, that only ever carry voice: `\"1\"`, "
               "`\"2:1-12,15\"`. A fax or modem call on them is reported",
       .read = &read_voice_only,
       .show_default = [] { return std::string("[]"); }},

      // [notices]
      number("notices.suppress_s", 0, 30 * kDay, "seconds",
             "a notice whose identifier went out less than this long ago is not sent again (the "
             "next one says how many were held back)",
             TW_AT(c.notices.suppress_s)),
      number("notices.digest_s", 60, 7 * kDay, "seconds",
             "notices whose rule says `digest` are batched into one digest per period",
             TW_AT(c.notices.digest_s)),
      integer("notices.digest_max", 1, 100000, "notices",
              "notices listed in one digest (all are counted)", TW_AT(c.notices.digest_max)),
      boolean("notices.default_policy", "append the built-in policy table after the site's rules",
              TW_AT(c.notices.default_policy)),
      boolean("notices.mask_digits",
              "hide digits keyed on remote-access numbers (access codes, PINs) in notices and "
              "call records: `\"4711#\"` becomes `\"****#\"`",
              TW_AT(c.notices.mask_digits)),
      number("notices.exec_timeout_s", 1, 3600, "seconds", "exec hooks running longer are killed",
             TW_AT(c.notices.exec_timeout_s)),
      integer("notices.exec_max_running", 1, 256, "hooks",
              "exec hooks running at once; the next ones wait in order and start as running ones "
              "end (a flood of notices never forks hundreds of processes at once)",
              TW_AT(c.notices.exec_max_running)),
      integer("notices.exec_max_queued", 0, 100000, "hooks",
              "hooks waiting for a slot; a hook beyond that is not run: its notice says "
              "`exec_failed`, it is counted in the hook failures and logged as an error",
              TW_AT(c.notices.exec_max_queued)),

      // [email]
      string_list("email.to", "addresses", "recipients; none = no mail", TW_AT(c.email.to),
                  &read_mail_to),
      string("email.from", "address", "envelope and header sender", TW_AT(c.email.from),
             &read_mail_from),
      choice("email.transport",
             "the local sendmail program (the Linux convention), SMTP directly with libcurl, or "
             "delivery into a local Maildir (a box with no mail server)",
             TW_AT(c.email.transport)),
      absolute_path("email.sendmail",
                    "run as `sendmail -i -f FROM -- TO...`, message on standard input, no shell",
                    TW_AT(c.email.sendmail)),
      string("email.smtp_url", "smtp://HOST:PORT or smtps://HOST:PORT",
             "`smtp://HOST[:PORT]` (587 for submission) or `smtps://HOST[:PORT]` (TLS from the "
             "start)",
             TW_AT(c.email.smtp_url), &read_smtp_url),
      choice("email.starttls", "STARTTLS on `smtp://`: use it when offered, insist on it, or never",
             TW_AT(c.email.starttls)),
      string("email.username", "", "SMTP AUTH user", TW_AT(c.email.username)),
      string("email.password_file", "path",
             "the SMTP AUTH password (first line); an error if it is readable or writable by "
             "everyone",
             TW_AT(c.email.password_file), &read_password_file),
      string("email.ca_file", "path",
             "PEM CA certificate(s) that verify the server's certificate for STARTTLS and "
             "`smtps://` (an internal CA, a self-signed server); `\"\"` = the system's CA store. "
             "Must be a readable regular file. The certificate and its name are always "
             "verified, there is no way to turn that off",
             TW_AT(c.email.ca_file), &read_ca_file),
      not_empty("email.maildir", "path",
                "`transport = \"maildir\"`: the Maildir (created with `tmp/ new/ cur/`, mode 0700)",
                TW_AT(c.email.maildir)),
      not_empty(
          "email.spool_dir", "path",
          "created 0700; every message is written here (fsynced) before delivery is tried and "
          "removed once accepted. The daemon locks it (`trunkwatch.lock`): one daemon per "
          "spool",
          TW_AT(c.email.spool_dir)),
      number("email.retry_min_s", 0.01, kDay, "seconds",
             "the first wait between delivery attempts; it doubles up to `retry_max_s`",
             TW_AT(c.email.retry_min_s)),
      number("email.retry_max_s", 0.01, kDay, "seconds",
             "the longest wait between attempts; not below `retry_min_s`",
             TW_AT(c.email.retry_max_s)),
      number("email.warn_after_s", 1, 30 * kDay, "seconds",
             "a message still undelivered this long is reported once as an error log line",
             TW_AT(c.email.warn_after_s)),
      number("email.timeout_s", 1, 3600, "seconds", "per delivery attempt",
             TW_AT(c.email.timeout_s)),
      string("email.subject_prefix", "text", "printable ASCII, at most 64 characters",
             TW_AT(c.email.subject_prefix), &read_subject_prefix),
      integer("email.max_per_window", 0, 100000, "mails, 0 = no limit",
              "notice mails per window (0 = no limit). The window opens with an alert and lasts "
              "`window_s` of source time; the alerts beyond the limit are not mailed one by one "
              "but counted into one summary mail when the window ends (\"503 notices in 10 "
              "minutes\", top categories and numbers). Every notice is still in the log and the "
              "alerts JSON lines. Digests are not counted",
              TW_AT(c.email.max_per_window)),
      number("email.window_s", 1, kDay, "seconds", "the length of that window",
             TW_AT(c.email.window_s)),

      // [detectors.*], in the order the engine runs them
      boolean("detectors.destination.enabled",
              "a notice per outbound call to an international, premium or high-risk number",
              TW_AT(c.detectors.destination.enabled)),
      boolean("detectors.after_hours.enabled",
              "outbound calls outside the hours of the source's profile",
              TW_AT(c.detectors.after_hours.enabled)),
      boolean("detectors.concurrency.enabled", "outbound calls up at once",
              TW_AT(c.detectors.concurrency.enabled)),
      class_level<false>(
          "detectors.concurrency.classes.*.warning", "calls",
          "outbound calls up at once per destination class, site-wide (any class name may be "
          "given)",
          TW_AT(c.detectors.concurrency.classes)),
      class_level<true>("detectors.concurrency.classes.*.critical", "calls",
                        "the critical level (0 = off)", TW_AT(c.detectors.concurrency.classes)),
      level<false>("detectors.concurrency.per_span.warning", "calls",
                   "outbound calls up at once on one span (0 = off)",
                   TW_AT(c.detectors.concurrency.per_span)),
      level<true>("detectors.concurrency.per_span.critical", "calls",
                  "the critical level (0 = off)", TW_AT(c.detectors.concurrency.per_span)),
      boolean("detectors.call_rate.enabled", "outbound calls in a sliding window",
              TW_AT(c.detectors.call_rate.enabled)),
      number("detectors.call_rate.per_source.window_s", 1, kDay, "seconds",
             "the window of the outbound calls per calling number",
             TW_AT(c.detectors.call_rate.per_source.window_s)),
      integer("detectors.call_rate.per_source.warning", 0, 1'000'000, "calls",
              "the warning level (0 = off)",
              TW_AT(c.detectors.call_rate.per_source.levels.warning)),
      integer("detectors.call_rate.per_source.critical", 0, 1'000'000, "calls",
              "the critical level (0 = off)",
              TW_AT(c.detectors.call_rate.per_source.levels.critical)),
      number("detectors.call_rate.per_prefix.window_s", 1, kDay, "seconds",
             "the window of the outbound calls per destination prefix",
             TW_AT(c.detectors.call_rate.per_prefix.window_s)),
      integer("detectors.call_rate.per_prefix.warning", 0, 1'000'000, "calls",
              "the warning level (0 = off)",
              TW_AT(c.detectors.call_rate.per_prefix.levels.warning)),
      integer("detectors.call_rate.per_prefix.critical", 0, 1'000'000, "calls",
              "the critical level (0 = off)",
              TW_AT(c.detectors.call_rate.per_prefix.levels.critical)),
      integer("detectors.call_rate.per_prefix.digits", 1, 15, "digits",
              "the prefix: the first digits of the E.164 number",
              TW_AT(c.detectors.call_rate.prefix_digits)),
      classes("detectors.call_rate.per_prefix.classes",
              "the destination classes counted per prefix",
              TW_AT(c.detectors.call_rate.prefix_classes)),
      boolean("detectors.minutes_cap.enabled", "outbound minutes per local day",
              TW_AT(c.detectors.minutes_cap.enabled)),
      class_level<false>("detectors.minutes_cap.classes.*.warning", "minutes",
                         "outbound minutes per local day per class, site-wide",
                         TW_AT(c.detectors.minutes_cap.classes)),
      class_level<true>("detectors.minutes_cap.classes.*.critical", "minutes",
                        "the critical level (0 = off)", TW_AT(c.detectors.minutes_cap.classes)),
      level<false>("detectors.minutes_cap.per_source.warning", "minutes",
                   "outbound minutes per local day per calling number (a profile's `daily_minutes` "
                   "wins; 0 = off)",
                   TW_AT(c.detectors.minutes_cap.per_source)),
      level<true>("detectors.minutes_cap.per_source.critical", "minutes",
                  "the critical level (0 = off)", TW_AT(c.detectors.minutes_cap.per_source)),
      boolean("detectors.brute_force.enabled",
              "access-code attempts per remote-access number in a window",
              TW_AT(c.detectors.brute_force.enabled)),
      number("detectors.brute_force.window_s", 1, kDay, "seconds", "the window",
             TW_AT(c.detectors.brute_force.window_s)),
      integer("detectors.brute_force.warning", 0, 1'000'000, "attempts",
              "the warning level (0 = off)", TW_AT(c.detectors.brute_force.levels.warning)),
      integer("detectors.brute_force.critical", 0, 1'000'000, "attempts",
              "the critical level (0 = off)", TW_AT(c.detectors.brute_force.levels.critical)),
      integer("detectors.brute_force.min_digits", 1, 64, "digits",
              "keyed digits that make a call an attempt",
              TW_AT(c.detectors.brute_force.min_digits)),
      boolean("detectors.sequential_short_calls.enabled",
              "short inbound calls to a remote-access number in a window",
              TW_AT(c.detectors.sequential_short_calls.enabled)),
      number("detectors.sequential_short_calls.short_call_s", 1, 3600, "seconds",
             "a call this long at most is short",
             TW_AT(c.detectors.sequential_short_calls.short_call_s)),
      number("detectors.sequential_short_calls.window_s", 1, kDay, "seconds", "the window",
             TW_AT(c.detectors.sequential_short_calls.window_s)),
      integer("detectors.sequential_short_calls.warning", 0, 1'000'000, "calls",
              "the warning level (0 = off)",
              TW_AT(c.detectors.sequential_short_calls.levels.warning)),
      integer("detectors.sequential_short_calls.critical", 0, 1'000'000, "calls",
              "the critical level (0 = off)",
              TW_AT(c.detectors.sequential_short_calls.levels.critical)),
      boolean("detectors.through_dial.enabled",
              "an inbound call to a remote-access number that dials out",
              TW_AT(c.detectors.through_dial.enabled)),
      number("detectors.through_dial.end_together_s", 0, 60, "seconds",
             "how close the two legs' ends must be",
             TW_AT(c.detectors.through_dial.end_together_s)),
      integer("detectors.through_dial.min_match_digits", 1, 32, "digits",
              "the shortest keyed entry compared with the dialed number",
              TW_AT(c.detectors.through_dial.min_match_digits)),
      boolean("detectors.trunk_to_trunk.enabled",
              "an inbound answer followed by an outbound seizure",
              TW_AT(c.detectors.trunk_to_trunk.enabled)),
      number("detectors.trunk_to_trunk.start_within_s", 1, 3600, "seconds",
             "the outbound seizure at most this long after the inbound answer",
             TW_AT(c.detectors.trunk_to_trunk.start_within_s)),
      boolean("detectors.call_forward.enabled", "an inbound call forwarded out",
              TW_AT(c.detectors.call_forward.enabled)),
      number("detectors.call_forward.window_s", 0, 600, "seconds",
             "inbound start to forwarded outbound start", TW_AT(c.detectors.call_forward.window_s)),
      boolean("detectors.wangiri_callback.enabled", "a call back to a short missed call",
              TW_AT(c.detectors.wangiri_callback.enabled)),
      number("detectors.wangiri_callback.max_ring_s", 1, 600, "seconds",
             "how short the missed call rang", TW_AT(c.detectors.wangiri_callback.max_ring_s)),
      number("detectors.wangiri_callback.memory_s", 60, 30 * kDay, "seconds",
             "how long the missed call is remembered",
             TW_AT(c.detectors.wangiri_callback.memory_s)),
      boolean("detectors.fax_modem.enabled", "fax/modem calls on `[lines] voice_only`",
              TW_AT(c.detectors.fax_modem.enabled)),
      boolean("detectors.span_down.enabled", "a span in alarm or its D-channel down",
              TW_AT(c.detectors.span_down.enabled)),
      number("detectors.span_down.after_s", 0, kDay, "seconds",
             "how long a span is in alarm or its D-channel down before it is reported",
             TW_AT(c.detectors.span_down.after_s)),
      boolean("detectors.decode_anomaly_burst.enabled",
              "a burst of D-channel frames from one span that could not be decoded",
              TW_AT(c.detectors.decode_anomaly_burst.enabled)),
      integer("detectors.decode_anomaly_burst.anomalies", 1, 1'000'000, "frames",
              "undecodable frames (malformed, sequence conflicts) within the window that make "
              "a burst, reported once",
              TW_AT(c.detectors.decode_anomaly_burst.anomalies)),
      number("detectors.decode_anomaly_burst.window_s", 1, kDay, "seconds", "the window",
             TW_AT(c.detectors.decode_anomaly_burst.window_s)),

      // [[profile]] (rules/config.cpp: read_profiles)
      declared("profile.#.name", K::String, "name", "letters, digits, `_ - .`; unique", "required"),
      declared("profile.#.numbers", K::StringList, "numbers",
               "number patterns of the profile (PBX-side numbers)", "required (not for `default`)"),
      declared("profile.#.allowed_classes", K::StringList, "classes",
               "destination classes the source may call; a call to an international, premium or "
               "high-risk class it may not call is a critical notice",
               "all but premium and high_risk"),
      declared("profile.#.hours", K::String, "any, business_hours or weekly hours",
               "when it may call out: `\"any\"`, `\"business_hours\"` (the site's, holidays "
               "closed) or weekly hours; outside them an outbound call raises `after_hours`",
               "\"any\""),
      {.path = "profile.#.daily_minutes.warning",
       .type = K::Integer,
       .what = "minutes",
       .help = "outbound minutes per local day per number of the profile (0 = "
               "`detectors.minutes_cap.per_source`)",
       .min = 0,
       .max = 1'000'000,
       .default_text = "0"},
      {.path = "profile.#.daily_minutes.critical",
       .type = K::Integer,
       .what = "minutes",
       .help = "the critical level (0 = off)",
       .min = 0,
       .max = 1'000'000,
       .default_text = "0"},
      declared("profile.#.allowlist", K::StringList, "numbers",
               "number patterns of destinations (as dialed or E.164) always fine for the "
               "profile: no destination or after-hours notice",
               "[]"),

      // [[policy]] (rules/config.cpp: read_policy); a matcher left out matches anything
      declared("policy.#.name", K::String, "name", "shown in notices as `rule`",
               "rule-N (N counted from 1)"),
      declared("policy.#.category", K::StringList, "categories",
               "notice categories ([rules.md](rules.md#notices))", "any"),
      declared("policy.#.min_severity", K::Choice, "",
               "matches a notice whose severity (the detector's) is at least this", "\"info\"",
               kSeverities),
      declared("policy.#.direction", K::Choice, "", "of the call", "\"any\"", kDirections),
      declared("policy.#.profile", K::StringList, "profile names", "the source profile of the call",
               "any"),
      declared("policy.#.class", K::StringList, "classes",
               "classes of the far end: the called number if outbound, the caller if inbound (a "
               "Dominican number is both `international` and `high_risk`)",
               "any"),
      declared("policy.#.window", K::StringList, "",
               "at the call's start (at the notice's time for notices without a call)", "any",
               kWindows),
      declared("policy.#.call_type", K::StringList, "", "of the call", "any", kCallTypes),
      declared("policy.#.action", K::StringList, "",
               "what is done with a matching notice; `allow` stands alone", "required", kActions),
      declared("policy.#.exec", K::StringList, "argv",
               "with action `exec`: the program (absolute path) and its arguments, run without a "
               "shell",
               "[]"),
      declared("policy.#.severity", K::Choice, "",
               "not a matcher: the notice goes out with at least this severity (raised, never "
               "lowered: a detector's `critical` stays critical)",
               "the detector's", kSeverities),

      // [daemon]
      absolute_path("daemon.records_dir",
                    "`calls.sqlite` (every call record), `alerts.jsonl` (every notice, appended), "
                    "`calls.jsonl` with `json_records`; `trunkwatch.lock` (one daemon per folder, "
                    "[daemon.md](daemon.md))",
                    TW_AT(c.daemon.records_dir)),
      boolean("daemon.json_records", "also append each record to `calls.jsonl`",
              TW_AT(c.daemon.json_records)),
      string("daemon.control_socket", "absolute path",
             "the Unix socket `trunkwatch status/calls/reload/hangup` talk to; created 0660 (the "
             "unit's group may use it). Only a stale socket there is replaced: a file of any "
             "other kind (a typo naming `calls.sqlite`) is refused at start and left as it is",
             TW_AT(c.daemon.control_socket), &read_control_socket),
      choice("daemon.log_target",
             "`auto`: the journal when systemd connected standard error to it "
             "(`JOURNAL_STREAM`), else standard error",
             TW_AT(c.daemon.log_target)),
      choice("daemon.log_level", "least severe messages logged", TW_AT(c.daemon.log_level)),
      string("daemon.syslog_server", "HOST:PORT or [IPV6]:PORT",
             "`log_target = \"syslog\"`: send RFC 3164 datagrams there instead of the local "
             "syslog(3). An address is used at once; a name is resolved in the background, so a "
             "name server that is down does not stop the daemon: until it resolves (tried again "
             "every 30 s, each failure said on standard error, which is the journal under "
             "systemd) the log goes to standard error",
             TW_AT(c.daemon.syslog_server), &read_syslog_server),
      {.path = "daemon.block_ms",
       .type = K::Integer,
       .what = "8 or 20",
       .help = "B-channel audio block read from the card; 8 ms gives quicker digit reports, 20 "
               "ms fewer wake-ups",
       .read = &read_block_ms,
       .show_default = [] { return std::to_string(DaemonSettings{}.block_ms); }},
      boolean("daemon.audio",
              "read the B-channels and run the detectors (digits, tones, fax/modem)",
              TW_AT(c.daemon.audio)),
      integer("daemon.dsp_threads", 0, 64, "threads, 0 = one per core",
              "worker threads for the B-channel detectors; `0`: one per core, at most one per "
              "span. The loop thread keeps decoding, call tracking and rules",
              TW_AT(c.daemon.dsp_threads)),
      integer("daemon.unstored_records_max", 0, 1'000'000, "records",
              "call records the store could not take (full disk, I/O error) kept in memory and "
              "retried; more go to `records_dir/unstored.jsonl` ([daemon.md](daemon.md), \"When "
              "records cannot be stored\")",
              TW_AT(c.daemon.unstored_records_max)),

      // [[span]] (rules/config.cpp: read_spans)
      {.path = "span.#.span",
       .type = K::Integer,
       .help = "the DAHDI span receiving what the **PBX** transmits; records and notices carry "
               "this number",
       .min = 1,
       .max = 255,
       .default_text = "required"},
      {.path = "span.#.carrier_span",
       .type = K::Integer,
       .help = "the DAHDI span receiving what the **carrier** transmits",
       .min = 1,
       .max = 255,
       .default_text = "required for a tap"},
      declared("span.#.mode", K::Choice, "",
               "`\"endpoint\"` (trunkwatch owning the D-channel, inline) is reserved and refused "
               "for now",
               "\"tap\"", EnumWords<SpanMode>::words),
      declared("span.#.type", K::Choice, "",
               "T1 (B 1-23, D 24, mu-law) or E1 (B 1-15/17-31, D 16, A-law)", "from the card",
               kSpanTypes),
      declared("span.#.switchtype", K::Choice, "", "the Q.931 variant on the link",
               "ni2 on T1, euroisdn on E1", kSwitchTypes),
      declared("span.#.pbx_side", K::Choice, "", "the PBX's Q.921/Q.931 role", "\"user\"",
               kPbxSides),
      declared("span.#.name", K::String, "", "shown by `trunkwatch status`",
               "the card's span descriptions"),
  };
#undef TW_AT
  return s;
}

std::vector<std::string_view> split(std::string_view dotted) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = dotted.find('.', start);
    out.push_back(dotted.substr(start, dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return out;
}

bool is_index(std::string_view s) {
  return !s.empty() && s.size() < 6 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::span<const Setting> settings() {
  static const std::vector<Setting> kSettings = make_settings();
  return kSettings;
}

std::string Setting::default_shown() const {
  return show_default ? show_default() : std::string(default_text);
}

std::string Setting::range_shown() const {
  if (type == KeyType::Choice || (!words.empty() && type == KeyType::StringList)) {
    std::string out;
    for (std::string_view w : words) out += (out.empty() ? "" : ", ") + in_quotes(w);
    return out;
  }
  if ((type == KeyType::Integer || type == KeyType::Number) && (min != 0 || max != 0))
    return number_text(min) + "-" + number_text(max);
  return "";
}

const Setting* find_setting(std::string_view dotted) {
  const auto path = split(dotted);
  for (const Setting& s : settings()) {
    const auto pattern = split(s.path);
    if (pattern.size() != path.size()) continue;
    bool ok = true;
    for (std::size_t i = 0; i < pattern.size() && ok; ++i) {
      if (pattern[i] == path[i])
        ok = true;  // the declaration's own path names it too
      else if (pattern[i] == "#")
        ok = is_index(path[i]);
      else if (pattern[i] == "*")
        ok = !path[i].empty() && !is_index(path[i]);
      else
        ok = pattern[i] == path[i];
    }
    if (ok) return &s;
  }
  return nullptr;
}

std::vector<std::string_view> known_keys(std::string_view prefix) {
  std::vector<std::string_view> out;
  for (const Setting& s : settings()) {
    std::string_view rest = s.path;
    if (!prefix.empty()) {
      if (!rest.starts_with(prefix) || rest.size() <= prefix.size() || rest[prefix.size()] != '.')
        continue;
      rest.remove_prefix(prefix.size() + 1);
    }
    const std::string_view name = rest.substr(0, rest.find('.'));
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
  return out;
}

namespace {

// Whether some key under `prefix.` is read by the declarations (else hand-written code reads
// that table).
bool read_by_table(std::string_view prefix) {
  return std::any_of(settings().begin(), settings().end(), [&](const Setting& s) {
    return s.read && s.path.size() > prefix.size() && s.path.starts_with(prefix) &&
           s.path[prefix.size()] == '.';
  });
}

}  // namespace

void read_table(const Reader& r, const toml::table& t, std::string_view prefix, Loading& l) {
  const auto known = known_keys(prefix);
  r.only_keys(t, prefix.empty() ? std::string("the top level") : "[" + std::string(prefix) + "]",
              known);
  for (auto&& [k, node] : t) {
    if (std::find(known.begin(), known.end(), k.str()) == known.end()) continue;
    const std::string full =
        prefix.empty() ? std::string(k.str()) : std::string(prefix) + "." + std::string(k.str());
    const auto exact = std::find_if(settings().begin(), settings().end(),
                                    [&](const Setting& s) { return s.path == full; });
    if (exact != settings().end()) {
      if (exact->read) exact->read(r, *exact, node, l);
      continue;
    }
    if (!read_by_table(full)) continue;
    if (!node.is_table()) {
      r.error(node, "'" + full + "' must be a table");
      continue;
    }
    read_table(r, *node.as_table(), full, l);
  }
}

}  // namespace tw::rules::config_detail

namespace tw::rules {

using config_detail::KeyType;
using config_detail::Setting;

namespace {

std::string type_name(const Setting& s) {
  switch (s.type) {
    case KeyType::String:
    case KeyType::Choice:
      return "string";
    case KeyType::Integer:
      return "integer";
    case KeyType::Number:
      return "number";
    case KeyType::Bool:
      return "true|false";
    case KeyType::StringList:
      return "list of strings";
  }
  return "?";
}

}  // namespace

std::vector<std::string> config_keys() {
  std::vector<std::string> out;
  for (const Setting& s : config_detail::settings()) {
    std::string line = std::string(s.path) + " (" + type_name(s);
    if (!s.what.empty()) line += ": " + std::string(s.what);
    line += "), default " + s.default_shown();
    if (const std::string range = s.range_shown(); !range.empty())
      line += (s.type == KeyType::Choice || !s.words.empty() ? ", one of " : ", ") + range;
    if (!s.help.empty()) line += ": " + std::string(s.help);
    out.push_back(line);
  }
  return out;
}

std::vector<std::pair<std::string, bool>> detector_switches(const Config& c) {
  std::vector<std::pair<std::string, bool>> out;
  for (const Setting& s : config_detail::settings()) {
    const std::string_view p = s.path;
    if (!p.starts_with("detectors.") || !p.ends_with(".enabled") ||
        std::count(p.begin(), p.end(), '.') != 2 || !s.show_value)
      continue;
    out.emplace_back(p.substr(10, p.size() - 10 - 8), s.show_value(c) == "true");
  }
  return out;
}

std::vector<std::string> config_sections() {
  std::vector<std::string> out;
  for (std::string_view k : config_detail::known_keys("")) out.emplace_back(k);
  return out;
}

std::string config_keys_markdown(std::string_view section) {
  std::string out =
      "<!-- generated by `trunkwatch check-config --keys --format markdown` from "
      "rules/config_schema.cpp: section " +
      std::string(section) + " -->\n| key | type | default | meaning |\n|---|---|---|---|\n";
  const std::string prefix = std::string(section) + ".";
  for (const Setting& s : config_detail::settings()) {
    if (!s.path.starts_with(prefix)) continue;
    std::string key(s.path.substr(prefix.size()));
    if (key.starts_with("#.")) key.erase(0, 2);
    for (std::size_t at; (at = key.find('*')) != std::string::npos;) key.replace(at, 1, "CLASS");
    // No '|' in a cell: it would split the table.
    std::string type = s.type == KeyType::Bool ? "bool" : type_name(s);
    if (!s.words.empty()) {
      std::string words;
      for (std::string_view w : s.words)
        words += (words.empty() ? "`\"" : ", `\"") + std::string(w) + "\"`";
      type = s.type == KeyType::Choice ? words : "list of " + words;
    } else {
      if (!s.what.empty()) type += ", " + std::string(s.what);
      if (const std::string range = s.range_shown(); !range.empty()) type += ": " + range;
    }
    // A TOML value in backquotes; a default said in words ("required") as it is.
    std::string def = s.default_shown();
    const bool value = !def.empty() && (def.front() == '"' || def.front() == '[' ||
                                        (def.front() >= '0' && def.front() <= '9') ||
                                        def == "true" || def == "false");
    if (value) def = "`" + def + "`";
    out += "| `" + key + "` | " + type + " | " + def + " | " + std::string(s.help) + " |\n";
  }
  return out + "<!-- end of generated table -->\n";
}

}  // namespace tw::rules
