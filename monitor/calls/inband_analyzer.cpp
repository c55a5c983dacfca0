#include "monitor/calls/inband_analyzer.hpp"

#include <chrono>

namespace tw::calls {

namespace {
hal::Timestamp plus_seconds(hal::Timestamp t, double s) {
  return t + std::chrono::microseconds(static_cast<long long>(s * 1e6));
}
constexpr auto kSample = std::chrono::microseconds(125);  // 8 kHz
// A chunk starting further than this from where the previous one ended is a new stream:
// the bank restarts so its clock stays true.
constexpr auto kMaxJitter = std::chrono::milliseconds(40);
}  // namespace

InbandEvent to_inband(const dsp::Event& e, hal::Timestamp origin, hal::Side from) {
  InbandEvent out;
  out.time = plus_seconds(origin, e.t_s);
  out.onset = plus_seconds(origin, e.onset_s);
  out.from = from;
  out.kind = e.kind == dsp::EventKind::dtmf ? InbandEvent::Kind::Dtmf
             : e.kind == dsp::EventKind::mf ? InbandEvent::Kind::Mf
                                            : InbandEvent::Kind::Tone;
  out.digit = e.digit;
  if (e.kind == dsp::EventKind::tone) out.tone = std::string(dsp::to_string(e.tone));
  out.level_dbm0 = e.level_dbm0;
  out.duration_ms = e.duration_ms;
  return out;
}

InbandAnalyzer::InbandAnalyzer(InbandOptions options, Report report)
    : options_(std::move(options)), report_(std::move(report)) {
  dsp::ChannelDetectorBank::prepare();
}

InbandAnalyzer::Stream& InbandAnalyzer::stream(const hal::SpanInfo& span,
                                               const hal::AudioChunk& chunk) {
  const Key key{chunk.span, chunk.channel, chunk.from};
  auto it = streams_.find(key);
  if (it == streams_.end()) {
    dsp::BankConfig cfg = options_.bank;
    cfg.law = span.type == hal::SpanType::E1 ? dsp::Law::alaw : dsp::Law::ulaw;
    cfg.country = !options_.country.empty()               ? options_.country
                  : span.type == hal::SpanType::E1 ? "etsi"
                                                   : "us";
    it = streams_.emplace(key, Stream{}).first;
    Stream* stable = &it->second;  // std::map nodes do not move
    const int span_id = chunk.span, channel = chunk.channel;
    const hal::Side side = chunk.from;
    stable->bank = std::make_unique<dsp::ChannelDetectorBank>(
        cfg, [this, span_id, channel, side, stable](const dsp::Event& e) {
          report_(span_id, channel, to_inband(e, stable->origin, side));
        });
    stable->origin = stable->next = chunk.time;
  }
  return it->second;
}

void InbandAnalyzer::on_audio(const hal::SpanInfo& span, const hal::AudioChunk& chunk) {
  Stream& s = stream(span, chunk);
  const auto gap = chunk.time - s.next;
  if (gap > kMaxJitter || gap < -kMaxJitter) {
    s.bank->flush();
    s.voice_before_reset += s.bank->stats().voice_s();
    s.bank->reset();
    s.origin = chunk.time;
  }
  s.bank->rx(chunk.samples);
  s.next = chunk.time + kSample * static_cast<long long>(chunk.samples.size());
}

std::optional<double> InbandAnalyzer::voice_seconds(int span, int channel, hal::Side side) const {
  auto it = streams_.find(Key{span, channel, side});
  if (it == streams_.end()) return std::nullopt;
  return it->second.voice_before_reset + it->second.bank->stats().voice_s();
}

}  // namespace tw::calls
