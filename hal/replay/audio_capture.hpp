// B-channel audio next to a D-channel capture (docs/capture-format.md): one WAV file per call
// and direction (G.711 as the span carries it, or 16-bit PCM) and a JSON manifest tying each
// file to its span, channel, direction and start time.
//
// For OUT.pcap the manifest is OUT.audio.json and the files live in OUT-audio/; the manifest
// names them relative to its own directory. A manifest is untrusted input: every file must lie
// inside the manifest's directory, and every file is checked (8 kHz, mono, mu-law, A-law or
// 16-bit PCM, no overlap on one channel direction) before any audio is delivered.
//
// The manifest also carries each span's facts (type, switch type, the PBX's role), so that a
// replay of a site mixing T1 and E1 spans decodes each span as it ran; a signaling-only
// capture gets a manifest with no files for that alone.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <queue>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "trunkwatch/hal/types.hpp"

namespace tw::hal {

// Companding of an audio file: what the span carries (mu-law on T1, A-law on E1), or linear.
enum class AudioEncoding : std::uint8_t { Ulaw, Alaw, Pcm16 };
std::string_view to_string(AudioEncoding e);

// OUT.audio.json and OUT-audio/ for the capture OUT.pcap (the last extension is replaced).
std::filesystem::path audio_manifest_path(const std::filesystem::path& pcap);
std::filesystem::path audio_dir_path(const std::filesystem::path& pcap);

// RFC 3339 UTC with microseconds (2027-01-05T09:00:12.340000Z): the manifest's start times
// must place a file to the sample, which milliseconds cannot.
std::string format_time_us(Timestamp t);

constexpr int kAudioRate = 8000;
constexpr std::size_t kChunkSamples = 160;  // 20 ms at 8 kHz

struct AudioFileInfo {
  std::string file;            // as the manifest names it (relative, '/'-separated)
  std::filesystem::path path;  // resolved, inside the manifest's directory
  int span = 1;
  int channel = 1;
  Side from = Side::Pbx;
  Timestamp start{};  // time of the first sample
  AudioEncoding encoding = AudioEncoding::Ulaw;
  std::int64_t samples = 0;
  Timestamp end() const { return start + std::chrono::microseconds(samples * 125); }
};

struct AudioManifest {
  std::filesystem::path path;
  std::vector<AudioFileInfo> files;  // sorted by start time
  // The manifest's `spans`, sorted by id: id, type, switch_type, pbx_role and framing (esf on
  // T1, ccs on E1) set. Empty for a manifest without them (older writers, other tools).
  std::vector<SpanInfo> spans;
};

// Reads a manifest and checks the header of every WAV it names. On failure returns nullopt
// with one line in `error` naming the manifest (and the entry) and what is wrong.
std::optional<AudioManifest> read_audio_manifest(const std::filesystem::path& manifest,
                                                 std::string& error);

// Writes the audio of a simulated or captured run next to its pcap. Each stream (one call,
// one direction) is one file, kept open while the stream runs; close() writes the manifest.
class AudioCaptureWriter {
 public:
  AudioCaptureWriter();
  ~AudioCaptureWriter();
  AudioCaptureWriter(const AudioCaptureWriter&) = delete;
  AudioCaptureWriter& operator=(const AudioCaptureWriter&) = delete;

  // Starts the manifest of `pcap_path`, which will list `spans`. With `audio`, also creates
  // the audio directory; without, the manifest holds the spans and no files (begin() fails).
  // An empty message means success.
  std::string open(const std::filesystem::path& pcap_path, std::vector<SpanInfo> spans = {},
                   bool audio = true);
  bool is_open() const { return open_; }
  // Starts a file for one call (`call_number`, 1-based, in the file name) and direction.
  // Returns a stream id, or -1 with error() set.
  int begin(int span, int channel, Side from, Timestamp start, AudioEncoding encoding,
            int call_number);
  // Appends linear samples; G.711 files store them companded with SpanDSP's codec, so samples
  // that already went through that law come back bit-exact.
  void write(int stream, std::span<const std::int16_t> linear);
  void end(int stream);
  // Ends every stream and writes the manifest; an empty message means success.
  std::string close();
  const std::string& error() const { return error_; }

 private:
  struct Stream;
  void fail(std::string message);
  bool flush(Stream& s);

  bool open_ = false;
  bool audio_ = false;
  std::filesystem::path manifest_path_, dir_;
  std::vector<SpanInfo> spans_;
  std::vector<std::unique_ptr<Stream>> streams_;  // index = stream id; null once ended
  std::vector<AudioFileInfo> done_;
  std::string error_;
};

// Plays the files of a manifest back as 20 ms chunks in time order; chunks of the same time go
// by span, channel, then the PBX's direction before the carrier's (as the simulator sends
// them). Files are opened when their first chunk is due and closed at their end.
class AudioPlayback {
 public:
  explicit AudioPlayback(AudioManifest manifest);
  ~AudioPlayback();
  AudioPlayback(const AudioPlayback&) = delete;
  AudioPlayback& operator=(const AudioPlayback&) = delete;

  // Time of the next chunk, nullopt when every file has been played.
  std::optional<Timestamp> peek() const;
  // Fills `out` with the next chunk (its samples stay valid until the next call). Returns
  // false at the end or on a read error (error() is then set).
  bool next(AudioChunk& out);
  const std::string& error() const { return error_; }
  std::uint64_t chunks() const { return chunks_; }

 private:
  struct Open;
  struct Due {
    Timestamp time;
    int span, channel;
    Side from;
    std::size_t file;
    auto key() const { return std::tie(time, span, channel, from, file); }
    bool operator>(const Due& o) const { return key() > o.key(); }
  };
  Due due(std::size_t file, Timestamp time) const;
  AudioManifest manifest_;
  std::vector<std::unique_ptr<Open>> open_;  // per file, while playing
  std::priority_queue<Due, std::vector<Due>, std::greater<>> due_;
  std::vector<std::int16_t> buffer_;
  std::vector<std::uint8_t> coded_;
  std::string error_;
  std::uint64_t chunks_ = 0;
};

}  // namespace tw::hal
