#include "rules/policy.hpp"

#include <algorithm>
#include <array>

namespace tw::rules {

namespace {

constexpr std::array<std::string_view, 6> kActionNames = {"allow",  "log",    "alert",
                                                          "digest", "hangup", "exec"};
constexpr std::array<std::string_view, 4> kCallTypes = {"voice", "fax", "modem", "data"};

template <typename T>
bool listed(const std::vector<T>& v, const T& x) {
  return v.empty() || std::find(v.begin(), v.end(), x) != v.end();
}

PolicyRule rule(std::string name, std::vector<Category> categories, std::vector<Action> actions,
                Severity min = Severity::Info, std::vector<TimeWindow> windows = {},
                std::optional<Severity> raise_to = std::nullopt) {
  PolicyRule r;
  r.severity = raise_to;
  r.name = std::move(name);
  r.categories = std::move(categories);
  r.actions = std::move(actions);
  r.min_severity = min;
  r.windows = std::move(windows);
  r.builtin = true;
  return r;
}

}  // namespace

std::string_view to_string(Action a) {
  return kActionNames[static_cast<std::size_t>(a)];
}

std::optional<Action> parse_action(std::string_view name) {
  for (std::size_t i = 0; i < kActionNames.size(); ++i)
    if (kActionNames[i] == name) return static_cast<Action>(i);
  return std::nullopt;
}

bool valid_call_type(std::string_view t) {
  return std::find(kCallTypes.begin(), kCallTypes.end(), t) != kCallTypes.end();
}

bool matches(const PolicyRule& r, const PolicyInput& in) {
  if (!listed(r.categories, in.category)) return false;
  if (in.severity < r.min_severity) return false;
  if (!listed(r.windows, in.window)) return false;
  const bool needs_call =
      r.direction || !r.profiles.empty() || !r.classes.empty() || !r.call_types.empty();
  if (!needs_call) return true;
  if (!in.has_call) return false;
  if (r.direction && *r.direction != in.direction) return false;
  if (!r.profiles.empty() &&
      std::find(r.profiles.begin(), r.profiles.end(), in.profile) == r.profiles.end())
    return false;
  if (!r.classes.empty() && !r.classes.intersects(in.far_classes)) return false;
  if (!r.call_types.empty() &&
      std::find(r.call_types.begin(), r.call_types.end(), in.call_type) == r.call_types.end())
    return false;
  return true;
}

Severity decided_severity(const PolicyRule* rule, Severity detected) {
  if (!rule || !rule->severity) return detected;
  return std::max(detected, *rule->severity);
}

const PolicyRule* decide(const std::vector<PolicyRule>& rules, const PolicyInput& in) {
  for (const PolicyRule& r : rules)
    if (matches(r, in)) return &r;
  return nullptr;
}

std::vector<PolicyRule> default_policy() {
  using C = Category;
  using A = Action;
  const std::vector<TimeWindow> off_hours = {TimeWindow::AfterHours, TimeWindow::Holiday};
  const std::vector<Category> capacity = {C::Concurrency, C::CallRate, C::MinutesCap};
  const std::vector<Category> redial = {C::ThroughDial, C::TrunkToTrunk};
  return {
      rule("high-risk-destination", {C::HighRiskDestination}, {A::Alert}),
      rule("premium", {C::Premium}, {A::Alert}),
      // Critical = a class the source's profile does not allow.
      rule("international-not-allowed", {C::International}, {A::Alert}, Severity::Critical),
      // An allowed international call is "info" to the destination detector; at night, on a
      // weekend or a holiday it is what toll fraud looks like.
      rule("international-after-hours", {C::International}, {A::Alert}, Severity::Info, off_hours,
           Severity::Warning),
      rule("international-business-hours", {C::International}, {A::Allow}),
      // CUCM and Avaya block off-net to off-net by default: cut it on strong evidence.
      rule("through-dial", redial, {A::Alert, A::Hangup}, Severity::Critical),
      rule("through-dial-suspect", redial, {A::Alert}, Severity::Warning),
      rule("remote-access-abuse", {C::BruteForce, C::SequentialShortCalls}, {A::Alert},
           Severity::Warning),
      rule("call-forward", {C::CallForward}, {A::Alert}, Severity::Warning),
      rule("wangiri-callback", {C::WangiriCallback}, {A::Alert}),
      rule("fax-modem-on-voice-line", {C::FaxOnVoiceLine, C::ModemOnVoiceLine}, {A::Alert}),
      rule("after-hours", {C::AfterHours}, {A::Alert}, Severity::Warning),
      rule("capacity-critical", capacity, {A::Alert}, Severity::Critical),
      rule("capacity-warning", capacity, {A::Digest}, Severity::Warning),
      rule("span-down", {C::SpanDown}, {A::Alert}),
      rule("log-the-rest", {}, {A::Log}),
  };
}

}  // namespace tw::rules
