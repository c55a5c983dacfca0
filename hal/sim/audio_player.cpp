#include "hal/sim/audio_player.hpp"

#include <algorithm>
#include <utility>

namespace tw::sim::detail {

namespace {
constexpr Micros kAudioChunk{20'000};
constexpr int side_index(hal::Side s) {
  return s == hal::Side::Pbx ? 0 : 1;
}
}  // namespace

void AudioPlayer::load(const std::vector<CallSpec>& calls) {
  if (!enabled_) return;
  library_ = std::make_unique<AudioLibrary>();
  const bool speech = std::any_of(calls.begin(), calls.end(), [](const CallSpec& c) {
    return c.answer_after_s && c.audio == AudioContent::Speech;
  });
  if (speech) library_->load_prompts();
}

void AudioPlayer::open_capture(const std::string& pcap_path,
                               const std::vector<hal::SpanInfo>& spans) {
  if (std::string err = capture_.open(pcap_path, spans, enabled_); !err.empty()) state_.fail(err);
}

void AudioPlayer::close_capture() {
  if (!capture_.is_open()) return;
  if (std::string err = capture_.close(); !err.empty()) state_.fail(err);
}

void AudioPlayer::start(hal::Timestamp first_chunk, hal::Timestamp capture_start) {
  next_ = first_chunk;
  capture_start_ = capture_start;
}

std::uint64_t AudioPlayer::call_seed(int call) const {
  // splitmix64 of (seed, call): calls differ, runs of one scenario repeat exactly.
  std::uint64_t x = static_cast<std::uint64_t>(seed_) * 0x9e3779b97f4a7c15ull +
                    static_cast<std::uint64_t>(call) + 1;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

CallAudio& AudioPlayer::voice(int call, const CallLine& line) {
  const auto index = static_cast<std::size_t>(call);
  if (voices_.size() <= index) voices_.resize(index + 1);
  Voice& v = voices_[index];
  if (!v.audio) {
    v.audio = std::make_unique<CallAudio>(*library_, *line.spec, line.span->type, call_seed(call));
    v.span_id = line.spec->span;
    v.channel = line.channel;
    v.alaw = line.span->type == hal::SpanType::E1;
    // Kept by span and channel: chunks of one instant go out in that order, as a replay
    // of the capture delivers them.
    const auto at = std::find_if(on_air_.begin(), on_air_.end(), [&](int other) {
      const Voice& o = voices_[static_cast<std::size_t>(other)];
      return std::pair(o.span_id, o.channel) > std::pair(v.span_id, v.channel);
    });
    on_air_.insert(at, call);
  }
  return *v.audio;
}

void AudioPlayer::stop(int call) {
  const auto index = static_cast<std::size_t>(call);
  if (index >= voices_.size() || !voices_[index].audio) return;
  Voice& v = voices_[index];
  v.audio->stop();
  for (int& id : v.capture_stream) {
    if (id >= 0) capture_.end(id);
    id = -1;
  }
  std::erase(on_air_, call);
}

void AudioPlayer::stop_all() {
  for (std::size_t i = 0; i < voices_.size(); ++i) stop(static_cast<int>(i));
}

void AudioPlayer::emit_until(hal::Timestamp t, hal::SpanSink& sink, const Scheduler& clock) {
  if (!enabled_) return;
  while (next_ <= t && !state_.halted()) {
    if (on_air_.empty()) {  // nothing on the air: skip ahead on the grid
      next_ += kAudioChunk * ((t - next_) / kAudioChunk + 1);
      return;
    }
    clock.pace(next_, sink);
    for (const int call : on_air_) emit_call(call, sink);
    next_ += kAudioChunk;
  }
}

void AudioPlayer::emit_call(int call, hal::SpanSink& sink) {
  Voice& v = voices_[static_cast<std::size_t>(call)];
  for (const hal::Side side : {hal::Side::Pbx, hal::Side::Carrier}) {
    if (!v.audio->active(side)) continue;
    v.audio->render(side, buffer_);
    if (next_ < capture_start_) continue;
    hal::AudioChunk chunk;
    chunk.span = v.span_id;
    chunk.channel = v.channel;
    chunk.from = side;
    chunk.time = next_;
    chunk.samples = buffer_;
    sink.on_audio(chunk);
    ++chunks_;
    if (!capture_.is_open()) continue;
    int& id = v.capture_stream[side_index(side)];
    if (id < 0)
      id = capture_.begin(v.span_id, v.channel, side, next_,
                          v.alaw ? hal::AudioEncoding::Alaw : hal::AudioEncoding::Ulaw, call + 1);
    capture_.write(id, buffer_);
    if (!capture_.error().empty()) state_.fail(capture_.error());
  }
}

const CallAudio* AudioPlayer::played(int call) const {
  const auto index = static_cast<std::size_t>(call);
  return index < voices_.size() ? voices_[index].audio.get() : nullptr;
}

}  // namespace tw::sim::detail
