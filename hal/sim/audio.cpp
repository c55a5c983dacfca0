#include "hal/sim/audio.hpp"

#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <filesystem>
#include <numbers>
#include <random>

extern "C" {
#include <spandsp.h>
}

#include "hal/spandsp_free.hpp"

namespace tw::sim::detail {

namespace {

namespace fs = std::filesystem;
using hal::Side;

constexpr double kRate = 8000.0;
constexpr std::int64_t kForever = -1;
// A full-scale sine is +3.14 dBm0 (G.711, as SpanDSP counts).
constexpr double kFullScaleSineDbm0 = 3.14;

std::int64_t samples_of(double seconds) {
  return static_cast<std::int64_t>(std::llround(seconds * kRate));
}
double sine_amplitude(double dbm0) {
  return 32767.0 * std::pow(10.0, (dbm0 - kFullScaleSineDbm0) / 20.0);
}
// RMS of noise with the power of a sine at `dbm0`.
double noise_rms(double dbm0) {
  return sine_amplitude(dbm0) / std::numbers::sqrt2;
}
std::int16_t clip16(float v) {
  return static_cast<std::int16_t>(std::clamp(std::nearbyint(v), -32768.F, 32767.F));
}

using spandsp::SpanFree;
using ToneGenPtr = std::unique_ptr<tone_gen_state_t, SpanFree<&tone_gen_free>>;
using ToneDescPtr = std::unique_ptr<tone_gen_descriptor_t, SpanFree<&tone_gen_descriptor_free>>;
using ConnectTxPtr =
    std::unique_ptr<modem_connect_tones_tx_state_t, SpanFree<&modem_connect_tones_tx_free>>;
using FskTxPtr = std::unique_ptr<fsk_tx_state_t, SpanFree<&fsk_tx_free>>;
using DtmfTxPtr = std::unique_ptr<dtmf_tx_state_t, SpanFree<&dtmf_tx_free>>;
struct SndClose {
  void operator()(SNDFILE* f) const noexcept { sf_close(f); }
};

// Speech when nothing is installed: band noise with a syllabic envelope.
std::vector<std::int16_t> babble(std::uint32_t seed, double seconds) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.F, 1.F);
  std::vector<std::int16_t> out(static_cast<std::size_t>(samples_of(seconds)));
  float lp = 0, lp2 = 0;
  const double rms = noise_rms(-14.0) * 3.0;  // the filter takes ~10 dB
  for (std::size_t i = 0; i < out.size(); ++i) {
    lp += 0.3F * (n(rng) - lp);
    lp2 += 0.5F * (lp - lp2);
    const double t = static_cast<double>(i) / kRate;
    const double env = std::max(0.0, std::sin(2 * std::numbers::pi * 3.7 * t)) *
                       (0.6 + 0.4 * std::sin(2 * std::numbers::pi * 0.3 * t));
    out[i] = clip16(static_cast<float>((lp - lp2) * rms * env));
  }
  return out;
}

std::vector<std::int16_t> read_clip(const fs::path& path, std::int64_t max_samples) {
  SF_INFO info{};
  std::unique_ptr<SNDFILE, SndClose> f(sf_open(path.c_str(), SFM_READ, &info));
  if (!f || info.samplerate != 8000 || info.channels != 1 || info.frames <= 0) return {};
  std::vector<std::int16_t> out(
      static_cast<std::size_t>(std::min<sf_count_t>(info.frames, max_samples)));
  const auto got = sf_readf_short(f.get(), out.data(), static_cast<sf_count_t>(out.size()));
  out.resize(static_cast<std::size_t>(std::max<sf_count_t>(got, 0)));
  return out;
}

std::vector<fs::path> wav_files(const fs::path& root) {
  std::vector<fs::path> files;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return files;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec) && it->path().extension() == ".wav") files.push_back(it->path());
  std::sort(files.begin(), files.end());
  return files;
}

// ---- a direction's program -------------------------------------------------------------

struct Segment {
  enum class Kind : std::uint8_t { Quiet, Speech, Tone, Dtmf, Connect, Fsk, Data };
  Kind kind = Kind::Quiet;
  std::int64_t length = 0;                                    // samples, or kForever
  std::size_t clip = 0, offset = 0;                           // Speech
  float gain = 1.F;                                           // Speech
  int f1 = 0, l1 = 0, f2 = 0, l2 = 0, on_ms = 0, off_ms = 0;  // Tone (tone_gen cadence)
  int connect = 0;                                            // Connect: MODEM_CONNECT_TONES_*
  int fsk = 0;                                                // Fsk: preset_fsk_specs index
  bool flags = false;                   // Fsk: HDLC flags (a fax V.21 preamble), else async data
  float dbm0 = -12.F;                   // Fsk, Data
  std::size_t first_key = 0, keys = 0;  // Dtmf: into AudioStream::keys_
};

