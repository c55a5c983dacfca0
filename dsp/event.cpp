#include "dsp/event.hpp"

#include <array>
#include <cstdio>
#include <utility>

namespace tw::dsp {

namespace {
constexpr std::array<std::pair<ToneName, std::string_view>, 15> kToneNames{{
    {ToneName::fax_cng, "fax-cng"},
    {ToneName::ans, "ans"},
    {ToneName::ans_pr, "ans-pr"},
    {ToneName::ansam, "ansam"},
    {ToneName::ansam_pr, "ansam-pr"},
    {ToneName::bell_ans, "bell-ans"},
    {ToneName::calling_tone, "calling-tone"},
    {ToneName::v21_preamble, "v21-preamble"},
    {ToneName::v21_carrier, "v21-carrier"},
    {ToneName::bell103_carrier, "bell103-carrier"},
    {ToneName::dial, "dial"},
    {ToneName::ringback, "ringback"},
    {ToneName::busy, "busy"},
    {ToneName::reorder, "reorder"},
    {ToneName::sit, "sit"},
}};
}  // namespace

std::string_view to_string(EventKind kind) {
  switch (kind) {
    case EventKind::dtmf:
      return "dtmf";
    case EventKind::mf:
      return "mf";
    case EventKind::tone:
      return "tone";
  }
  return "?";
}

std::string_view to_string(ToneName tone) {
  for (const auto& [t, name] : kToneNames)
    if (t == tone) return name;
  return "none";
}

std::optional<ToneName> parse_tone_name(std::string_view text) {
  for (const auto& [t, name] : kToneNames)
    if (name == text) return t;
  return std::nullopt;
}

std::string describe(const Event& e) {
  char buf[128];
  if (e.kind == EventKind::tone) {
    std::snprintf(buf, sizeof buf, "tone %s @%.3fs from %.3fs",
                  std::string(to_string(e.tone)).c_str(), e.t_s, e.onset_s);
  } else {
    std::snprintf(buf, sizeof buf, "%s %c @%.3fs %.1fdBm0 %.0fms",
                  std::string(to_string(e.kind)).c_str(), e.digit, e.t_s, e.level_dbm0,
                  e.duration_ms);
  }
  return buf;
}

}  // namespace tw::dsp
