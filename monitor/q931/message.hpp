// Passive Q.931 message decoding: header, call reference, message type and the information
// elements a trunk monitor needs. Table-driven, allocation-free: every field lives in fixed
// storage inside Message, and every length is checked against the buffer before it is read.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "trunkwatch/hal/types.hpp"

namespace tw::q931 {

using hal::SwitchType;

// Bytes from the wire, kept as received (up to N), with a flag when more arrived than fit.
// Not NUL-terminated; view() gives the bytes. Callers sanitize before printing or storing.
template <std::size_t N>
struct FixedString {
  // Not zeroed: only the first `size` bytes are ever read, and decode() resets a Message
  // for every frame, so zeroing 300-odd bytes of text storage each time is pure cost.
  FixedString() {}
  std::array<char, N> data;
  std::uint8_t size = 0;
  bool truncated = false;

  std::string_view view() const { return {data.data(), size}; }
  bool empty() const { return size == 0; }
  void clear() { size = 0, truncated = false; }
  void assign(std::span<const std::uint8_t> bytes) {
    clear();
    append(bytes);
  }
  void append(std::span<const std::uint8_t> bytes) {
    for (std::uint8_t b : bytes) {
      if (size == N) {
        truncated = true;
        return;
      }
      data[size++] = static_cast<char>(b);
    }
  }
  void append(std::string_view s) {
    append(
        std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
  }
};

// Q.931 allows longer numbers, no real one is: more digits are cut and flagged
// (FixedString::truncated; the call record's numbers_truncated).
constexpr std::size_t kMaxDigits = 40;
constexpr std::size_t kMaxDisplay = 82;  // Q.931 display IE maximum content

namespace msg {
constexpr std::uint8_t kAlerting = 0x01;
constexpr std::uint8_t kCallProceeding = 0x02;
constexpr std::uint8_t kProgress = 0x03;
constexpr std::uint8_t kSetup = 0x05;
constexpr std::uint8_t kConnect = 0x07;
constexpr std::uint8_t kSetupAck = 0x0d;
constexpr std::uint8_t kConnectAck = 0x0f;
constexpr std::uint8_t kUserInformation = 0x20;
constexpr std::uint8_t kSuspendReject = 0x21;
constexpr std::uint8_t kResumeReject = 0x22;
constexpr std::uint8_t kHold = 0x24;
constexpr std::uint8_t kSuspend = 0x25;
constexpr std::uint8_t kResume = 0x26;
constexpr std::uint8_t kHoldAck = 0x28;
constexpr std::uint8_t kSuspendAck = 0x2d;
constexpr std::uint8_t kResumeAck = 0x2e;
constexpr std::uint8_t kHoldReject = 0x30;
constexpr std::uint8_t kRetrieve = 0x31;
constexpr std::uint8_t kRetrieveAck = 0x33;
constexpr std::uint8_t kRetrieveReject = 0x37;
constexpr std::uint8_t kDetach = 0x40;
constexpr std::uint8_t kDisconnect = 0x45;
constexpr std::uint8_t kRestart = 0x46;
constexpr std::uint8_t kDetachAck = 0x48;
constexpr std::uint8_t kRelease = 0x4d;
constexpr std::uint8_t kRestartAck = 0x4e;
constexpr std::uint8_t kReleaseComplete = 0x5a;
constexpr std::uint8_t kSegment = 0x60;
constexpr std::uint8_t kFacility = 0x62;
constexpr std::uint8_t kRegister = 0x64;
constexpr std::uint8_t kNotify = 0x6e;
constexpr std::uint8_t kStatusEnquiry = 0x75;
constexpr std::uint8_t kCongestionControl = 0x79;
constexpr std::uint8_t kInformation = 0x7b;
constexpr std::uint8_t kStatus = 0x7d;
// Maintenance protocol (B-channel service messages). The codes depend on the discriminator:
// under 0x03 (AT&T TR41459, DMS-100; what libpri sends for every variant but NI-2) SERVICE is
// 0x0f and SERVICE ACKNOWLEDGE 0x07; under 0x43 (what libpri sends for NI-2) they are swapped.
// message_name() names them; compare `type` with these only together with `protocol`.
constexpr std::uint8_t kServiceAck = 0x07;
constexpr std::uint8_t kService = 0x0f;
constexpr std::uint8_t kNationalService = 0x07;     // under discriminator 0x43
constexpr std::uint8_t kNationalServiceAck = 0x0f;  // under discriminator 0x43
}  // namespace msg

// Protocol discriminators. decode() accepts both maintenance discriminators for the North
// American variants (NI-2, DMS-100, 4ESS, 5ESS): libpri sends 0x43 for NI-2 and 0x03 for the
// others, and Wireshark knows 0x03 as the maintenance discriminator of AT&T, Nortel and Telcordia.
constexpr std::uint8_t kPdQ931 = 0x08;
constexpr std::uint8_t kPdMaintenance = 0x03;
constexpr std::uint8_t kPdMaintenanceAtt = 0x43;  // libpri's "national" discriminator (NI-2)

constexpr bool is_maintenance(std::uint8_t pd) {
  return pd == kPdMaintenance || pd == kPdMaintenanceAtt;
}

// Name of a message type ("SETUP"), or nullptr if the type is not one of Q.931's (or of the
// maintenance protocol's, for a maintenance discriminator).
const char* message_name(std::uint8_t pd, std::uint8_t type);

struct BearerCapability {
  bool present = false;
  std::uint8_t coding_standard = 0;      // 0 = ITU-T
  std::uint8_t transfer_capability = 0;  // 0x00 speech, 0x08 unrestricted digital, 0x10 3.1 kHz
  std::uint8_t transfer_mode = 0;        // 0 circuit, 2 packet
  std::uint8_t transfer_rate = 0;        // 0x10 = 64 kbit/s
  std::uint8_t rate_multiplier = 0;      // octet 4.1, only when transfer_rate is 0x18 (multirate)
  std::uint8_t layer1_protocol = 0;      // 0 absent, 2 = G.711 mu-law, 3 = G.711 A-law
};

struct ChannelId {
  bool present = false;
  bool interface_explicit = false;  // interface identifier present (NFAS)
  bool primary_rate = false;        // interface type bit: 1 = PRI
  bool exclusive = false;           // 1 = only this channel is acceptable
  bool d_channel = false;           // D-channel indicator
  std::uint8_t selection = 0;       // info channel selection (octet 3 bits 1-2)
  std::uint8_t interface_id = 0;
  // The B-channel named by number (PRI, octet 3.3 number format); 0 if none or a slot map.
  std::uint8_t channel = 0;
  bool slot_map = false;
};

struct PartyNumber {
  bool present = false;
  std::uint8_t type = 0;  // type of number (0 unknown, 1 international, 2 national, 4 subscriber)
  std::uint8_t plan = 0;  // numbering plan (1 = E.164)
  bool has_presentation = false;
  std::uint8_t presentation = 0;  // 0 allowed, 1 restricted, 2 not available
  std::uint8_t screening = 0;
  std::uint8_t reason = 0;  // redirecting number: reason for redirection (octet 3b)
  FixedString<kMaxDigits> digits;
};

struct Cause {
  bool present = false;
  std::uint8_t coding_standard = 0;
  std::uint8_t location = 0;
  std::uint8_t value = 0;  // Q.850 cause value (16 = normal clearing)
  FixedString<16> diagnostics;
};

struct ProgressIndicator {
  bool present = false;
  std::uint8_t coding_standard = 0;
  std::uint8_t location = 0;
  std::uint8_t description = 0;  // 1 not end-to-end ISDN, 2 destination non-ISDN, 8 in-band
  // A message often carries several progress indicators (1 and 8 together); the fields above
  // hold the first, this has bit d set for every description d < 32 seen.
  std::uint32_t descriptions = 0;
};

struct RestartIndicator {
  bool present = false;
  std::uint8_t restart_class = 0;  // 0 indicated channels, 6 single interface, 7 all interfaces
};

// Change status (codeset 0 IE 0x01, NI-2/DMS-100/4ESS/5ESS maintenance SERVICE messages).
struct ChangeStatus {
  bool present = false;
  // Low 3 bits (libpri's SERVICE_CHANGE_STATUS_*): 0 in service, 1 loopback, 2 out of service,
  // 3 continuity check requested, 4 shutdown.
  std::uint8_t status = 0;
};

// Which IE problem made a message undecodable.
enum class DecodeError : std::uint8_t {
  None,
  TooShort,            // no room for discriminator, call reference and message type
  UnknownProtocol,     // protocol discriminator is not Q.931 or the variant's maintenance one
  BadCallRefLength,    // call reference length above 2 (PRI) or beyond the buffer
  UnknownMessageType,  // message type not defined for this discriminator
  TruncatedIe,         // an IE's length runs past the end of the message
  BadIeContent,        // an IE the monitor needs is too short or inconsistent inside
};
const char* to_string(DecodeError e);

struct Message {
  std::uint8_t protocol = 0;
  std::uint8_t call_ref_len = 0;  // 0 = dummy call reference
  bool call_ref_flag = false;     // false: sent by the side that allocated the call reference
  std::uint16_t call_ref = 0;
  std::uint8_t type = 0;

