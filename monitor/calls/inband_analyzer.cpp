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

InbandAnalyzer::Stream& InbandAnalyzer::stream(const hal::AudioChunk& chunk) {
  const Key key{chunk.span, chunk.channel, chunk.from};
  auto it = streams_.find(key);
  if (it == streams_.end()) {
    it = streams_.emplace(key, Stream{}).first;  // std::map nodes do not move
    it->second.span = chunk.span;
    it->second.channel = chunk.channel;
    it->second.side = chunk.from;
  }
  return it->second;
}

std::unique_ptr<InbandAnalyzer::Bank> InbandAnalyzer::take_bank(const hal::SpanInfo& span) {
  dsp::BankConfig cfg = options_.bank;
  cfg.law = span.type == hal::SpanType::E1 ? dsp::Law::alaw : dsp::Law::ulaw;
  cfg.country = !options_.country.empty()        ? options_.country
                : span.type == hal::SpanType::E1 ? "etsi"
                                                 : "us";
  ++in_use_;
  for (auto it = spares_.rbegin(); it != spares_.rend(); ++it) {
    const dsp::BankConfig& have = (*it)->detectors->config();
    if (have.law != cfg.law || have.country != cfg.country) continue;
    std::unique_ptr<Bank> b = std::move(*it);
    spares_.erase(std::next(it).base());
    return b;  // reset when it was given back
  }
  auto b = std::make_unique<Bank>();
  b->detectors = std::make_unique<dsp::ChannelDetectorBank>(
      cfg, [this, route = b.get()](const dsp::Event& e) { deliver(*route->stream, e); });
  return b;
}

void InbandAnalyzer::deliver(Stream& s, const dsp::Event& e) {
  report_(s.span, s.channel, to_inband(e, s.origin, s.side));
}

// The stream's audio stopped (a gap, or silence past kFlushAfter): report what the bank still
// holds, count its voice, reset it for the next stretch.
void InbandAnalyzer::end_stretch(Stream& s) {
  dsp::ChannelDetectorBank& d = *s.bank->detectors;
  d.flush();
  s.voice_before_reset += d.stats().voice_s();
  d.reset();
  s.flushed = true;
}

// Flushed already (kFlushAfter < kReleaseAfter): the bank waits, reset, for another stream.
void InbandAnalyzer::release(Stream& s) {
  if (!s.flushed) end_stretch(s);
  s.bank->stream = nullptr;
  --in_use_;
  if (spares_.size() < kMaxSpares) spares_.push_back(std::move(s.bank));
  s.bank.reset();
}

void InbandAnalyzer::sweep(hal::Timestamp now) {
  for (auto& [key, s] : streams_) {
    if (!s.bank) continue;
    const auto silent = now - s.next;
    if (!s.flushed && silent > kFlushAfter) end_stretch(s);
    if (silent > kReleaseAfter) release(s);
  }
}

void InbandAnalyzer::on_audio(const hal::SpanInfo& span, const hal::AudioChunk& chunk) {
  tick(chunk.time);
  process(span, chunk);
}

void InbandAnalyzer::process(const hal::SpanInfo& span, const hal::AudioChunk& chunk) {
  Stream& s = stream(chunk);
  if (!s.bank) {  // a stream starting, or resuming after its bank was given back
    s.bank = take_bank(span);
    s.bank->stream = &s;
    s.origin = s.next = chunk.time;
    s.flushed = false;
  }
  const auto gap = chunk.time - s.next;
  if (s.flushed || gap > kMaxJitter || gap < -kMaxJitter) {
    if (!s.flushed) end_stretch(s);
    s.origin = chunk.time;
    s.flushed = false;
  }
  // Codes as the card read them when the source has them (nothing to encode back); codes
  // alone from the detector pool (it copies a third of the bytes).
  dsp::ChannelDetectorBank& d = *s.bank->detectors;
  std::size_t count = chunk.samples.size();
  if (chunk.samples.empty()) {
    d.rx_g711(chunk.g711);
    count = chunk.g711.size();
  } else {
    d.rx(chunk.samples, chunk.g711);
  }
  s.next = chunk.time + kSample * static_cast<long long>(count);
}

std::optional<double> InbandAnalyzer::voice_seconds(int span, int channel, hal::Side side) const {
  auto it = streams_.find(Key{span, channel, side});
  if (it == streams_.end()) return std::nullopt;
  const Stream& s = it->second;
  return s.voice_before_reset + (s.bank ? s.bank->detectors->stats().voice_s() : 0.0);
}

}  // namespace tw::calls