struct Keyed {
  char digit;
  int low_dbm0, twist_db, on_ms, off_ms;
  std::int64_t tone_end;  // stream sample where the tone stops
};

// Bits for fsk_tx: V.21 HDLC flags (0x7E) for a fax, or asynchronous characters (start bit,
// 8 random data bits, stop bit, now and then idle marks) for a modem.
struct BitSource {
  bool flags = false;
  int bit = 0;
  int frame = 0;  // async: position in the 10-bit character, 10 = idle
  int byte = 0;
  std::uint64_t state = 1;
  int next_random() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return static_cast<int>(state & 0xffff);
  }
  static int get(void* user) {
    auto* b = static_cast<BitSource*>(user);
    if (b->flags) return (0x7E >> (b->bit++ & 7)) & 1;
    if (b->frame >= 10) {  // between characters
      if ((b->next_random() & 7) != 0) {
        b->frame = 0;
        b->byte = b->next_random() & 0xff;
      }
      return 1;
    }
    const int f = b->frame++;
    if (f == 0) return 0;
    if (f == 9) return 1;
    return (b->byte >> (f - 1)) & 1;
  }
};

}  // namespace

// One direction of one call: a queue of segments, generated 20 ms at a time.
class AudioStream {
 public:
  enum class Role : std::uint8_t { Caller, Answerer };

  AudioStream(const AudioLibrary& lib, Law law, std::uint64_t seed)
      : lib_(lib), law_(law), rng_(seed) {
    noise_state_ = seed | 1;
  }

  std::int64_t position() const { return pos_; }
  std::int64_t tail() const { return tail_; }
  const std::vector<Keyed>& keys() const { return keys_; }
  double uniform(double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(rng_);
  }
  int uniform_int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  // Drops everything queued; the next sample starts whatever is queued next.
  void clear() {
    queue_.clear();
    have_current_ = false;
    content_ = false;
    tail_ = pos_;
    release_generators();
  }
  void push(Segment s) {
    if (tail_ == kForever) return;
    tail_ = s.length == kForever ? kForever : tail_ + s.length;
    queue_.push_back(s);
  }
  void quiet(double seconds) {
    Segment s;
    s.kind = Segment::Kind::Quiet;
    s.length = seconds < 0 ? kForever : samples_of(seconds);
    if (s.length != 0) push(s);
  }
  // Quiet until `mark` samples from stream position `origin`.
  void quiet_until(std::int64_t origin, double seconds) {
    const std::int64_t at = origin + samples_of(seconds);
    if (tail_ != kForever && tail_ < at) quiet(static_cast<double>(at - tail_) / kRate);
  }
  void tone(int f1, int l1, int f2, int l2, int on_ms, int off_ms, double seconds) {
    Segment s;
    s.kind = Segment::Kind::Tone;
    s.f1 = f1, s.l1 = l1, s.f2 = f2, s.l2 = l2, s.on_ms = on_ms, s.off_ms = off_ms;
    s.length = seconds < 0 ? kForever : samples_of(seconds);
    push(s);
  }
  // Keys `digits` with 60-100 ms tones and pauses, each tone -7..-15 dBm0 (the high group up to
  // 2 dB louder, as telephones send it). Returns the stream sample where the last pause ends.
  std::int64_t dtmf(const std::string& digits) {
    Segment s;
    s.kind = Segment::Kind::Dtmf;
    s.first_key = keys_.size();
    std::int64_t at = tail_;
    for (const char d : digits) {
      Keyed k{
          d, uniform_int(-15, -9), uniform_int(0, 2), uniform_int(60, 100), uniform_int(60, 100),
          0};
      k.tone_end = at + k.on_ms * 8;
      at += (k.on_ms + k.off_ms) * 8;
      keys_.push_back(k);
    }
    s.keys = digits.size();
    s.length = at - tail_;
    push(s);
    return at;
  }
  void connect_tone(int type, double seconds) {
    Segment s;
    s.kind = Segment::Kind::Connect;
    s.connect = type;
    s.length = samples_of(seconds);
    push(s);
  }
  void fsk(int spec, bool flags, double seconds, float dbm0 = -12.F) {
    Segment s;
    s.kind = Segment::Kind::Fsk;
    s.fsk = spec;
    s.flags = flags;
    s.dbm0 = dbm0;
    s.length = seconds < 0 ? kForever : samples_of(seconds);
    push(s);
  }
  void data(double seconds, float dbm0) {
    Segment s;
    s.kind = Segment::Kind::Data;
    s.dbm0 = dbm0;
    s.length = samples_of(seconds);
    push(s);
  }
  void speech(double seconds) {
    if (lib_.clips() == 0) return quiet(seconds);
    Segment s;
    s.kind = Segment::Kind::Speech;
    // Mostly speech; one pick in ten is music on hold, when there is some.
    const bool music = lib_.clips() > lib_.speech_clips() && uniform(0, 1) < 0.1;
    const std::size_t lo = music ? lib_.speech_clips() : 0;
    const std::size_t hi = music ? lib_.clips() : std::max<std::size_t>(lib_.speech_clips(), 1);
    s.clip = lo + static_cast<std::size_t>(rng_() % (hi - lo));
    const std::size_t size = lib_.clip(s.clip).size();
    const auto want = static_cast<std::size_t>(samples_of(seconds));
    const std::size_t len = std::min(size, want);
    s.offset = size > len ? static_cast<std::size_t>(rng_() % (size - len)) : 0;
    s.length = static_cast<std::int64_t>(len);
    // The prompts are recorded hot (~-12.5 dBm0 while active); trunk speech runs -14..-21.
    s.gain = static_cast<float>(std::pow(10.0, uniform(-8.0, -2.0) / 20.0));
    if (s.length > 0) push(s);
  }

