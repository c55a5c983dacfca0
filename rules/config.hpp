// The trunkwatch configuration: one TOML file (docs/config.md), every value with a default,
// `--set KEY=VALUE` overrides. Validated as a whole: every problem is reported, each as
// "file:line:column: message" (or "--set KEY=VALUE: message").
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rules/calendar.hpp"
#include "rules/notice.hpp"
#include "rules/numbers.hpp"
#include "rules/policy.hpp"

namespace tw::rules {

inline constexpr const char* kDefaultConfigPath = "/etc/trunkwatch/trunkwatch.toml";
// The configuration and the high-risk destination file are read only from regular files of at
// most this size: a FIFO or a device named by mistake cannot hang or exhaust a reload.
inline constexpr std::size_t kMaxConfigFileBytes = 4 * 1024 * 1024;

// Reads a whole regular file of at most `limit` bytes into `text`; an error message naming
// the path and the reason otherwise (never blocks on a FIFO, never reads a device).
std::string read_config_file(const std::string& path, std::string& text,
                             std::size_t limit = kMaxConfigFileBytes);

// A setting that is a choice of words is an enum with EnumWords<E>::words: its words in the
// order of its values, the one place they are spelled (parsing, messages, --keys, the docs).
template <typename E>
struct EnumWords;
template <typename E>
concept ConfigEnum = requires {
  EnumWords<E>::words;
};
template <ConfigEnum E>
constexpr std::string_view to_string(E e) {
  return EnumWords<E>::words[static_cast<std::size_t>(e)];
}
template <ConfigEnum E>
constexpr std::optional<E> parse_enum(std::string_view word) {
  const auto& w = EnumWords<E>::words;
  for (std::size_t i = 0; i < w.size(); ++i)
    if (w[i] == word) return static_cast<E>(i);
  return std::nullopt;
}

enum class EmailTransport { Sendmail, Smtp, Maildir };
template <>
struct EnumWords<EmailTransport> {
  static constexpr std::array<std::string_view, 3> words = {"sendmail", "smtp", "maildir"};
};
enum class StartTls { Try, Required, None };
template <>
struct EnumWords<StartTls> {
  static constexpr std::array<std::string_view, 3> words = {"try", "required", "none"};
};
// auto: the journal under systemd, else standard error.
enum class LogTarget { Auto, Journal, Syslog, Stderr };
template <>
struct EnumWords<LogTarget> {
  static constexpr std::array<std::string_view, 4> words = {"auto", "journal", "syslog", "stderr"};
};
enum class LogLevel { Debug, Info, Warning, Error };
template <>
struct EnumWords<LogLevel> {
  static constexpr std::array<std::string_view, 4> words = {"debug", "info", "warning", "error"};
};
// How trunkwatch sits on a span: a passive tap. "endpoint" (owning the D-channel) is reserved.
enum class SpanMode { Tap };
template <>
struct EnumWords<SpanMode> {
  static constexpr std::array<std::string_view, 1> words = {"tap"};
};

// Warning and critical levels of a counter; 0 turns a level off.
struct Levels {
  std::int64_t warning = 0;
  std::int64_t critical = 0;
  bool enabled() const { return warning > 0 || critical > 0; }
  // The highest level `value` reaches, if any.
  std::optional<Severity> level(double value) const;
};

// A number-class -> levels table (concurrency, daily minutes).
struct ClassLevels {
  ClassLevels() = default;
  ClassLevels(std::initializer_list<std::pair<NumberClass, Levels>> l) : levels(l) {}
  std::vector<std::pair<NumberClass, Levels>> levels;
  const Levels* find(NumberClass c) const;
  void set(NumberClass c, Levels l);
};

struct RateLevels {
  double window_s = 600;
  Levels levels;
};

struct Detectors {
  struct {
    bool enabled = true;
  } destination;
  struct {
    bool enabled = true;
  } after_hours;
  struct {
    bool enabled = true;
    // Outbound calls up at once, per destination class, site-wide.
    ClassLevels classes{{NumberClass::International, {4, 8}},
                        {NumberClass::Premium, {2, 4}},
                        {NumberClass::HighRisk, {2, 3}}};
    Levels per_span;  // outbound calls up at once on one span (trunk group)
  } concurrency;
  struct {
    bool enabled = true;
    RateLevels per_source{600, {30, 60}};   // outbound calls per calling number
    RateLevels per_prefix{3600, {10, 20}};  // outbound calls per destination prefix
    int prefix_digits = 7;                  // of the E.164 number
    ClassSet prefix_classes =
        ClassSet::of({NumberClass::International, NumberClass::Premium, NumberClass::HighRisk});
  } call_rate;
  struct {
    bool enabled = true;
    // Outbound minutes per local day, per class, site-wide.
    ClassLevels classes{{NumberClass::International, {120, 240}},
                        {NumberClass::Premium, {10, 20}},
                        {NumberClass::HighRisk, {10, 20}}};
    Levels per_source;  // outbound minutes per local day, per calling number
  } minutes_cap;
  struct {
    bool enabled = true;
    double window_s = 180;
    Levels levels{5, 10};  // access-code attempts in the window, per remote-access number
    int min_digits = 1;    // keyed digits that make a call an attempt
  } brute_force;
  struct {
    bool enabled = true;
    double short_call_s = 30;
    double window_s = 600;
    Levels levels{20, 50};
  } sequential_short_calls;
  struct {
    bool enabled = true;
    double end_together_s = 2;
    int min_match_digits = 4;  // the outbound number found in the keyed digits
  } through_dial;
  struct {
    bool enabled = true;
    double start_within_s = 60;  // inbound answer -> outbound seizure
  } trunk_to_trunk;
  struct {
    bool enabled = true;
    double window_s = 10;  // inbound call start -> forwarded outbound call start
  } call_forward;
  struct {
    bool enabled = true;
    double max_ring_s = 15;
    double memory_s = 86400;
  } wangiri_callback;
  struct {
    bool enabled = true;
  } fax_modem;
  struct {
    bool enabled = true;
    double after_s = 60;
  } span_down;
  struct {
    bool enabled = true;
    int anomalies = 20;  // frames the decoder could not take, within window_s, on one span
    double window_s = 60;
  } decode_anomaly_burst;
};

struct Profile {
  std::string name;
  std::vector<NumberPattern> numbers;  // PBX-side numbers: calling if outbound, called if inbound
  ClassSet allowed_classes;
  std::string hours_text = "any";
  std::optional<WeeklyHours> hours;  // nullopt = any time
  bool hours_skip_holidays = false;  // hours = "business_hours": holidays are outside
  Levels daily_minutes;              // per calling number of the profile; 0 = per_source default
  std::vector<NumberPattern> allowlist;  // destinations always fine for this profile
  bool allowlisted(std::string_view called, std::string_view e164) const;
  // The built-in "default" profile: any hours, every class but premium and high_risk.
  static Profile builtin_default();
};

// A span, or some of its B-channels, that should only ever carry voice.
struct LineSpec {
  int span = 0;
  std::vector<std::pair<int, int>> channels;  // inclusive ranges; empty = the whole span
  bool matches(int span_id, std::optional<int> channel) const;
};

struct NoticeSettings {
  double suppress_s = 3600;
  double digest_s = 3600;
  std::int64_t digest_max = 200;
  bool default_policy = true;
  bool mask_digits = true;
  double exec_timeout_s = 30;
  // Exec hooks running at once; the rest wait in order, at most exec_max_queued of them (a
  // hook beyond that is not run: counted and logged, its notice says "exec_failed").
  std::int64_t exec_max_running = 4;
  std::int64_t exec_max_queued = 1000;
};

// Alert email (rules/actions/mail.hpp): through the local sendmail or directly over SMTP.
struct EmailSettings {
  std::vector<std::string> to;  // recipients; none = no email
  std::string from = "trunkwatch@localhost";
  EmailTransport transport = EmailTransport::Sendmail;
  std::string sendmail = "/usr/sbin/sendmail";
  std::string smtp_url = "smtp://localhost:25";  // smtps:// for TLS from the start
  StartTls starttls = StartTls::Try;
  std::string maildir = "/var/spool/trunkwatch/Maildir";  // transport "maildir": delivered here
  std::string username;
  std::string password_file;  // read at start; must not be readable by everyone
  std::string ca_file;  // PEM CA certificates to verify the server with; "" = the system's store
  std::string spool_dir = "/var/spool/trunkwatch/mail";
  double retry_min_s = 30;  // first retry; doubles up to retry_max_s
  double retry_max_s = 900;
  double warn_after_s = 3600;  // undelivered this long: an error log line
  double timeout_s = 30;       // per delivery attempt
  std::string subject_prefix = "[trunkwatch]";
  // At most max_per_window notice mails per window_s of source time (0 = no limit); the
  // notices beyond go into one summary mail at the end of the window.
  std::int64_t max_per_window = 20;
  double window_s = 600;
  bool enabled() const { return !to.empty(); }
  bool operator==(const EmailSettings&) const = default;
};

// The daemon's own settings (`trunkwatch run`); a reload keeps the running values and
// warns when they changed (they need a restart).
struct DaemonSettings {
  std::string records_dir = "/var/lib/trunkwatch";  // calls.sqlite (+ calls.jsonl)
  bool json_records = false;                        // also calls.jsonl, one call per line
  std::string control_socket = "/run/trunkwatch/control";
  LogTarget log_target = LogTarget::Auto;
  LogLevel log_level = LogLevel::Info;
  std::string syslog_server;  // log_target "syslog": HOST:PORT for datagrams, "" = syslog(3)
  int block_ms = 20;          // B-channel chunk length read from the card: 8 or 20
  bool audio = true;          // run the B-channel detectors
  int dsp_threads = 0;        // detector worker threads; 0 = one per core, at most one per span
  // Records the store refused, kept in memory for a retry; beyond: records_dir/unstored.jsonl.
  std::size_t unstored_records_max = 5000;
  bool operator==(const DaemonSettings&) const = default;
};

// A monitored trunk (`[[span]]`). A passive tap sees each direction on its own card span:
// `span` receives what the PBX transmits, `carrier_span` what the carrier transmits; the
// decoder sees one link, numbered `span`. Mode "endpoint" (trunkwatch owns the D-channel, the
// inline mode) is reserved: refused until it exists.
struct SpanSettings {
  int span = 0;
  std::optional<int> carrier_span;
  SpanMode mode = SpanMode::Tap;
  std::optional<hal::SpanType> type;           // default: what the card reports
  std::optional<hal::SwitchType> switch_type;  // default: ni2 on T1, euroisdn on E1
  hal::Role pbx_side = hal::Role::User;
  std::string name;
  bool operator==(const SpanSettings&) const = default;
};

// An e-mail address as trunkwatch accepts one in its config: local@domain, printable ASCII
// without spaces or the characters that structure a header.
bool valid_mail_address(std::string_view a);

struct Config {
  std::string source = "(built-in defaults)";

