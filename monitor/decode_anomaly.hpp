// What the passive decoder found wrong on a span's D-channel, by kind (Zeek's "weird"): the
// pipeline counts each kind per span and tells the rules engine, which raises a notice when
// a span sends a burst of them. Header only: the rules engine sees it without linking the
// decoder.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "trunkwatch/hal/types.hpp"

namespace tw {

enum class AnomalyKind : std::uint8_t {
  // Q.921: the frame did not parse.
  FrameTooShort,
  BadAddress,
  BadControl,
  // Q.921: an I-frame with the N(S) of a recent one and other content, discarded.
  SequenceConflict,
  // Q.931: the message of an I or UI frame did not decode.
  MessageTooShort,
  UnknownProtocol,
  BadCallReference,
  UnknownMessage,
  TruncatedIe,
  BadIeContent,
  // Q.921: I-frames the tap never saw (an N(S) gap); the frame after them decoded.
  SequenceGap,
};
inline constexpr std::size_t kAnomalyKinds = 11;

// Every kind but SequenceGap makes a frame undecodable (the span's `malformed` count).
constexpr bool is_malformed(AnomalyKind k) {
  return k != AnomalyKind::SequenceGap;
}

constexpr std::string_view to_string(AnomalyKind k) {
  switch (k) {
    case AnomalyKind::FrameTooShort:
      return "frame_too_short";
    case AnomalyKind::BadAddress:
      return "bad_address";
    case AnomalyKind::BadControl:
      return "bad_control";
    case AnomalyKind::SequenceConflict:
      return "sequence_conflict";
    case AnomalyKind::MessageTooShort:
      return "message_too_short";
    case AnomalyKind::UnknownProtocol:
      return "unknown_protocol";
    case AnomalyKind::BadCallReference:
      return "bad_call_reference";
    case AnomalyKind::UnknownMessage:
      return "unknown_message";
    case AnomalyKind::TruncatedIe:
      return "truncated_ie";
    case AnomalyKind::BadIeContent:
      return "bad_ie_content";
    case AnomalyKind::SequenceGap:
      return "sequence_gap";
  }
  return "unknown";
}

constexpr std::array<AnomalyKind, kAnomalyKinds> kAllAnomalyKinds = {
    AnomalyKind::FrameTooShort,    AnomalyKind::BadAddress,      AnomalyKind::BadControl,
    AnomalyKind::SequenceConflict, AnomalyKind::MessageTooShort, AnomalyKind::UnknownProtocol,
    AnomalyKind::BadCallReference, AnomalyKind::UnknownMessage,  AnomalyKind::TruncatedIe,
    AnomalyKind::BadIeContent,     AnomalyKind::SequenceGap,
};

// Counts per kind.
struct AnomalyCounts {
  std::array<std::uint64_t, kAnomalyKinds> by_kind{};
  std::uint64_t& operator[](AnomalyKind k) { return by_kind[static_cast<std::size_t>(k)]; }
  std::uint64_t operator[](AnomalyKind k) const { return by_kind[static_cast<std::size_t>(k)]; }
  std::uint64_t total() const {
    std::uint64_t n = 0;
    for (auto c : by_kind) n += c;
    return n;
  }
  AnomalyCounts& operator+=(const AnomalyCounts& o) {
    for (std::size_t i = 0; i < kAnomalyKinds; ++i) by_kind[i] += o.by_kind[i];
    return *this;
  }
};

// One anomaly as the pipeline reports it.
struct DecodeAnomaly {
  hal::Timestamp time{};
  int span = 0;
  hal::Side from = hal::Side::Pbx;
  AnomalyKind kind = AnomalyKind::FrameTooShort;
};

}  // namespace tw
