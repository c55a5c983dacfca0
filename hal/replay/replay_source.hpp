// Capture replay: a span source fed by a pcap file of D-channel frames and, when the capture
// has one, the B-channel audio its manifest names (hal/replay/audio_capture.hpp).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "hal/replay/audio_capture.hpp"
#include "hal/replay/pcap_io.hpp"
#include "trunkwatch/hal/source.hpp"

namespace tw::hal {

struct ReplayOptions {
  std::string path;
  bool realtime = false;         // pace frames by their capture timestamps
  std::optional<Role> pbx_role;  // overrides the capture's addr[0]
  // Audio manifest to merge into the frames. Empty: the one next to the capture
  // (audio_manifest_path(path)) if it exists, unless `find_audio` is false. (Every new member
  // has an initializer: callers use designated initializers under -Wextra.)
  std::string audio_manifest{};
  bool find_audio = true;
};

struct ReplayStats {
  std::uint64_t records = 0;
  std::uint64_t skipped = 0;  // records too short for the pseudo-header
  std::uint64_t audio_files = 0;
  std::uint64_t audio_chunks = 0;
};

class ReplaySource final : public SpanSource {
 public:
  explicit ReplaySource(ReplayOptions options);
  ~ReplaySource() override;
  // Opens the capture and reads its audio manifest (every WAV is checked); an empty message
  // means success.
  std::string open();
  // After open(): the spans the manifest describes (type, switch type, the PBX's role; named
  // after the capture), sorted by id. Empty without a manifest or with one that has no
  // `spans`: a capture's frames alone do not say.
  const std::vector<SpanInfo>& spans() const override { return spans_; }
  // Frames and 20 ms audio chunks in time order (a chunk before a frame of the same time).
  // Realtime: while it waits for the next item it ticks the sink every kWaitTick of wall
  // time (with the capture time reached so far), so a daemon fed by a capture with a quiet
  // stretch still serves its signals, socket and watchdog.
  SourceError run(SpanSink& sink) override;
  // From any thread (or the sink's callbacks): cuts a realtime wait short; nothing more is
  // delivered but the SourceEnd line event.
  void stop() override;
  static constexpr std::chrono::milliseconds kWaitTick{100};
  const ReplayStats& stats() const { return stats_; }
  // The manifest in use, empty when the replay has no audio.
  const std::string& audio_manifest() const { return manifest_in_use_; }

 private:
  ReplayOptions options_;
  PcapReader reader_;
  std::unique_ptr<AudioPlayback> audio_;
  std::string manifest_in_use_;
  std::vector<SpanInfo> spans_;
  ReplayStats stats_;
  std::atomic<bool> stop_ = false;
  std::mutex wait_mutex_;
  std::condition_variable wait_cv_;
};

}  // namespace tw::hal
