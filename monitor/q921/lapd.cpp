// Passive Q.921 parsing and I-frame retransmission spotting (see lapd.hpp).
#include "monitor/q921/lapd.hpp"

#include <cstring>

namespace tw::q921 {

namespace {

// Address octet 1: SAPI (6) C/R (1) EA=0; octet 2: TEI (7) EA=1.
constexpr std::uint8_t kEa = 0x01;
constexpr std::size_t kAddressLen = 2;

// U-frame modifier bits with the P/F bit (0x10) masked out.
constexpr std::uint8_t kPfBit = 0x10;
constexpr std::uint8_t kUSabme = 0x6f;
constexpr std::uint8_t kUDm = 0x0f;
constexpr std::uint8_t kUUi = 0x03;
constexpr std::uint8_t kUDisc = 0x43;
constexpr std::uint8_t kUUa = 0x63;
constexpr std::uint8_t kUFrmr = 0x87;
constexpr std::uint8_t kUXid = 0xaf;

UType u_type_of(std::uint8_t control) {
  switch (static_cast<std::uint8_t>(control & ~kPfBit)) {
    case kUSabme:
      return UType::SABME;
    case kUDm:
      return UType::DM;
    case kUUi:
      return UType::UI;
    case kUDisc:
      return UType::DISC;
    case kUUa:
      return UType::UA;
    case kUFrmr:
      return UType::FRMR;
    case kUXid:
      return UType::XID;
    default:
      return UType::Unknown;
  }
}

// Only these U frames carry an information field (Q.921 5.8.5: anything else with one is an
// error the receiving stack would answer with FRMR).
bool u_has_info(UType t) {
  return t == UType::UI || t == UType::FRMR || t == UType::XID;
}

// FNV-1a, 64 bit: cheap, no table, good enough to tell payloads apart within one window.
// A payload digest, eight bytes at a time (every I-frame is hashed once, on the hot path):
// FNV-1a's offset and prime over 64-bit words, with the length mixed in and a final
// avalanche (the murmur3 finalizer) so near-identical frames land far apart.
std::uint64_t payload_digest(std::span<const std::uint8_t> bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull ^ bytes.size();
  std::size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, bytes.data() + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
  }
  std::uint64_t tail = 0;
  for (std::size_t k = 0; i < bytes.size(); ++i, k += 8) tail |= std::uint64_t{bytes[i]} << k;
  h = (h ^ tail) * 0x100000001b3ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

std::uint16_t link_key(const Frame& f) {
  return static_cast<std::uint16_t>((f.sapi & 0x3f) << 7 | (f.tei & 0x7f));
}

}  // namespace

const char* to_string(ParseError e) {
  switch (e) {
    case ParseError::None:
      return "none";
    case ParseError::TooShort:
      return "too short";
    case ParseError::BadAddressEa:
      return "bad address EA bits";
    case ParseError::BadControl:
      return "bad control field";
  }
  return "unknown";
}

ParseError parse(std::span<const std::uint8_t> bytes, Frame& out) {
  out = Frame{};
  if (bytes.size() < kAddressLen + 1) return ParseError::TooShort;

  const std::uint8_t a0 = bytes[0];
  const std::uint8_t a1 = bytes[1];
  if ((a0 & kEa) != 0 || (a1 & kEa) == 0) return ParseError::BadAddressEa;
  out.sapi = a0 >> 2;
  out.cr = (a0 & 0x02) != 0;
  out.tei = a1 >> 1;

  const std::uint8_t c0 = bytes[2];
  if ((c0 & 0x01) == 0) {
    // I frame: two control octets, N(S) then N(R) + P.
    if (bytes.size() < kAddressLen + 2) return ParseError::TooShort;
    const std::uint8_t c1 = bytes[3];
    out.kind = FrameKind::I;
    out.ns = c0 >> 1;
    out.nr = c1 >> 1;
    out.poll_final = (c1 & 0x01) != 0;
    out.info = bytes.subspan(kAddressLen + 2);
    return ParseError::None;
  }
  if ((c0 & 0x03) == 0x01) {
    // S frame: 0000 SS 01, then N(R) + P/F. No information field allowed.
    if (bytes.size() < kAddressLen + 2) return ParseError::TooShort;
    const std::uint8_t c1 = bytes[3];
    out.kind = FrameKind::S;
    out.s_type = static_cast<SType>((c0 >> 2) & 0x03);
    out.nr = c1 >> 1;
    out.poll_final = (c1 & 0x01) != 0;
    if ((c0 & 0xf0) != 0 || out.s_type == SType::Invalid) return ParseError::BadControl;
    if (bytes.size() > kAddressLen + 2) return ParseError::BadControl;
    return ParseError::None;
  }
  // U frame: one control octet.
  out.kind = FrameKind::U;
  out.u_type = u_type_of(c0);
  out.poll_final = (c0 & kPfBit) != 0;
  if (out.u_type == UType::Unknown) return ParseError::BadControl;
  out.info = bytes.subspan(kAddressLen + 1);
  if (!u_has_info(out.u_type) && !out.info.empty()) return ParseError::BadControl;
  return ParseError::None;
}

IFrameVerdict RetransmissionFilter::classify(int direction, const Frame& frame) const {
  if (direction != 0 && direction != 1) return IFrameVerdict::New;
  if (frame.kind != FrameKind::I) return IFrameVerdict::New;
  const Ring& ring = seen_[static_cast<std::size_t>(direction)];
  if (ring.ns_count[frame.ns & 0x7f] == 0) return IFrameVerdict::New;
  const std::uint32_t key = std::uint32_t{link_key(frame)} << 8 | frame.ns;
  for (std::size_t i = 0; i < kDepth; ++i) {
    if (ring.keys[i] == key) {
      return ring.digests[i] == payload_digest(frame.info) ? IFrameVerdict::Retransmission
                                                           : IFrameVerdict::SequenceConflict;
    }
  }
  return IFrameVerdict::New;
}

void RetransmissionFilter::remember(int direction, const Frame& frame) {
  if (direction != 0 && direction != 1) return;
  if (frame.kind != FrameKind::I) return;
  Ring& ring = seen_[static_cast<std::size_t>(direction)];
  if (ring.keys[ring.next] != kEmpty) --ring.ns_count[ring.keys[ring.next] & 0x7f];
  ++ring.ns_count[frame.ns & 0x7f];
  ring.keys[ring.next] = std::uint32_t{link_key(frame)} << 8 | frame.ns;
  ring.digests[ring.next] = payload_digest(frame.info);
  ring.next = (ring.next + 1) % kDepth;
}

void RetransmissionFilter::reset_link(int direction, const Frame& frame) {
  if (direction != 0 && direction != 1) return;
  const std::uint32_t link = link_key(frame);
  for (Ring& ring : seen_) {
    for (std::uint32_t& key : ring.keys) {
      if (key != kEmpty && key >> 8 == link) {
        --ring.ns_count[key & 0x7f];
        key = kEmpty;
      }
    }
  }
}

}  // namespace tw::q921
