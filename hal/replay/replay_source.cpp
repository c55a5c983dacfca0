#include "hal/replay/replay_source.hpp"

#include <algorithm>
#include <system_error>
#include <thread>

namespace tw::hal {

ReplaySource::ReplaySource(ReplayOptions options) : options_(std::move(options)) {}

ReplaySource::~ReplaySource() = default;

void ReplaySource::stop() {
  {
    const std::lock_guard lock(wait_mutex_);
    stop_ = true;
  }
  wait_cv_.notify_all();
}

std::string ReplaySource::open() {
  if (std::string err = reader_.open(options_.path); !err.empty()) return err;
  std::filesystem::path manifest = options_.audio_manifest;
  if (manifest.empty() && options_.find_audio) {
    std::error_code ec;
    const auto beside = audio_manifest_path(options_.path);
    if (std::filesystem::exists(beside, ec)) manifest = beside;
  }
  if (manifest.empty()) return {};
  std::string error;
  auto m = read_audio_manifest(manifest, error);
  if (!m) return error;
  stats_.audio_files = m->files.size();
  manifest_in_use_ = manifest.string();
  spans_ = m->spans;
  for (SpanInfo& s : spans_) s.name = options_.path;
  audio_ = std::make_unique<AudioPlayback>(std::move(*m));
  return {};
}

SourceError ReplaySource::run(SpanSink& sink) {
  CapturedFrame cf;
  Timestamp first_time{};
  Timestamp last_time{};
  Timestamp last_tick{};
  const auto wall_start = std::chrono::steady_clock::now();
  bool first = true;
  bool frame_ready = false, frames_done = false;
  SourceError error;
  AudioChunk chunk;
  // Realtime pacing: waits until the wall clock reaches capture time `t`, ticking the sink
  // with the capture time reached so far every kWaitTick; false when stopped meanwhile.
  auto wait_for_time = [&](Timestamp t) {
    const auto due = wall_start + (t - first_time);
    for (;;) {
      {
        std::unique_lock lock(wait_mutex_);
        const auto until = std::min(due, std::chrono::steady_clock::now() + kWaitTick);
        wait_cv_.wait_until(lock, until, [&] { return stop_.load(); });
      }
      if (stop_) return false;
      const auto wall = std::chrono::steady_clock::now();
      if (wall >= due) return true;
      const auto reached =
          first_time + std::chrono::duration_cast<std::chrono::microseconds>(wall - wall_start);
      sink.on_tick(std::max(last_time, reached));
      if (stop_) return false;
    }
  };
  // What every item goes through before the sink sees it: ticks and pacing on source time.
  // False: stopped while waiting, the item is not delivered.
  auto advance = [&](Timestamp t) {
    if (first) {
      first_time = last_tick = t;
      first = false;
    }
    if (options_.realtime && !wait_for_time(t)) return false;
    if (t - last_tick >= std::chrono::seconds(1)) {
      sink.on_tick(t);
      last_tick = t;
    }
    last_time = t;
    return true;
  };
  while (!stop_) {
    while (!frame_ready && !frames_done) {
      const ReadStatus status = reader_.next(cf);
      if (status == ReadStatus::End) {
        frames_done = true;
        break;
      }
      if (status == ReadStatus::Error) {
        error.message = reader_.error();
        frames_done = true;
        break;
      }
      ++stats_.records;
      if (status == ReadStatus::Skipped) {
        ++stats_.skipped;
        continue;
      }
      frame_ready = true;
    }
    if (error) break;
    const std::optional<Timestamp> audio_at = audio_ ? audio_->peek() : std::nullopt;
    // Audio first on a tie: a chunk is stamped with its first sample, so a frame sent during
    // that chunk comes after it (as the simulator delivers them).
    if (audio_at && (!frame_ready || *audio_at <= cf.time)) {
      if (!audio_->next(chunk)) {
        error.message = audio_->error();
        break;
      }
      if (!advance(chunk.time)) break;
      ++stats_.audio_chunks;
      sink.on_audio(chunk);
      continue;
    }
    if (audio_ && !audio_->error().empty()) {
      error.message = audio_->error();
      break;
    }
    if (!frame_ready) break;
    frame_ready = false;
    if (!advance(cf.time)) break;
    const Role pbx_role = options_.pbx_role.value_or(cf.pbx_role);
    Side from = cf.from;
    if (!cf.direction_known && !cf.bytes.empty()) {
      // LINKTYPE_LAPD carries no direction: commands (every I and UI frame) have C/R = 1
      // when the network side sent them (Q.921 3.3.2).
      const bool sender_is_network = (cf.bytes[0] & 0x02) != 0;
      const bool pbx_is_network = pbx_role == Role::Network;
      from = sender_is_network == pbx_is_network ? Side::Pbx : Side::Carrier;
    }
    sink.on_frame(DFrame{.span = cf.span, .from = from, .time = cf.time, .bytes = cf.bytes});
  }
  sink.on_line_event(LineEvent{.span = 0, .time = last_time, .type = LineEventType::SourceEnd});
  return error;
}

}  // namespace tw::hal
