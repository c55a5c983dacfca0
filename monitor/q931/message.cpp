// Passive Q.931 decoding (see message.hpp). Information elements are dispatched through a
// constexpr table (IE id -> parser + minimum content length), in the spirit of libosmocore's
// tlv_parse. Every parser gets a span that already fits the buffer, so bounds checks inside a
// parser only concern the IE's own content.
#include "monitor/q931/message.hpp"

#include <cstddef>
#include <iterator>

namespace tw::q931 {

namespace {

using Bytes = std::span<const std::uint8_t>;

constexpr std::uint8_t kExt = 0x80;  // bit 8 of an IE octet: 1 = last octet of its group

// The North American variants share the maintenance protocol, the display type octet, the
// change status IE and the codeset-6 display.
constexpr bool north_american(SwitchType v) {
  return v == SwitchType::Ni2 || v == SwitchType::Dms100 || v == SwitchType::Att4ess ||
         v == SwitchType::Att5ess;
}

// AT&T TR41459 (4ESS, 5ESS): libpri ignores an IE that follows a non-locking shift to a codeset
// other than the locked one.
constexpr bool tr41459(SwitchType v) {
  return v == SwitchType::Att4ess || v == SwitchType::Att5ess;
}

void bump(std::uint8_t& counter) {
  if (counter != 0xff) ++counter;
}

// Q.931 4.5.1: an octet group (3, 3a, 3b, ...) goes on while bit 8 is 0. Moves `pos` past the
// group that starts there; false if the content ends before an octet with bit 8 set.
bool skip_group(Bytes c, std::size_t& pos) {
  while (pos < c.size()) {
    if (c[pos++] & kExt) return true;
  }
  return false;
}

struct Ctx {
  Message& m;
  SwitchType variant;
};

using IeParser = DecodeError (*)(Bytes content, Ctx& ctx);

struct IeSpec {
  std::uint8_t id = 0;
  std::uint8_t min_len = 0;  // mandatory content octets; shorter => BadIeContent
  IeParser parse = nullptr;  // nullptr: a Q.931 IE the monitor does not need, skipped silently
};

// Each parser validates into a local value and stores it only if the message has none yet, so a
// repeated IE is checked like the first one but the first one wins.

DecodeError parse_bearer(Bytes c, Ctx& ctx) {
  BearerCapability bc;
  bc.present = true;
  bc.coding_standard = (c[0] >> 5) & 0x03;
  bc.transfer_capability = c[0] & 0x1f;
  std::size_t pos = 0;
  if (!skip_group(c, pos) || pos >= c.size()) return DecodeError::BadIeContent;  // octet 4
  bc.transfer_mode = (c[pos] >> 5) & 0x03;
  bc.transfer_rate = c[pos] & 0x1f;
  // Octet 4 may still carry the 4a/4b extensions of pre-1993 Q.931.
  if (!skip_group(c, pos)) return DecodeError::BadIeContent;
  if (bc.transfer_rate == 0x18) {  // multirate: octet 4.1 is mandatory
    if (pos >= c.size()) return DecodeError::BadIeContent;
    bc.rate_multiplier = c[pos++] & 0x7f;
  }
  // Octet 5 (user information layer 1) is told apart from octets 6/7 by bits 7-6 == 01.
  if (pos < c.size() && (c[pos] & 0x60) == 0x20) bc.layer1_protocol = c[pos] & 0x1f;
  if (!ctx.m.bearer.present) ctx.m.bearer = bc;
  return DecodeError::None;
}

DecodeError parse_cause(Bytes c, Ctx& ctx) {
  Cause k;
  k.present = true;
  k.coding_standard = (c[0] >> 5) & 0x03;
  k.location = c[0] & 0x0f;
  std::size_t pos = (c[0] & kExt) ? 1 : 2;  // octet 3a (recommendation) when bit 8 is 0
  if (pos >= c.size()) return DecodeError::BadIeContent;
  k.value = c[pos++] & 0x7f;
  k.diagnostics.assign(c.subspan(pos));
  if (!ctx.m.cause.present) ctx.m.cause = k;
  return DecodeError::None;
}

DecodeError parse_channel_id(Bytes c, Ctx& ctx) {
  ChannelId ch;
  ch.present = true;
  const std::uint8_t o3 = c[0];
  ch.interface_explicit = (o3 & 0x40) != 0;
  ch.primary_rate = (o3 & 0x20) != 0;
  ch.exclusive = (o3 & 0x08) != 0;
  ch.d_channel = (o3 & 0x04) != 0;
  ch.selection = o3 & 0x03;
  std::size_t pos = 1;
  if (ch.interface_explicit) {
    // Octet 3.1: interface identifier (NFAS), as many octets as its extension bits say.
    if (pos >= c.size()) return DecodeError::BadIeContent;
    ch.interface_id = c[pos] & 0x7f;
    if (!skip_group(c, pos)) return DecodeError::BadIeContent;
  }
  if (ch.d_channel) {
    // Signalling-only call on the D-channel: no B-channel, nothing more to read.
  } else if (ch.primary_rate) {
    if (ch.selection == 0x01) {  // "as indicated in following octets": 3.2 and 3.3 mandatory
      if (pos + 2 > c.size()) return DecodeError::BadIeContent;
      const std::uint8_t o32 = c[pos++];
      ch.slot_map = (o32 & 0x10) != 0;
      const bool b_channel_units = (o32 & 0x0f) == 0x03;                // not H0/H11/H12
      if (!ch.slot_map && b_channel_units) ch.channel = c[pos] & 0x7f;  // first of a list
    }
  } else if (ch.selection == 0x01 || ch.selection == 0x02) {
    ch.channel = ch.selection;  // basic rate: B1 or B2 named in octet 3 itself
  }
  if (!ctx.m.channel.present) ctx.m.channel = ch;
  return DecodeError::None;
}

DecodeError parse_progress(Bytes c, Ctx& ctx) {
  ProgressIndicator p;
  p.present = true;
  p.coding_standard = (c[0] >> 5) & 0x03;
  p.location = c[0] & 0x0f;
  p.description = c[1] & 0x7f;
  const std::uint32_t bit = p.description < 32 ? (std::uint32_t{1} << p.description) : 0;
  if (!ctx.m.progress.present) {
    p.descriptions = ctx.m.progress.descriptions;
    ctx.m.progress = p;
  }
  ctx.m.progress.descriptions |= bit;
  return DecodeError::None;
}

// How many octet groups after octet 3 a number IE may carry before its digits.
enum class NumberForm {
  Called,       // octet 3 only
  Calling,      // 3, 3a (presentation/screening)
  Redirecting,  // 3, 3a, 3b (reason)
};

DecodeError parse_number(Bytes c, NumberForm form, bool lucent_octet3a, PartyNumber& n) {
  n.present = true;
  n.type = (c[0] >> 4) & 0x07;
  n.plan = c[0] & 0x0f;
  std::size_t pos = 1;
  if (form != NumberForm::Called) {
    bool more = (c[0] & kExt) == 0;
    // Some Lucent-built switches (seen under NI-2 too) set bit 8 of octet 3 and still send
    // octet 3a; libpri accepts that for connected numbers. Digits are IA5 (bit 8 clear), so an
    // octet with bit 8 set cannot be a digit.
    if (!more && lucent_octet3a && c.size() > 1 && (c[1] & kExt)) more = true;
    if (more) {
      if (pos >= c.size()) return DecodeError::BadIeContent;
      n.has_presentation = true;
      n.presentation = (c[pos] >> 5) & 0x03;
      n.screening = c[pos] & 0x03;
      more = (c[pos++] & kExt) == 0;
      if (more && form == NumberForm::Redirecting) {
        if (pos >= c.size()) return DecodeError::BadIeContent;
        n.reason = c[pos] & 0x0f;
        more = (c[pos++] & kExt) == 0;
      }
      if (more && !skip_group(c, pos)) return DecodeError::BadIeContent;
    }
  }
  n.digits.assign(c.subspan(pos));
  return DecodeError::None;
}

bool network_provided(const PartyNumber& n) {
  return n.present && n.has_presentation && n.screening == 0x03;
}

DecodeError parse_calling(Bytes c, Ctx& ctx) {
  PartyNumber n;
  if (auto e = parse_number(c, NumberForm::Calling, false, n); e != DecodeError::None) return e;
  Message& m = ctx.m;
  if (network_provided(n)) {
    if (!m.ani.present) m.ani = n;
    if (!m.calling.present) m.calling = n;
  } else if (!m.calling.present || network_provided(m.calling)) {
    m.calling = n;
  }
  return DecodeError::None;
}

DecodeError parse_called(Bytes c, Ctx& ctx) {
  PartyNumber n;
  if (auto e = parse_number(c, NumberForm::Called, false, n); e != DecodeError::None) return e;
  if (!ctx.m.called.present) ctx.m.called = n;
  return DecodeError::None;
}

DecodeError parse_redirecting(Bytes c, Ctx& ctx) {
  PartyNumber n;
  if (auto e = parse_number(c, NumberForm::Redirecting, false, n); e != DecodeError::None) {
    return e;
  }
  if (!ctx.m.redirecting.present) ctx.m.redirecting = n;
  return DecodeError::None;
}

DecodeError parse_connected(Bytes c, Ctx& ctx) {
  PartyNumber n;
  const bool lucent = north_american(ctx.variant);
  if (auto e = parse_number(c, NumberForm::Calling, lucent, n); e != DecodeError::None) return e;
  if (!ctx.m.connected.present) ctx.m.connected = n;
  return DecodeError::None;
}

DecodeError parse_display(Bytes c, Ctx& ctx) {
  // The North American switches put a display type / character set octet (bit 8 set, e.g.
  // 0xb1) before the text; in ITU Q.931 every octet is IA5 text.
  if (north_american(ctx.variant) && !c.empty() && (c[0] & kExt)) c = c.subspan(1);
  if (ctx.m.display.empty()) ctx.m.display.assign(c);
  return DecodeError::None;
}

DecodeError parse_keypad(Bytes c, Ctx& ctx) {
  if (ctx.m.keypad.empty()) ctx.m.keypad.assign(c);
  return DecodeError::None;
}

DecodeError parse_restart(Bytes c, Ctx& ctx) {
  if (!ctx.m.restart.present) {
    ctx.m.restart.present = true;
    ctx.m.restart.restart_class = c[0] & 0x07;
  }
  return DecodeError::None;
}

DecodeError parse_change_status(Bytes c, Ctx& ctx) {
  // Only the North American variants define IE 0x01 in codeset 0 (libpri likewise).
  if (!north_american(ctx.variant)) {
    bump(ctx.m.unknown_ies);
    return DecodeError::None;
  }
  if (c.empty()) return DecodeError::BadIeContent;
  if (!ctx.m.change_status.present) {
    ctx.m.change_status.present = true;
    ctx.m.change_status.status = c[0] & 0x07;
  }
  return DecodeError::None;
}

// Codeset 0 variable-length IEs: the ones the monitor decodes, and the other Q.931/Q.932/Q.951
// ones it knows to skip without calling them unknown.
constexpr IeSpec kCodeset0[] = {
    {0x00, 0, nullptr},  // segmented message
    {0x01, 0, parse_change_status},
    {0x04, 2, parse_bearer},
    {0x08, 2, parse_cause},
    {0x0c, 1, parse_connected},  // connected address (Q.951 draft); libpri reads it as 0x4c
    {0x10, 0, nullptr},          // call identity
    {0x14, 0, nullptr},          // call state
    {0x18, 1, parse_channel_id},
    {0x1c, 0, nullptr},  // facility
    {0x1e, 2, parse_progress},
    {0x20, 0, nullptr},  // network-specific facilities
    {0x26, 0, nullptr},  // endpoint identifier
    {0x27, 0, nullptr},  // notification indicator
    {0x28, 0, parse_display},
    {0x29, 0, nullptr},  // date/time
    {0x2c, 1, parse_keypad},
    {0x2d, 0, nullptr},  // call status
    {0x31, 0, nullptr},  // update
    {0x32, 0, nullptr},  // information request
    {0x34, 0, nullptr},  // signal
    {0x36, 0, nullptr},  // switchhook
    {0x38, 0, nullptr},  // feature activation
    {0x39, 0, nullptr},  // feature indication
    {0x40, 0, nullptr},  // information rate
    {0x42, 0, nullptr},  // end-to-end transit delay
    {0x43, 0, nullptr},  // transit delay selection and indication
    {0x44, 0, nullptr},  // packet layer binary parameters
    {0x45, 0, nullptr},  // packet layer window size
    {0x46, 0, nullptr},  // packet size
    {0x47, 0, nullptr},  // closed user group
    {0x4a, 0, nullptr},  // reverse charging indication
    {0x4c, 1, parse_connected},
    {0x4d, 0, nullptr},  // connected subaddress
    {0x6c, 1, parse_calling},
    {0x6d, 0, nullptr},  // calling party subaddress
    {0x70, 1, parse_called},
    {0x71, 0, nullptr},  // called party subaddress
    {0x73, 0, nullptr},  // original called number
    {0x74, 1, parse_redirecting},
    {0x75, 0, nullptr},  // redirecting subaddress
    {0x76, 0, nullptr},  // redirection number
    {0x77, 0, nullptr},  // redirection subaddress
    {0x78, 0, nullptr},  // transit network selection
    {0x79, 1, parse_restart},
    {0x7a, 0, nullptr},  // user-user facility
    {0x7c, 0, nullptr},  // low layer compatibility
    {0x7d, 0, nullptr},  // high layer compatibility
    {0x7e, 0, nullptr},  // user-user
    {0x7f, 0, nullptr},  // escape for extension
};

// IE id (bit 8 clear, so 0..127) -> index into kCodeset0, or -1.
constexpr std::array<std::int8_t, 128> make_index() {
  std::array<std::int8_t, 128> index{};
  for (auto& i : index) i = -1;
  for (std::size_t i = 0; i < std::size(kCodeset0); ++i) {
    index[kCodeset0[i].id] = static_cast<std::int8_t>(i);
  }
  return index;
}
constexpr auto kCodeset0Index = make_index();

constexpr bool table_is_consistent() {
  for (std::size_t i = 0; i < std::size(kCodeset0); ++i) {
    if (kCodeset0[i].id & kExt) return false;
    if (kCodeset0Index[kCodeset0[i].id] != static_cast<std::int8_t>(i)) return false;  // dup
  }
  return std::size(kCodeset0) < 128;
}
static_assert(table_is_consistent(), "codeset 0 IE table has a duplicate or invalid id");

// Codeset 6 display (libpri's "Display (CS6)"), sent by North American switches.
constexpr IeSpec kCodeset6Display = {0x28, 0, parse_display};

DecodeError dispatch(const IeSpec& spec, Bytes content, Ctx& ctx) {
  if (spec.parse == nullptr) return DecodeError::None;
  if (content.size() < spec.min_len) return DecodeError::BadIeContent;
  return spec.parse(content, ctx);
}

// One variable-length IE, interpreted in `codeset` (ignored = skipped after a temporary shift).
DecodeError variable_ie(std::uint8_t id, Bytes content, std::uint8_t codeset, bool ignored,
                        Ctx& ctx) {
  if (ignored) {
    bump(ctx.m.other_codeset_ies);
    return DecodeError::None;
  }
  if (codeset == 0) {
    const std::int8_t i = kCodeset0Index[id];
    if (i < 0) {
      bump(ctx.m.unknown_ies);
      return DecodeError::None;
    }
    return dispatch(kCodeset0[static_cast<std::size_t>(i)], content, ctx);
  }
  if (codeset == 6 && id == kCodeset6Display.id && north_american(ctx.variant)) {
    return dispatch(kCodeset6Display, content, ctx);
  }
  bump(ctx.m.other_codeset_ies);
  return DecodeError::None;
}

// A single-octet IE other than a shift.
void single_octet_ie(std::uint8_t id, std::uint8_t codeset, bool ignored, Ctx& ctx) {
  if (ignored || codeset != 0) {
    bump(ctx.m.other_codeset_ies);
  } else if (id == 0xa1) {
    ctx.m.sending_complete = true;
  } else if (id == 0xa0) {
    ctx.m.more_data = true;
  } else if ((id & 0xf0) == 0xb0 || (id & 0xf0) == 0xd0) {
    // congestion level, repeat indicator: known, not needed
  } else {
    bump(ctx.m.unknown_ies);
  }
}

DecodeError decode_ies(Bytes ies, Ctx& ctx) {
  std::uint8_t locked = 0;   // codeset set by the last locking shift
  std::uint8_t current = 0;  // codeset for the next IE (differs after a non-locking shift)
  std::size_t pos = 0;
  while (pos < ies.size()) {
    const std::uint8_t id = ies[pos];
    if ((id & 0xf0) == 0x90) {  // shift
      ++pos;
      const std::uint8_t codeset = id & 0x07;
      if (id & 0x08) {
        current = codeset;  // non-locking: the next IE only
      } else if (codeset != 0) {
        locked = current = codeset;
      }
      // A locking shift to codeset 0 is invalid in every specification; like libpri, ignore it.
      continue;
    }
    const bool ignored = tr41459(ctx.variant) && current != locked;
    if (id & kExt) {
      ++pos;
      single_octet_ie(id, current, ignored, ctx);
    } else {
      if (ies.size() - pos < 2) return DecodeError::TruncatedIe;  // no length octet
      const std::size_t len = ies[pos + 1];
      if (ies.size() - pos - 2 < len) return DecodeError::TruncatedIe;
      const Bytes content = ies.subspan(pos + 2, len);
      pos += 2 + len;
      if (auto e = variable_ie(id, content, current, ignored, ctx); e != DecodeError::None) {
        return e;
      }
    }
    current = locked;
  }
  return DecodeError::None;
}

}  // namespace

const char* message_name(std::uint8_t pd, std::uint8_t type) {
  if (pd == kPdMaintenance) {
    switch (type) {
      case msg::kService:
        return "SERVICE";
      case msg::kServiceAck:
        return "SERVICE ACKNOWLEDGE";
      default:
        return nullptr;
    }
  }
  if (pd == kPdMaintenanceAtt) {
    switch (type) {
      case msg::kNationalService:
        return "SERVICE";
      case msg::kNationalServiceAck:
        return "SERVICE ACKNOWLEDGE";
      default:
        return nullptr;
    }
  }
  if (pd != kPdQ931) return nullptr;
  switch (type) {
    case msg::kAlerting:
      return "ALERTING";
    case msg::kCallProceeding:
      return "CALL PROCEEDING";
    case msg::kProgress:
      return "PROGRESS";
    case msg::kSetup:
      return "SETUP";
    case msg::kConnect:
      return "CONNECT";
    case msg::kSetupAck:
      return "SETUP ACKNOWLEDGE";
    case msg::kConnectAck:
      return "CONNECT ACKNOWLEDGE";
    case msg::kUserInformation:
      return "USER INFORMATION";
    case msg::kSuspendReject:
      return "SUSPEND REJECT";
    case msg::kResumeReject:
      return "RESUME REJECT";
    case msg::kHold:
      return "HOLD";
    case msg::kSuspend:
      return "SUSPEND";
    case msg::kResume:
      return "RESUME";
    case msg::kHoldAck:
      return "HOLD ACKNOWLEDGE";
    case msg::kSuspendAck:
      return "SUSPEND ACKNOWLEDGE";
    case msg::kResumeAck:
      return "RESUME ACKNOWLEDGE";
    case msg::kHoldReject:
      return "HOLD REJECT";
    case msg::kRetrieve:
      return "RETRIEVE";
    case msg::kRetrieveAck:
      return "RETRIEVE ACKNOWLEDGE";
    case msg::kRetrieveReject:
      return "RETRIEVE REJECT";
    case msg::kDetach:
      return "DETACH";
    case msg::kDisconnect:
      return "DISCONNECT";
    case msg::kRestart:
      return "RESTART";
    case msg::kDetachAck:
      return "DETACH ACKNOWLEDGE";
    case msg::kRelease:
      return "RELEASE";
    case msg::kRestartAck:
      return "RESTART ACKNOWLEDGE";
    case msg::kReleaseComplete:
      return "RELEASE COMPLETE";
    case msg::kSegment:
      return "SEGMENT";
    case msg::kFacility:
      return "FACILITY";
    case msg::kRegister:
      return "REGISTER";
    case msg::kNotify:
      return "NOTIFY";
    case msg::kStatusEnquiry:
      return "STATUS ENQUIRY";
    case msg::kCongestionControl:
      return "CONGESTION CONTROL";
    case msg::kInformation:
      return "INFORMATION";
    case msg::kStatus:
      return "STATUS";
    default:
      return nullptr;
  }
}

const char* to_string(DecodeError e) {
  switch (e) {
    case DecodeError::None:
      return "none";
    case DecodeError::TooShort:
      return "message too short";
    case DecodeError::UnknownProtocol:
      return "unknown protocol discriminator";
    case DecodeError::BadCallRefLength:
      return "bad call reference length";
    case DecodeError::UnknownMessageType:
      return "unknown message type";
    case DecodeError::TruncatedIe:
      return "truncated information element";
    case DecodeError::BadIeContent:
      return "bad information element content";
  }
  return "unknown";
}

DecodeError decode(std::span<const std::uint8_t> bytes, SwitchType variant, Message& out) {
  out = Message{};
  if (bytes.size() < 3) return DecodeError::TooShort;

  const std::uint8_t pd = bytes[0];
  if (pd != kPdQ931 && !(is_maintenance(pd) && north_american(variant))) {
    return DecodeError::UnknownProtocol;
  }
  out.protocol = pd;

  // Octet 2: 0000 + call reference length. Bits 8-5 are spare; like libpri, ignore them.
  const std::size_t cr_len = bytes[1] & 0x0f;
  if (cr_len > 2 || 2 + cr_len > bytes.size()) return DecodeError::BadCallRefLength;
  if (2 + cr_len + 1 > bytes.size()) return DecodeError::TooShort;
  out.call_ref_len = static_cast<std::uint8_t>(cr_len);
  if (cr_len == 1) {
    out.call_ref_flag = (bytes[2] & 0x80) != 0;
    out.call_ref = bytes[2] & 0x7f;
  } else if (cr_len == 2) {
    out.call_ref_flag = (bytes[2] & 0x80) != 0;
    out.call_ref = static_cast<std::uint16_t>((bytes[2] & 0x7f) << 8 | bytes[3]);
  }

  out.type = bytes[2 + cr_len];
  if (message_name(pd, out.type) == nullptr) return DecodeError::UnknownMessageType;

  Ctx ctx{out, variant};
  return decode_ies(bytes.subspan(3 + cr_len), ctx);
}

}  // namespace tw::q931
