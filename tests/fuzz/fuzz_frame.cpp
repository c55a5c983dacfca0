// libFuzzer target: one D-channel frame through the passive decoding path, as the pipeline
// runs it: the passive link (Q.921 parse, retransmission filter, link state, N(S) gaps), then
// Q.931 decode of the information field under every switch variant.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "monitor/q921/lapd.hpp"
#include "monitor/q921/passive_link.hpp"
#include "monitor/q931/message.hpp"

namespace {

using tw::hal::SwitchType;

constexpr SwitchType kVariants[] = {SwitchType::Ni2,    SwitchType::Att4ess,  SwitchType::Att5ess,
                                    SwitchType::Dms100, SwitchType::EuroIsdn, SwitchType::Qsig};

// Text from the wire: FixedString sets `truncated` only when it is full.
template <std::size_t N>
bool consistent(const tw::q931::FixedString<N>& s) {
  return !s.truncated || s.size == N;
}

bool consistent(const tw::q931::PartyNumber& n) {
  return consistent(n.digits) && n.presentation <= 3 && n.screening <= 3 &&
         (n.present || (n.digits.empty() && !n.has_presentation));
}

// The fields that must come out the same whatever the Message held before decode().
bool same(const tw::q931::Message& a, const tw::q931::Message& b) {
  auto number = [](const tw::q931::PartyNumber& x, const tw::q931::PartyNumber& y) {
    return x.present == y.present && x.type == y.type && x.plan == y.plan &&
           x.presentation == y.presentation && x.digits.view() == y.digits.view() &&
           x.digits.truncated == y.digits.truncated;
  };
  return a.protocol == b.protocol && a.call_ref_len == b.call_ref_len &&
         a.call_ref_flag == b.call_ref_flag && a.call_ref == b.call_ref && a.type == b.type &&
         a.channel.present == b.channel.present && a.channel.channel == b.channel.channel &&
         a.channel.slot_map == b.channel.slot_map && a.bearer.present == b.bearer.present &&
         a.bearer.transfer_capability == b.bearer.transfer_capability &&
         number(a.calling, b.calling) && number(a.ani, b.ani) && number(a.called, b.called) &&
         number(a.redirecting, b.redirecting) && number(a.connected, b.connected) &&
         a.cause.present == b.cause.present && a.cause.value == b.cause.value &&
         a.cause.diagnostics.view() == b.cause.diagnostics.view() &&
         a.progress.descriptions == b.progress.descriptions &&
         a.display.view() == b.display.view() && a.keypad.view() == b.keypad.view() &&
         a.sending_complete == b.sending_complete && a.more_data == b.more_data &&
         a.change_status.present == b.change_status.present &&
         a.change_status.status == b.change_status.status && a.unknown_ies == b.unknown_ies &&
         a.other_codeset_ies == b.other_codeset_ies;
}

// Checks what decode() promises about a successful result (message.hpp); a violation aborts.
void check(const tw::q931::Message& m, SwitchType variant) {
  using namespace tw::q931;
  const bool north_american = variant != SwitchType::EuroIsdn && variant != SwitchType::Qsig;
  const bool protocol_ok = m.protocol == kPdQ931 || (is_maintenance(m.protocol) && north_american);
  // The call reference has the length octet's size and its flag bit taken out.
  const bool call_ref_ok = (m.call_ref_len == 0 && m.call_ref == 0 && !m.call_ref_flag) ||
                           (m.call_ref_len == 1 && m.call_ref <= 0x7f) ||
                           (m.call_ref_len == 2 && m.call_ref <= 0x7fff);
  // A slot map names no single channel; a Q.850 cause value has 7 bits; every progress
  // description below 32 has its bit in `descriptions`.
  const bool ies_ok =
      !(m.channel.slot_map && m.channel.channel != 0) && m.cause.value <= 0x7f &&
      !(m.progress.present && m.progress.description < 32 &&
        (m.progress.descriptions & (std::uint32_t{1} << m.progress.description)) == 0) &&
      !(!m.progress.present && m.progress.descriptions != 0) && m.change_status.status <= 7;
  if (!protocol_ok || !call_ref_ok || !ies_ok || !consistent(m.calling) || !consistent(m.ani) ||
      !consistent(m.called) || !consistent(m.redirecting) || !consistent(m.connected) ||
      !consistent(m.cause.diagnostics) || !consistent(m.display) || !consistent(m.keypad)) {
    std::abort();
  }
}

bool named(const char* text) {
  return std::string_view(text) != "unknown";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Kept across inputs on purpose: runs of inputs then exercise the link's filter and state.
  static tw::q921::PassiveLink link;

  const std::span<const std::uint8_t> bytes(data, size);
  const tw::hal::Side from = (size & 1) ? tw::hal::Side::Carrier : tw::hal::Side::Pbx;
  tw::q931::Message message;
  tw::q931::Message fresh;
  auto decode_all = [&](std::span<const std::uint8_t> info) {
    bool any = false;
    for (SwitchType v : kVariants) {
      // `message` still holds the previous variant's result: decode() must not depend on it.
      const auto derr = tw::q931::decode(info, v, message);
      if (!named(tw::q931::to_string(derr))) std::abort();
      fresh = tw::q931::Message{};
      if (tw::q931::decode(info, v, fresh) != derr) std::abort();
      if (derr == tw::q931::DecodeError::None) {
        check(message, v);
        if (!same(message, fresh)) std::abort();
        any = true;
      }
    }
    return any;
  };
  const auto step = link.on_frame(from, bytes, decode_all);
  // The decoder sees every information field, not only the ones the link passes on.
  if (step.use != tw::q921::FrameUse::Payload && step.use != tw::q921::FrameUse::Malformed)
    (void)decode_all(step.frame.info);
  if (!named(tw::q921::to_string(step.error)) || !named(tw::q921::to_string(step.use)))
    std::abort();
  // What the parser and the link promise of a parsed frame (lapd.hpp, passive_link.hpp).
  const tw::q921::Frame& f = step.frame;
  if (step.use != tw::q921::FrameUse::Malformed &&
      (f.sapi > 63 || f.tei > 127 || f.ns > 127 || f.nr > 127))
    std::abort();
  if (step.use == tw::q921::FrameUse::Payload &&
      (f.sapi != 0 || !(f.kind == tw::q921::FrameKind::I ||
                        (f.kind == tw::q921::FrameKind::U && f.u_type == tw::q921::UType::UI))))
    std::abort();
  if (step.use == tw::q921::FrameUse::OtherSapi && f.sapi == 0) std::abort();
  if ((step.use == tw::q921::FrameUse::Retransmission ||
       step.use == tw::q921::FrameUse::SequenceConflict) &&
      f.kind != tw::q921::FrameKind::I)
    std::abort();
  if (step.missed != 0 && (!step.delivered || f.kind != tw::q921::FrameKind::I)) std::abort();
  if ((step.use == tw::q921::FrameUse::Malformed) != (step.error != tw::q921::ParseError::None))
    std::abort();
  if (step.delivered && step.use != tw::q921::FrameUse::Payload) std::abort();
  if (!step.frame.info.empty() && (step.frame.info.data() < data ||
                                   step.frame.info.data() + step.frame.info.size() > data + size)) {
    std::abort();
  }
  if (step.link_changed && (!step.shows_up || *step.shows_up != link.up())) std::abort();
  return 0;
}
