// Passive Q.921 (LAPD) frame parsing: address, control, information field. A tap needs no
// data-link state machine, only enough to extract payloads and to spot retransmissions.
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace tw::q921 {

enum class FrameKind : std::uint8_t { I, S, U };

// Supervisory functions (control bits 2-3).
enum class SType : std::uint8_t { RR = 0, RNR = 1, REJ = 2, Invalid = 3 };

// Unnumbered functions, by their modifier bits with P/F masked out.
enum class UType : std::uint8_t { SABME, DM, UI, DISC, UA, FRMR, XID, Unknown };

struct Frame {
  std::uint8_t sapi = 0;  // 0 = call control (Q.931), 63 = layer 2 management
  bool cr = false;        // command/response bit as sent
  std::uint8_t tei = 0;
  FrameKind kind = FrameKind::U;
  SType s_type = SType::RR;
  UType u_type = UType::Unknown;
  std::uint8_t ns = 0;  // I-frames
  std::uint8_t nr = 0;  // I and S frames
  bool poll_final = false;
  std::span<const std::uint8_t> info;  // I and UI (and FRMR/XID) payload; view into the input
};

enum class ParseError : std::uint8_t {
  None,
  TooShort,      // fewer bytes than address + control need
  BadAddressEa,  // EA bits are not 0 then 1
  BadControl,    // reserved control encoding, or an S frame with a payload
};

const char* to_string(ParseError e);

// Parses one frame (no FCS). Never reads outside `bytes`; `out.info` views into `bytes`.
ParseError parse(std::span<const std::uint8_t> bytes, Frame& out);

// Spots I-frames seen before, per direction and per data link (SAPI, TEI): a transmitter
// repeats an I-frame with the same N(S) and the same payload when its T200 timer expires.
// Comparing payload digests (not only N(S)) keeps it right when a capture starts mid-session,
// after N(S) wraps at 128, and after a link reset restarts the numbering.
enum class IFrameVerdict : std::uint8_t {
  New,             // decode it
  Retransmission,  // same N(S), same payload as a recent frame: decoded already
  // Same N(S) as a recent frame but other content. A receiver would discard it as out of
  // sequence (Q.921 5.8.3), so a tap must too: otherwise a damaged or forged copy of a frame
  // could rewrite a call that was decoded from the real one.
  SequenceConflict,
};

class RetransmissionFilter {
 public:
  // Classifies `frame` (an I-frame sent by `direction`, 0 or 1) against the frames
  // remembered on the same link.
  IFrameVerdict classify(int direction, const Frame& frame) const;
  // Remembers a New frame. The pipeline calls it only once the frame decoded, so garbage
  // carrying a future N(S) cannot make the real frame look like a conflict.
  void remember(int direction, const Frame& frame);
  // A SABME or DISC resets the link's numbering; frames before it can no longer repeat.
  // Clears the link's entries in both directions: after SABME/UA both ends restart at N(S) 0.
  void reset_link(int direction, const Frame& frame);

 private:
  // (sapi << 7 | tei) << 8 | N(S), one compare per entry on the hot path; kEmpty never
  // matches a real frame (a link key has 13 bits).
  static constexpr std::uint32_t kEmpty = 0xffffffffu;
  // 16 > the largest window (k = 7) a PRI D-channel uses, so a whole window can be resent.
  static constexpr std::size_t kDepth = 16;
  struct Ring {
    std::array<std::uint32_t, kDepth> keys;
    std::array<std::uint64_t, kDepth> digests{};
    // How many remembered entries carry each N(S): a new frame (the common case) is known
    // new without scanning.
    std::array<std::uint8_t, 128> ns_count{};
    std::size_t next = 0;
    Ring() { keys.fill(kEmpty); }
  };
  std::array<Ring, 2> seen_{};
};

}  // namespace tw::q921