  // What follows once the queue runs dry: the call's content, generated as it goes.
  void set_content(AudioContent content, Role role, ModemKind modem) {
    content_ = true;
    content_kind_ = content;
    role_ = role;
    modem_ = modem;
    content_step_ = 0;
  }

  void render(std::span<std::int16_t> out) {
    std::size_t done = 0;
    while (done < out.size()) {
      if (!have_current_ && !start_next()) {
        // Nothing more to say: line noise.
        Segment q;
        q.kind = Segment::Kind::Quiet;
        q.length = kForever;
        begin(q);
      }
      std::size_t n = out.size() - done;
      if (current_.length != kForever)
        n = std::min<std::size_t>(n, static_cast<std::size_t>(current_.length - current_pos_));
      produce(out.subspan(done, n));
      done += n;
      current_pos_ += static_cast<std::int64_t>(n);
      if (current_.length != kForever && current_pos_ >= current_.length) {
        have_current_ = false;
        release_generators();
      }
    }
    for (std::int16_t& v : out) v = lib_.through(law_, v);
    pos_ += static_cast<std::int64_t>(out.size());
  }

 private:
  bool start_next() {
    if (queue_.empty() && content_) refill();
    if (queue_.empty()) return false;
    const Segment s = queue_.front();
    queue_.pop_front();
    begin(s);
    return true;
  }

  void begin(const Segment& s) {
    current_ = s;
    current_pos_ = 0;
    have_current_ = true;
    release_generators();
    switch (s.kind) {
      case Segment::Kind::Tone:
        tone_desc_.reset(
            tone_gen_descriptor_init(nullptr, s.f1, s.l1, s.f2, s.l2, s.on_ms, s.off_ms, 0, 0, 1));
        tone_.reset(tone_gen_init(nullptr, tone_desc_.get()));
        break;
      case Segment::Kind::Connect:
        connect_.reset(modem_connect_tones_tx_init(nullptr, s.connect));
        break;
      case Segment::Kind::Fsk:
        bits_ = BitSource{};
        bits_.flags = s.flags;
        bits_.frame = 10;
        bits_.state = rng_() | 1;
        fsk_.reset(fsk_tx_init(nullptr, &preset_fsk_specs[s.fsk], &BitSource::get, &bits_));
        if (fsk_) fsk_tx_power(fsk_.get(), s.dbm0);
        break;
      case Segment::Kind::Dtmf:
        if (!dtmf_) dtmf_.reset(dtmf_tx_init(nullptr));
        key_ = s.first_key;
        key_left_ = 0;
        break;
      default:
        break;
    }
  }

  void release_generators() {
    tone_.reset();
    tone_desc_.reset();
    connect_.reset();
    fsk_.reset();
  }

