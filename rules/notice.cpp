#include "rules/notice.hpp"

#include <sstream>

namespace tw::rules {

namespace {

constexpr std::array<std::string_view, kCategoryCount> kCategoryNames = {
    "international",         "premium",
    "high_risk_destination", "after_hours",
    "concurrency",           "call_rate",
    "minutes_cap",           "sequential_short_calls",
    "brute_force",           "through_dial",
    "trunk_to_trunk",        "call_forward",
    "wangiri_callback",      "modem_on_voice_line",
    "fax_on_voice_line",     "span_down",
    "decode_anomaly_burst",  "record_store_failure",
};

constexpr std::array<std::string_view, 3> kSeverityNames = {"info", "warning", "critical"};

// calls::to_string lives in tw_monitor; tw_rules depends on the record's header only.
std::string_view direction_name(calls::Direction d) {
  return d == calls::Direction::Outbound ? "outbound" : "inbound";
}

}  // namespace

std::string_view to_string(Category c) {
  return kCategoryNames[static_cast<std::size_t>(c)];
}

std::optional<Category> parse_category(std::string_view name) {
  for (std::size_t i = 0; i < kCategoryNames.size(); ++i)
    if (kCategoryNames[i] == name) return static_cast<Category>(i);
  return std::nullopt;
}

const std::array<Category, kCategoryCount>& all_categories() {
  static constexpr std::array<Category, kCategoryCount> kAll = [] {
    std::array<Category, kCategoryCount> a{};
    for (std::size_t i = 0; i < kCategoryCount; ++i) a[i] = static_cast<Category>(i);
    return a;
  }();
  return kAll;
}

std::string_view to_string(Severity s) {
  return kSeverityNames[static_cast<std::size_t>(s)];
}

std::optional<Severity> parse_severity(std::string_view name) {
  for (std::size_t i = 0; i < kSeverityNames.size(); ++i)
    if (kSeverityNames[i] == name) return static_cast<Severity>(i);
  return std::nullopt;
}

nlohmann::ordered_json to_json(const Notice& n) {
  nlohmann::ordered_json j;
  j["time"] = hal::format_time(n.time);
  j["category"] = std::string(to_string(n.category));
  j["severity"] = std::string(to_string(n.severity));
  j["rule"] = n.rule;
  j["actions"] = n.actions;
  j["message"] = n.message;
  j["identifier"] = n.identifier;
  j["span"] = n.call.span;
  j["channel"] = n.call.channel ? nlohmann::ordered_json(*n.call.channel) : nullptr;
  j["start"] = n.call.start ? nlohmann::ordered_json(hal::format_time(*n.call.start)) : nullptr;
  j["calling"] = n.call.calling;
  j["called"] = n.call.called;
  j["direction"] = n.call.direction
                       ? nlohmann::ordered_json(std::string(direction_name(*n.call.direction)))
                       : nullptr;
  j["repeats"] = n.repeats;
  return j;
}

std::string to_json_line(const Notice& n) {
  // Values are sanitized ASCII already; replace keeps a stray byte from throwing anyway.
  return to_json(n).dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string format_notice_line(const Notice& n) {
  std::ostringstream out;
  out << hal::format_time(n.time) << " " << to_string(n.severity) << " " << to_string(n.category)
      << " [" << n.rule << "] ";
  for (std::size_t i = 0; i < n.actions.size(); ++i) out << (i ? "," : "") << n.actions[i];
  out << " span " << n.call.span;
  if (n.call.channel) out << "/" << *n.call.channel;
  if (n.call.direction) {
    out << " " << (n.call.calling.empty() ? "(no number)" : n.call.calling) << " -> "
        << (n.call.called.empty() ? "(no number)" : n.call.called);
  }
  out << ": " << n.message;
  if (n.repeats) out << " (" << n.repeats << " more suppressed)";
  return out.str();
}

std::string render_digest(const Digest& d) {
  std::ostringstream out;
  std::uint64_t total = 0;
  for (const auto& [c, k] : d.counts) total += k;
  out << "trunkwatch digest " << hal::format_time(d.from) << " - " << hal::format_time(d.to) << ": "
      << total << " notices\n";
  for (const auto& [c, k] : d.counts) out << "  " << to_string(c) << ": " << k << "\n";
  out << "\n";
  for (const Notice& n : d.notices) out << format_notice_line(n) << "\n";
  if (d.dropped) out << "(" << d.dropped << " more not listed)\n";
  return out.str();
}

bool Suppressor::allow(const std::string& identifier, Timestamp now, std::uint64_t& repeats) {
  auto it = last_.find(identifier);
  if (it != last_.end() && now - it->second.sent < interval_) {
    ++it->second.held;
    return false;
  }
  repeats = it == last_.end() ? 0 : it->second.held;
  last_[identifier] = Entry{now, 0};
  return true;
}

void Suppressor::prune(Timestamp now) {
  // Entries that held notices back stay a while longer, so the next notice can say how many
  // were suppressed.
  std::erase_if(last_, [&](const auto& kv) {
    const auto age = now - kv.second.sent;
    return (kv.second.held == 0 && age >= interval_) || age >= 4 * interval_;
  });
}

void DigestBuffer::add(const Notice& n) {
  if (!open_) {
    current_ = Digest{};
    current_.from = n.time;
    open_ = true;
  }
  ++current_.counts[n.category];
  if (current_.notices.size() < max_)
    current_.notices.push_back(n);
  else
    ++current_.dropped;
}

std::optional<Digest> DigestBuffer::due(Timestamp now) {
  if (!open_ || now - current_.from < interval_) return std::nullopt;
  return flush(now);
}

std::optional<Digest> DigestBuffer::flush(Timestamp now) {
  if (!open_) return std::nullopt;
  open_ = false;
  current_.to = now;
  return std::move(current_);
}

std::string mask_digits(std::string_view digits) {
  std::string out(digits);
  // '#' ends an entry on most PBXs: keeping it shows how many attempts were keyed.
  for (char& c : out)
    if (c != '#') c = '*';
  return out;
}

}  // namespace tw::rules
