// libFuzzer target: one D-channel frame through the passive decoding path, as the pipeline
// runs it: Q.921 parse, retransmission filter, Q.931 decode of the information field under
// every switch variant.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "monitor/q921/lapd.hpp"
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
  // Kept across inputs on purpose: runs of inputs then exercise the filter's rings.
  static tw::q921::RetransmissionFilter filter;

  const std::span<const std::uint8_t> bytes(data, size);
  tw::q921::Frame frame;
  const auto perr = tw::q921::parse(bytes, frame);
  if (tw::q921::to_string(perr) == nullptr) std::abort();
  if (perr != tw::q921::ParseError::None) return 0;
  if (!frame.info.empty() &&
      (frame.info.data() < data || frame.info.data() + frame.info.size() > data + size)) {
    std::abort();
  }

  const int direction = static_cast<int>(size & 1);  // any cheap, input-derived choice
  if (frame.kind == tw::q921::FrameKind::U &&
      (frame.u_type == tw::q921::UType::SABME || frame.u_type == tw::q921::UType::DISC)) {
    filter.reset_link(direction, frame);
  }
  if (frame.kind == tw::q921::FrameKind::I) (void)filter.is_retransmission(direction, frame);

  tw::q931::Message message;
  for (SwitchType v : kVariants) {
    const auto derr = tw::q931::decode(frame.info, v, message);
    if (tw::q931::to_string(derr) == nullptr) std::abort();
    if (derr == tw::q931::DecodeError::None) {
      check(message);
      (void)tw::q931::is_service(message);
      (void)tw::q931::is_service_ack(message);
    }
  }
  return 0;
}