  BearerCapability bearer;
  ChannelId channel;
  // The calling party number. NI-2 and others may send two: one network provided (screening
  // 3, the ANI) and one user provided; like libpri, `calling` prefers the user-provided one and
  // `ani` keeps the network-provided one.
  PartyNumber calling;
  PartyNumber ani;
  PartyNumber called;
  PartyNumber redirecting;
  PartyNumber connected;
  Cause cause;  // the first cause IE (a message may carry two)
  ProgressIndicator progress;
  RestartIndicator restart;
  FixedString<kMaxDisplay> display;
  FixedString<kMaxDigits> keypad;
  bool sending_complete = false;
  bool more_data = false;
  ChangeStatus change_status;

  // Counters saturate at 255.
  std::uint8_t unknown_ies = 0;        // codeset-0 IEs this decoder does not know, skipped
  std::uint8_t other_codeset_ies = 0;  // IEs in codesets 1-7 (or ignored after a shift), skipped

  bool is_global_call_ref() const { return call_ref_len > 0 && call_ref == 0; }
};

// Decodes one Q.931 message (the information field of an I or UI frame). On error the
// contents of `out` are unspecified and must not be used. Never reads outside `bytes`.
DecodeError decode(std::span<const std::uint8_t> bytes, SwitchType variant, Message& out);

}  // namespace tw::q931
