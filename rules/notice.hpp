// Notices: what the detectors raise and the policy acts on (Zeek's notice framework model:
// detection decides *what* happened, the policy decides *what to do* about it).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "monitor/calls/call_record.hpp"
#include "trunkwatch/hal/types.hpp"

namespace tw::rules {

using hal::Timestamp;

// The notice vocabulary (docs/rules.md). The order is the order of the call record's
// `alerts` list.
enum class Category : std::uint8_t {
  International,
  Premium,
  HighRiskDestination,
  AfterHours,
  Concurrency,
  CallRate,
  MinutesCap,
  SequentialShortCalls,
  BruteForce,
  ThroughDial,
  TrunkToTrunk,
  CallForward,
  WangiriCallback,
  ModemOnVoiceLine,
  FaxOnVoiceLine,
  SpanDown,
  DecodeAnomalyBurst,  // a span's D-channel sends a burst of frames the decoder cannot take
  RecordStoreFailure,  // the daemon cannot store call records (raised by it, not a policy)
};
inline constexpr std::size_t kCategoryCount = 18;
std::string_view to_string(Category c);
std::optional<Category> parse_category(std::string_view name);
// Every category, in vocabulary order.
const std::array<Category, kCategoryCount>& all_categories();

enum class Severity : std::uint8_t { Info, Warning, Critical };
std::string_view to_string(Severity s);
std::optional<Severity> parse_severity(std::string_view name);

// The key fields of the call a notice concerns, copied: a notice outlives the call.
struct NoticeCall {
  int span = 0;
  std::optional<int> channel;
  std::optional<Timestamp> start;
  std::string calling;
  std::string called;
  std::string calling_name;  // sanitized wire text (hooks get it; messages may quote it)
  std::optional<calls::Direction> direction;  // none for notices about a span
};

struct Notice {
  Timestamp time{};  // source time of the event that raised it
  Category category = Category::International;
  Severity severity = Severity::Info;
  // Same identifier = same notice for suppression ("through_dial:span1:2125550100").
  std::string identifier;
  NoticeCall call;
  std::string rule;                  // the policy rule that decided
  std::vector<std::string> actions;  // what was done: "log", "alert", "would_hangup", ...
  std::string message;               // human text, built from sanitized values only
  // How many notices with this identifier were held back by suppression since the last one
  // that went out.
  std::uint64_t repeats = 0;
};

// The JSON line format of --alerts-json: time, category, severity, rule, actions, message,
// identifier, span, channel, start, calling, called, direction, repeats (in that order).
nlohmann::ordered_json to_json(const Notice& n);
std::string to_json_line(const Notice& n);
// One human line: "TIME SEVERITY CATEGORY [rule] actions span S/C CALLING -> CALLED: message".
std::string format_notice_line(const Notice& n);

// Low-severity notices batched for a periodic summary (delivered by the actions stage).
struct Digest {
  Timestamp from{};
  Timestamp to{};
  std::vector<Notice> notices;  // at most DigestBuffer's limit; `dropped` counts the rest
  std::uint64_t dropped = 0;
  std::map<Category, std::uint64_t> counts;  // every notice of the period, dropped included
};
// Plain-text body: counts per category, then one line per notice.
std::string render_digest(const Digest& d);

// Where notices go once the policy has decided (JSON lines, syslog, email spool...).
class NoticeSink {
 public:
  virtual ~NoticeSink() = default;
  // Every notice the policy did not "allow", after suppression.
  virtual void on_notice(const Notice& notice) = 0;
  // A digest period closed with at least one notice in it.
  virtual void on_digest(const Digest& /*digest*/) {}
  // The source's clock advanced (periods that end without a notice, such as the mail limit's
  // window, close here).
  virtual void on_tick(Timestamp /*now*/) {}
  // The end of the source or shutdown: whatever a sink holds back goes out now.
  virtual void on_finish(Timestamp /*now*/) {}
};

// Hands every notice and digest to several sinks, in order (JSON lines, mail, syslog).
class NoticeFanout final : public NoticeSink {
 public:
  void add(NoticeSink& sink) { sinks_.push_back(&sink); }
  void on_notice(const Notice& n) override {
    for (NoticeSink* s : sinks_) s->on_notice(n);
  }
  void on_digest(const Digest& d) override {
    for (NoticeSink* s : sinks_) s->on_digest(d);
  }
  void on_tick(Timestamp now) override {
    for (NoticeSink* s : sinks_) s->on_tick(now);
  }
  void on_finish(Timestamp now) override {
    for (NoticeSink* s : sinks_) s->on_finish(now);
  }

 private:
  std::vector<NoticeSink*> sinks_;
};

// Holds back a notice whose identifier went out less than `interval` ago (source time).
class Suppressor {
 public:
  explicit Suppressor(std::chrono::seconds interval) : interval_(interval) {}
  void set_interval(std::chrono::seconds interval) { interval_ = interval; }
  // True when the notice may go out now; `repeats` is then how many were held back since
  // the last one. False while suppressed (counted).
  bool allow(const std::string& identifier, Timestamp now, std::uint64_t& repeats);
  // Forgets identifiers idle for longer than the interval (bounded memory).
  void prune(Timestamp now);
  std::size_t tracked() const { return last_.size(); }

 private:
  struct Entry {
    Timestamp sent{};
    std::uint64_t held = 0;
  };
  std::chrono::seconds interval_;
  std::map<std::string, Entry> last_;
};

// Collects digest notices and closes a digest every `interval` of source time, counted from
// the first notice of the period.
class DigestBuffer {
 public:
  DigestBuffer(std::chrono::seconds interval, std::size_t max_notices)
      : interval_(interval), max_(max_notices) {}
  void set_interval(std::chrono::seconds interval) { interval_ = interval; }
  void add(const Notice& n);
  // The digest when the period is over at `now`, else nothing.
  std::optional<Digest> due(Timestamp now);
  // Closes the period now (end of the source, shutdown).
  std::optional<Digest> flush(Timestamp now);
  bool empty() const { return !open_; }

 private:
  std::chrono::seconds interval_;
  std::size_t max_;
  bool open_ = false;
  Digest current_;
};

// Digits keyed on remote-access numbers are access codes and PINs: the length stays visible,
// the digits do not ("4711#" -> "****#").
std::string mask_digits(std::string_view digits);

}  // namespace tw::rules