  struct {
    std::string name;
    std::string timezone = "UTC";
    std::string business_hours = "Mon-Fri 08:00-18:00";
    std::vector<std::string> holidays;
    std::vector<std::string> remote_access;
    std::vector<NumberPattern> remote_access_patterns;
  } site;
  SiteCalendar calendar;
  Classifier classifier;
  std::string high_risk_file;  // the file the list was read from, "" if none
  // The site's profiles in order, then "default" (always last).
  std::vector<Profile> profiles = {Profile::builtin_default()};
  // The site's rules, then the default table.
  std::vector<PolicyRule> rules = default_policy();
  std::size_t site_rules = 0;
  NoticeSettings notices;
  EmailSettings email;
  Detectors detectors;
  std::vector<LineSpec> voice_only;
  DaemonSettings daemon;
  std::vector<SpanSettings> spans;  // none: every span the card has, with a warning

  const Profile& profile_for(std::string_view number) const;
  bool is_remote_access(std::string_view called) const;
  bool voice_only_line(int span, std::optional<int> channel) const;
};

struct ConfigResult {
  std::shared_ptr<const Config> config;  // null when there are errors
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
  bool ok() const { return config != nullptr; }
};

struct ConfigOptions {
  // `--set KEY=VALUE`, applied over the file in order.
  std::vector<std::string> overrides;
  // Where to look for the high-risk file when numbers.high_risk_file is "" (first found wins).
  std::vector<std::string> high_risk_search = default_high_risk_search();
  static std::vector<std::string> default_high_risk_search();
};

// `source` names the text in messages (a path).
ConfigResult parse_config(std::string_view text, const std::string& source,
                          const ConfigOptions& options = {});
// Reads `path`; an empty path means no file (defaults and overrides only).
ConfigResult load_config(const std::string& path, const ConfigOptions& options = {});

// Every key, one line each: its dotted path as --set takes it, type, default, range or allowed
// words, and help ("site.remote_access (list of strings: numbers), default []: ...").
// The declarations are in rules/config_schema.cpp.
std::vector<std::string> config_keys();
// The sections whose key tables docs/config.md shows ("site", ..., "span"), and the table of
// one, in Markdown between the marker lines docs/config.md keeps them in.
std::vector<std::string> config_sections();
// Each detector's name and whether `c` turns it on, in the order of the declarations.
std::vector<std::pair<std::string, bool>> detector_switches(const Config& c);
std::string config_keys_markdown(std::string_view section);

}  // namespace tw::rules
