// Spots several Q.921 links recorded under one span number. A classic pcap keeps trunkwatch's
// span number in the LINUX_LAPD pseudo-header, which Wireshark zeroes when it re-saves a
// capture: every span then reads as span 1, and the decoder silently mixes them.
//
// The signal is Q.921's own: on one data link, each side numbers its I-frames with one
// sequence, N(S) = 0, 1, 2, ... modulo 128 (a retransmission repeats the last number, a link
// reset starts again at 0 and leaves the old sequence). Two links heard as one give the same
// side two sequences that both stay alive and take turns. One sequence that restarts, a lost
// frame, or a stray garbled frame does not alternate, so it does not count.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "trunkwatch/hal/types.hpp"

namespace tw::hal {

// One span, side and TEI whose I-frames came in interleaved sequences.
struct MixedLinks {
  int span = 0;
  Side from = Side::Pbx;
  int tei = 0;
  int sequences = 0;               // most sequences alternating at one time
  std::uint64_t alternations = 0;  // frames that switched from one established sequence to another
  std::uint64_t i_frames = 0;      // I-frames of this span, side and TEI
};

class LinkMixCheck {
 public:
  // A sequence counts once it has this many frames; a finding needs this many alternations.
  static constexpr std::uint32_t kEstablished = 4;
  static constexpr std::uint64_t kMinAlternations = 8;
  // Sequences used within this many I-frames (of that span, side and TEI) count as parallel.
  static constexpr std::uint64_t kRecent = 32;

  // `lapd`: address, control, information (no FCS); anything else is ignored.
  void on_frame(int span, Side from, std::span<const std::uint8_t> lapd);
  // The spans, sides and TEIs that look like several links, in span order.
  std::vector<MixedLinks> findings() const;
  // One line for a warning, naming every finding; empty when there is none.
  std::string describe() const;

 private:
  struct Sequence {
    std::uint8_t last_ns = 0;
    std::uint32_t frames = 0;     // 0: a free slot
    std::uint64_t last_used = 0;  // the stream's I-frame count when it was last used
  };
  struct Stream {
    std::array<Sequence, 4> sequences{};
    int current = -1;
    int most_parallel = 0;
    std::uint64_t alternations = 0;
    std::uint64_t i_frames = 0;
  };
  std::map<std::tuple<int, int, int>, Stream> streams_;  // span, side, TEI
};

}  // namespace tw::hal
