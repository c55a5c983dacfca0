#include "dsp/units/modem_tones.hpp"

#include <stdexcept>

#include "dsp/state_pool.hpp"

namespace tw::dsp::detail {

namespace {

ToneName tone_code_name(int code) {
  switch (code) {
    case MODEM_CONNECT_TONES_FAX_CNG:
      return ToneName::fax_cng;
    case MODEM_CONNECT_TONES_ANS:
      return ToneName::ans;
    case MODEM_CONNECT_TONES_ANS_PR:
      return ToneName::ans_pr;
    case MODEM_CONNECT_TONES_ANSAM:
      return ToneName::ansam;
    case MODEM_CONNECT_TONES_ANSAM_PR:
      return ToneName::ansam_pr;
    case MODEM_CONNECT_TONES_FAX_PREAMBLE:
      return ToneName::v21_preamble;
    case MODEM_CONNECT_TONES_BELL_ANS:
      return ToneName::bell_ans;
    case MODEM_CONNECT_TONES_CALLING_TONE:
      return ToneName::calling_tone;
    default:
      return ToneName::none;
  }
}

}  // namespace

void ModemToneUnit::reset() {
  onsets_.clear();
  if (short_) short_->clear();
}

bool ModemToneUnit::acquire() {
  if (state_) return false;
  if (!StatePool::local().take(state_)) {
    state_.reset(modem_connect_tones_rx_init(nullptr, type_, &tone_cb, this));
    if (!state_) throw std::runtime_error("modem_connect_tones_rx_init failed");
  }
  return true;
}

void ModemToneUnit::restart(std::int64_t /*start*/) {
  if (state_) modem_connect_tones_rx_init(state_.get(), type_, &tone_cb, this);
  present_ = 0;
}

void ModemToneUnit::feed(std::span<const std::int16_t> x, std::int64_t start) {
  const int n = static_cast<int>(x.size());
  event_pos_ = ceil_to(start + n, kPiece);
  modem_connect_tones_rx(state_.get(), x.data(), n);
}

void ModemToneUnit::park() {
  if (state_) StatePool::local().put(state_);
}

void ModemToneUnit::tone_cb(void* user, int code, int level, int /*delay*/) {
  auto& u = *static_cast<ModemToneUnit*>(user);
  if (code == u.present_) return;
  u.present_ = code;
  const ToneName name = tone_code_name(code);
  if (name == ToneName::none) return;
  if (u.short_) u.short_->spandsp_reported(u.event_pos_);
  u.report(name, static_cast<float>(level), u.event_pos_);
}

void ModemToneUnit::report_short_tone(std::int64_t end) {
  ShortAnswerTone::Report r;
  if (short_ && short_->due(end, r)) report(r.name, r.level, r.at);
}

void ModemToneUnit::flush() {
  ShortAnswerTone::Report r;
  if (short_ && short_->flush(host_.ring.end(), host_.ring, r)) report(r.name, r.level, r.at);
}

}  // namespace tw::dsp::detail
