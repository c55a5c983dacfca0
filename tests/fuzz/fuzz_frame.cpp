// libFuzzer target: one D-channel frame through the passive decoding path, as the pipeline
// runs it: the passive link (Q.921 parse, retransmission filter, link state, N(S) gaps), then
// Q.931 decode of the information field under every switch variant.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "monitor/q921/lapd.hpp"
#include "monitor/q921/passive_link.hpp"
#include "monitor/q931/message.hpp"

namespace {

using tw::hal::SwitchType;

constexpr SwitchType kVariants[] = {SwitchType::Ni2,    SwitchType::Att4ess,  SwitchType::Att5ess,
                                    SwitchType::Dms100, SwitchType::EuroIsdn, SwitchType::Qsig};

// Checks what decode() promises about a successful result; a violation aborts the run.
void check(const tw::q931::Message& m) {
  using tw::q931::kMaxDigits;
  using tw::q931::kMaxDisplay;
  if (m.call_ref_len > 2 || m.calling.digits.size > kMaxDigits ||
      m.called.digits.size > kMaxDigits || m.redirecting.digits.size > kMaxDigits ||
      m.connected.digits.size > kMaxDigits || m.ani.digits.size > kMaxDigits ||
      m.keypad.size > kMaxDigits || m.display.size > kMaxDisplay || m.cause.diagnostics.size > 16 ||
      tw::q931::message_name(m.protocol, m.type) == nullptr) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Kept across inputs on purpose: runs of inputs then exercise the link's filter and state.
  static tw::q921::PassiveLink link;

  const std::span<const std::uint8_t> bytes(data, size);
  const tw::hal::Side from = (size & 1) ? tw::hal::Side::Carrier : tw::hal::Side::Pbx;
  tw::q931::Message message;
  auto decode_all = [&](std::span<const std::uint8_t> info) {
    bool any = false;
    for (SwitchType v : kVariants) {
      const auto derr = tw::q931::decode(info, v, message);
      if (tw::q931::to_string(derr) == nullptr) std::abort();
      if (derr == tw::q931::DecodeError::None) {
        check(message);
        (void)tw::q931::is_service(message);
        (void)tw::q931::is_service_ack(message);
        any = true;
      }
    }
    return any;
  };
  const auto step = link.on_frame(from, bytes, decode_all);
  // The decoder sees every information field, not only the ones the link passes on.
  if (step.use != tw::q921::FrameUse::Payload && step.use != tw::q921::FrameUse::Malformed)
    (void)decode_all(step.frame.info);
  if (tw::q921::to_string(step.error) == nullptr || tw::q921::to_string(step.use) == nullptr)
    std::abort();
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