  float gaussian() {
    // Sum of four uniforms: close enough to Gaussian for line noise, and cheap.
    float sum = 0;
    for (int i = 0; i < 4; ++i) {
      noise_state_ = noise_state_ * 6364136223846793005ull + 1442695040888963407ull;
      sum += static_cast<float>(noise_state_ >> 40) / 16777216.F;
    }
    return (sum - 2.F) * 1.7320508F;
  }

  void noise(std::span<std::int16_t> out, double dbm0) {
    const auto rms = static_cast<float>(noise_rms(dbm0));
    for (std::int16_t& v : out) v = clip16(gaussian() * rms);
  }

  void produce(std::span<std::int16_t> out) {
    const int n = static_cast<int>(out.size());
    switch (current_.kind) {
      case Segment::Kind::Quiet:
        noise(out, -68.0);  // idle line noise, far below anything a detector wakes for
        break;
      case Segment::Kind::Data:
        noise(out, current_.dbm0);
        break;
      case Segment::Kind::Speech: {
        const auto src =
            lib_.clip(current_.clip)
                .subspan(current_.offset + static_cast<std::size_t>(current_pos_), out.size());
        for (std::size_t i = 0; i < out.size(); ++i)
          out[i] = clip16(static_cast<float>(src[i]) * current_.gain);
        break;
      }
      case Segment::Kind::Tone: {
        const int got = tone_ ? tone_gen(tone_.get(), out.data(), n) : 0;
        std::fill(out.begin() + std::max(got, 0), out.end(), std::int16_t{0});
        break;
      }
      case Segment::Kind::Connect: {
        const int got = connect_ ? modem_connect_tones_tx(connect_.get(), out.data(), n) : 0;
        std::fill(out.begin() + std::max(got, 0), out.end(), std::int16_t{0});
        break;
      }
      case Segment::Kind::Fsk: {
        const int got = fsk_ ? fsk_tx(fsk_.get(), out.data(), n) : 0;
        std::fill(out.begin() + std::max(got, 0), out.end(), std::int16_t{0});
        break;
      }
      case Segment::Kind::Dtmf:
        produce_dtmf(out);
        break;
    }
  }

  void produce_dtmf(std::span<std::int16_t> out) {
    std::size_t done = 0;
    const std::size_t end_key = current_.first_key + current_.keys;
    while (done < out.size()) {
      if (key_left_ == 0) {
        if (key_ >= end_key || !dtmf_) break;
        const Keyed& k = keys_[key_++];
        // Level and timing apply from the next digit put: one digit at a time.
        dtmf_tx_set_level(dtmf_.get(), k.low_dbm0, k.twist_db);
        dtmf_tx_set_timing(dtmf_.get(), k.on_ms, k.off_ms);
        const char d[1] = {k.digit};
        dtmf_tx_put(dtmf_.get(), d, 1);
        key_left_ = (k.on_ms + k.off_ms) * 8;
      }
      const int want = static_cast<int>(
          std::min<std::int64_t>(key_left_, static_cast<std::int64_t>(out.size() - done)));
      const int got = dtmf_tx(dtmf_.get(), out.data() + done, want);
      std::fill(out.begin() + static_cast<std::ptrdiff_t>(done) + std::max(got, 0),
                out.begin() + static_cast<std::ptrdiff_t>(done) + want, std::int16_t{0});
      done += static_cast<std::size_t>(want);
      key_left_ -= want;
    }
    std::fill(out.begin() + static_cast<std::ptrdiff_t>(done), out.end(), std::int16_t{0});
  }

