// A passive Q.921 data link: what a tap knows of one span's D-channel, fed one frame at a time.
// It parses the frame, drops retransmissions and out-of-sequence copies, reads the link's
// state off SABME/UA/DISC/DM and the frames that only flow on a link that is up, and notes
// N(S) gaps (I-frames the tap never saw). It never answers and keeps no timers: a tap owns
// no link.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "monitor/q921/lapd.hpp"
#include "trunkwatch/hal/types.hpp"

namespace tw::q921 {

// What a frame is to the layer above.
enum class FrameUse : std::uint8_t {
  Payload,           // an I or UI frame on SAPI 0: its information field is a Q.931 message
  Retransmission,    // an I-frame seen before (same N(S), same payload): decoded already
  SequenceConflict,  // the N(S) of a recent I-frame with other content: discarded
  Malformed,         // did not parse (LinkStep::error says why): discarded
  LinkControl,       // an S frame, or a U frame other than UI: nothing for call control
  OtherSapi,         // an I or UI frame on a SAPI other than 0 (layer 2 management, X.25)
};
const char* to_string(FrameUse u);

// What one frame did on the link.
struct LinkStep {
  FrameUse use = FrameUse::Malformed;
  ParseError error = ParseError::None;  // when use is Malformed
  // As parsed (when use is not Malformed): frame.kind, frame.u_type say which link event it
  // was (SABME, UA, DISC, DM); frame.info views into the bytes given to on_frame().
  Frame frame;
  // The link's state as this frame shows it (up after SABME answered by UA or any I or S
  // frame, down after DISC answered by UA or a DM); nullopt when the frame says nothing.
  std::optional<bool> shows_up;
  bool link_changed = false;  // shows_up differs from the state before the frame
  // Payload: the decoder took the message. Only then does the link remember the frame, so
  // garbage carrying a future N(S) cannot make the real frame look like a conflict.
  bool delivered = false;
  // A delivered I-frame whose N(S) is not the one after the previous new I-frame on SAPI 0 of
  // its link and direction: this many I-frames (mod 128) went by unseen. 0: in sequence, or
  // unknown (the first frame of a link, after SABME or DISC, after a capture starts).
  std::uint8_t missed = 0;
};

class PassiveLink {
 public:
  // One frame (no FCS) sent by `from`. For a Payload, `decode(frame.info)` is called and
  // returns whether the message decoded (the frame then counts as delivered).
  template <class Decode>
  LinkStep on_frame(hal::Side from, std::span<const std::uint8_t> bytes, Decode&& decode) {
    LinkStep step = receive(from, bytes);
    if (step.use == FrameUse::Payload && decode(step.frame.info)) {
      step.delivered = true;
      if (step.frame.kind == FrameKind::I) filter_.remember(direction(from), step.frame);
    } else {
      step.missed = 0;  // a gap is told on a frame that decoded, not on garbage
    }
    return step;
  }

  // The link's state as the frames showed it so far (down until a frame shows it up).
  bool up() const { return up_; }

 private:
  static int direction(hal::Side from) { return from == hal::Side::Pbx ? 0 : 1; }
  LinkStep receive(hal::Side from, std::span<const std::uint8_t> bytes);
  void read_state(LinkStep& step);
  std::uint8_t note_sequence(int direction, const Frame& frame);
  void forget_sequence(const Frame& frame);

  RetransmissionFilter filter_;
  UType command_ = UType::Unknown;  // the last SABME or DISC on SAPI 0, until answered
  bool up_ = false;
  // The N(S) expected next, per direction, for the few links (SAPI, TEI) a PRI carries;
  // past kLinks the oldest entry is reused (its link then starts unknown again).
  static constexpr std::size_t kLinks = 4;
  struct Expected {
    std::uint16_t link = 0xffff;  // (sapi << 7 | tei); 0xffff = unused
    std::uint8_t next_ns = 0;
  };
  std::array<std::array<Expected, kLinks>, 2> expected_{};
  std::array<std::size_t, 2> next_slot_{};
};

}  // namespace tw::q921
