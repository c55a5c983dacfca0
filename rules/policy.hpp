// The notice policy: an ordered table, firewall style, first match wins (docs/rules.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "monitor/calls/call_record.hpp"
#include "rules/calendar.hpp"
#include "rules/notice.hpp"
#include "rules/numbers.hpp"

namespace tw::rules {

enum class Action : std::uint8_t { Allow, Log, Alert, Digest, Hangup, Exec };
// "allow", "log", "alert", "digest", "hangup", "exec"
std::string_view to_string(Action a);
std::optional<Action> parse_action(std::string_view name);

// Every matcher left empty matches anything. A notice that concerns no call (span_down)
// never matches a rule that names a direction, profile, class or call type.
struct PolicyRule {
  std::string name;
  std::vector<Category> categories;
  Severity min_severity = Severity::Info;
  std::optional<calls::Direction> direction;
  std::vector<std::string> profiles;
  ClassSet classes;                     // of the far end: called if outbound, calling if inbound
  std::vector<TimeWindow> windows;      // at the call's start (the notice's time without a call)
  std::vector<std::string> call_types;  // "voice", "fax", "modem", "data"
  std::vector<Action> actions;
  std::vector<std::string> exec;  // argv template of the exec action (docs/rules.md)
  // Raises the notice's severity to at least this (never lowers it): the detector judges
  // what happened, the site's rule may judge it worse (an international call at night).
  std::optional<Severity> severity;
  bool builtin = false;  // from the default table
};

// What a rule is matched against.
struct PolicyInput {
  Category category = Category::International;
  Severity severity = Severity::Info;
  bool has_call = false;
  calls::Direction direction = calls::Direction::Outbound;
  std::string_view profile;
  ClassSet far_classes;
  TimeWindow window = TimeWindow::BusinessHours;
  std::string_view call_type = "voice";
};

bool matches(const PolicyRule& rule, const PolicyInput& in);
// The first rule that matches, or nullptr (the engine then logs the notice).
const PolicyRule* decide(const std::vector<PolicyRule>& rules, const PolicyInput& in);

// The severity a notice goes out with once `rule` decided: the detector's, raised to the
// rule's `severity` when that is higher.
Severity decided_severity(const PolicyRule* rule, Severity detected);

// The built-in table used when the config does not turn it off (after the site's own rules).
std::vector<PolicyRule> default_policy();

// Call types a rule may name.
bool valid_call_type(std::string_view t);

}  // namespace tw::rules