  // The call's content, a few segments at a time (T.30 and modem start-ups follow their
  // standards' order and rough timing; pages and data are band noise).
  void refill() {
    const int step = content_step_++;
    const bool answerer = role_ == Role::Answerer;
    switch (content_kind_) {
      case AudioContent::Silence:
        quiet(-1);
        break;
      case AudioContent::Speech:
        if (step == 0) {
          // The called party says hello first; the caller answers a moment later.
          answerer ? quiet(uniform(0.2, 0.6)) : quiet(uniform(1.5, 3.0));
          speech(uniform(1.5, 3.5));
        } else {
          quiet(uniform(0.3, 2.5));
          speech(uniform(1.0, 5.0));
        }
        break;
      case AudioContent::Fax:
        if (answerer) {
          if (step == 0) {
            quiet(0.2);
            connect_tone(MODEM_CONNECT_TONES_FAX_CED, 2.8);
            quiet(0.075);
            fsk(FSK_V21CH2, true, 1.6);  // DIS
          } else {
            quiet(uniform(6.0, 12.0));
            fsk(FSK_V21CH2, true, 1.0);  // CFR, MCF
          }
        } else {
          if (step == 0) {
            connect_tone(MODEM_CONNECT_TONES_FAX_CNG, 4.8);
            quiet(0.2);
            fsk(FSK_V21CH2, true, 1.2);  // DCS
            quiet(0.1);
          } else {
            data(uniform(6.0, 12.0), -14.F);  // training and page data
            fsk(FSK_V21CH2, true, 1.0);       // MPS, EOP
            quiet(0.1);
          }
        }
        break;
      case AudioContent::Modem: {
        const bool bell = modem_ == ModemKind::Bell103;
        if (answerer) {
          quiet(0.2);
          if (bell) {
            connect_tone(MODEM_CONNECT_TONES_BELL_ANS, 2.5);
            fsk(FSK_BELL103CH1, false, -1);  // answer carrier 2025/2225 Hz
          } else {
            connect_tone(MODEM_CONNECT_TONES_ANSAM, 3.3);
            quiet(0.1);
            fsk(FSK_V21CH2, false, -1);  // 1650/1850 Hz
          }
        } else {
          quiet(bell ? 2.9 : 3.6);
          fsk(bell ? FSK_BELL103CH2 : FSK_V21CH1, false, -1);  // 1070/1270 or 980/1180 Hz
        }
        break;
      }
    }
  }

  const AudioLibrary& lib_;
  Law law_;
  std::mt19937_64 rng_;
  std::uint64_t noise_state_ = 1;
  std::deque<Segment> queue_;
  std::int64_t pos_ = 0, tail_ = 0;
  Segment current_;
  bool have_current_ = false;
  std::int64_t current_pos_ = 0;
  bool content_ = false;
  AudioContent content_kind_ = AudioContent::Speech;
  Role role_ = Role::Caller;
  ModemKind modem_ = ModemKind::V21;
  int content_step_ = 0;
  std::vector<Keyed> keys_;
  std::size_t key_ = 0;
  std::int64_t key_left_ = 0;
  BitSource bits_;
  ToneDescPtr tone_desc_;
  ToneGenPtr tone_;
  ConnectTxPtr connect_;
  FskTxPtr fsk_;
  DtmfTxPtr dtmf_;
};

// ---- AudioLibrary ------------------------------------------------------------------------

AudioLibrary::AudioLibrary() : ulaw_(65536), alaw_(65536) {
  for (int i = 0; i < 65536; ++i) {
    const auto v = static_cast<std::int16_t>(static_cast<std::uint16_t>(i));
    ulaw_[static_cast<std::size_t>(i)] = ulaw_to_linear(linear_to_ulaw(v));
    alaw_[static_cast<std::size_t>(i)] = alaw_to_linear(linear_to_alaw(v));
  }
}

void AudioLibrary::load_prompts() {
  if (loaded_) return;
  loaded_ = true;
  // A spread of the prompts (every fourth file, ~6 minutes) is variety enough and decodes in
  // a few milliseconds; two pieces of music, a minute each.
  const std::vector<fs::path> speech = wav_files("/usr/share/asterisk/sounds");
  for (std::size_t i = 0; i < speech.size(); i += 4) {
    auto clip = read_clip(speech[i], samples_of(60));
    if (clip.size() >= 4000) clips_.push_back(std::move(clip));
  }
  if (clips_.empty()) {
    for (std::uint32_t i = 0; i < 4; ++i) clips_.push_back(babble(i + 1, 20));
  }
  speech_ = clips_.size();
  const std::vector<fs::path> music = wav_files("/usr/share/asterisk/moh");
  for (std::size_t i = 0; i < music.size() && i < 2; ++i) {
    auto clip = read_clip(music[i], samples_of(60));
    if (clip.size() >= 8000) clips_.push_back(std::move(clip));
  }
}

// ---- CallAudio ---------------------------------------------------------------------------

namespace {
constexpr std::size_t index_of(Side s) {
  return s == Side::Pbx ? 0 : 1;
}
}  // namespace

CallAudio::CallAudio(const AudioLibrary& library, const CallSpec& spec, hal::SpanType span_type,
                     std::uint64_t seed)
    : library_(library),
      spec_(spec),
      law_(span_type == hal::SpanType::E1 ? Law::Alaw : Law::Ulaw),
      etsi_(span_type == hal::SpanType::E1),
      seed_(seed) {
  if (spec_.modem == ModemKind::Any)
    spec_.modem = (seed_ >> 17) % 2 == 0 ? ModemKind::V21 : ModemKind::Bell103;
}

CallAudio::~CallAudio() = default;

AudioStream& CallAudio::stream(Side from) {
  auto& s = streams_[index_of(from)];
  if (!s)
    s = std::make_unique<AudioStream>(library_, law_,
                                      seed_ * 0x9e3779b97f4a7c15ull + index_of(from) + 1);
  return *s;
}

void CallAudio::ring() {
  if (answered_) return;
  const Side called = hal::other(spec_.caller);
  AudioStream& s = stream(called);
  s.clear();
  // North American 440+480 Hz 2 s on, 4 s off; ETSI 425 Hz 1 s on, 4 s off.
  if (etsi_) {
    s.tone(425, -13, 0, 0, 1000, 4000, -1);
  } else {
    s.tone(440, -19, 480, -19, 2000, 4000, -1);
  }
  active_[index_of(called)] = true;
}

void CallAudio::answer() {
  if (answered_) return;
  answered_ = true;
  AudioStream& pbx = stream(Side::Pbx);
  AudioStream& carrier = stream(Side::Carrier);
  pbx.clear();
  carrier.clear();
  active_ = {true, true};
  const std::int64_t pbx0 = pbx.position(), carrier0 = carrier.position();
  // Seconds from the answer at which the scripted part (dial tone, digits) is over.
  double script_end = 0;
  const bool dial = spec_.dial_tone_after_answer && spec_.caller == Side::Carrier;
  if (dial) {
    pbx.quiet_until(pbx0, 0.5);
    if (etsi_) {
      pbx.tone(425, -13, 0, 0, 60000, 0, 3.0);
    } else {
      pbx.tone(350, -13, 440, -13, 60000, 0, 3.0);
    }
    dial_tone_end_ = pbx.tail();
    script_end = 3.5;
  }
  double in_end = 0;
  if (!spec_.dtmf_in.empty()) {
    const double start = dial ? script_end + carrier.uniform(0.4, 0.7) : carrier.uniform(0.8, 1.2);
    carrier.quiet_until(carrier0, start);
    in_end = static_cast<double>(carrier.dtmf(spec_.dtmf_in) - carrier0) / kRate;
    script_end = std::max(script_end, in_end);
  }
  if (!spec_.dtmf_out.empty()) {
    const double start =
        in_end > 0 ? in_end + pbx.uniform(0.8, 1.2) : std::max(script_end, pbx.uniform(0.8, 1.2));
    pbx.quiet_until(pbx0, start);
    script_end = std::max(script_end, static_cast<double>(pbx.dtmf(spec_.dtmf_out) - pbx0) / kRate);
  }
  const double content_start = script_end > 0 ? script_end + 0.5 : 0;
  pbx.quiet_until(pbx0, content_start);
  carrier.quiet_until(carrier0, content_start);
  const auto role = [&](Side s) {
    return s == spec_.caller ? AudioStream::Role::Caller : AudioStream::Role::Answerer;
  };
  pbx.set_content(spec_.audio, role(Side::Pbx), spec_.modem);
  carrier.set_content(spec_.audio, role(Side::Carrier), spec_.modem);
}

void CallAudio::stop() {
  active_ = {false, false};
}

bool CallAudio::active(Side from) const {
  return active_[index_of(from)];
}

void CallAudio::render(Side from, std::span<std::int16_t> out) {
  stream(from).render(out);
}

std::string CallAudio::digits(Side from) const {
  std::string out;
  const auto& s = streams_[index_of(from)];
  if (!s) return out;
  for (const Keyed& k : s->keys())
    if (k.tone_end + samples_of(0.2) <= s->position()) out += k.digit;
  return out;
}

bool CallAudio::dial_tone_played() const {
  const auto& s = streams_[index_of(Side::Pbx)];
  return dial_tone_end_ >= 0 && s && s->position() >= dial_tone_end_;
}

std::string CallAudio::expected_call_type() const {
  if (!answered_) return "unknown";
  switch (spec_.audio) {
    case AudioContent::Fax:
      return "fax";
    case AudioContent::Modem:
      return "modem";
    case AudioContent::Speech:
      return "voice";
    case AudioContent::Silence:
      break;
  }
  // Keyed digits are a sign of a person (dsp::classify_call); silence alone says nothing.
  return digits(Side::Pbx).empty() && digits(Side::Carrier).empty() ? "unknown" : "voice";
}

}  // namespace tw::sim::detail
