#include "hal/replay/audio_capture.hpp"

#include <sndfile.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>
#include <tuple>

extern "C" {
#include <spandsp.h>
}

namespace tw::hal {

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr std::uintmax_t kMaxManifestBytes = 64u << 20;
constexpr std::size_t kMaxFiles = 1'000'000;
constexpr std::size_t kMaxFileName = 1024;
constexpr std::size_t kWriteBlock = 8192;  // samples buffered per stream before a write
constexpr std::string_view kFormatName = "trunkwatch-audio";

struct SndClose {
  void operator()(SNDFILE* f) const noexcept { sf_close(f); }
};
using SndPtr = std::unique_ptr<SNDFILE, SndClose>;

// Manifest strings reach error messages and terminals: keep them printable.
std::string printable(std::string_view s) {
  std::string out;
  for (const char c : s.substr(0, 200)) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\\') {
      out += c;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    }
  }
  if (s.size() > 200) out += "...";
  return out;
}

std::optional<AudioEncoding> encoding_of(int sf_format) {
  const int type = sf_format & SF_FORMAT_TYPEMASK;
  if (type != SF_FORMAT_WAV && type != SF_FORMAT_WAVEX) return std::nullopt;
  switch (sf_format & SF_FORMAT_SUBMASK) {
    case SF_FORMAT_ULAW:
      return AudioEncoding::Ulaw;
    case SF_FORMAT_ALAW:
      return AudioEncoding::Alaw;
    case SF_FORMAT_PCM_16:
      return AudioEncoding::Pcm16;
    default:
      return std::nullopt;
  }
}

int sf_subtype(AudioEncoding e) {
  switch (e) {
    case AudioEncoding::Ulaw:
      return SF_FORMAT_ULAW;
    case AudioEncoding::Alaw:
      return SF_FORMAT_ALAW;
    case AudioEncoding::Pcm16:
      break;
  }
  return SF_FORMAT_PCM_16;
}

// Opens a WAV for reading and checks it is audio a B-channel can carry.
SndPtr open_wav(const fs::path& path, AudioEncoding& encoding, std::int64_t& samples,
                std::string& why) {
  SF_INFO info{};
  SndPtr f(sf_open(path.c_str(), SFM_READ, &info));
  if (!f) {
    std::error_code ec;
    why = fs::exists(path, ec)
              ? "not a readable WAV file (" + std::string(sf_strerror(nullptr)) + ")"
              : "no such file";
    return nullptr;
  }
  const auto enc = encoding_of(info.format);
  if (!enc) {
    why = "not a mu-law, A-law or 16-bit PCM WAV file";
    return nullptr;
  }
  if (info.samplerate != kAudioRate) {
    why = "sample rate " + std::to_string(info.samplerate) + " Hz; B-channel audio is 8000 Hz";
    return nullptr;
  }
  if (info.channels != 1) {
    why = std::to_string(info.channels) + " channels; one file holds one direction (mono)";
    return nullptr;
  }
  encoding = *enc;
  samples = info.frames;
  return f;
}

// True when `p` (already made absolute) lies inside `dir`, symlinks resolved.
bool inside(const fs::path& dir, const fs::path& p) {
  std::error_code ec;
  const fs::path base = fs::weakly_canonical(dir, ec);
  if (ec) return false;
  const fs::path real = fs::weakly_canonical(p, ec);
  if (ec) return false;
  auto b = base.begin(), r = real.begin();
  for (; b != base.end(); ++b, ++r) {
    if (r == real.end() || *b != *r) return false;
  }
  return r != real.end();
}

// Why a manifest's file name is refused, or empty.
std::string unsafe_name(const std::string& name) {
  if (name.empty()) return "'file' is empty";
  if (name.size() > kMaxFileName) return "'file' is too long";
  for (const char c : name)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '\\')
      return "'file' holds a control character or a backslash";
  const fs::path p(name);
  if (p.is_absolute() || p.has_root_name() || p.has_root_directory())
    return "'file' must be relative to the manifest's directory";
  for (const fs::path& part : p)
    if (part == "..") return "'file' must not contain '..'";
  return {};
}

// One entry of the manifest's `spans`; returns why it is refused, or empty.
std::string read_span(const Json& e, SpanInfo& out) {
  if (!e.is_object()) return "each entry must be an object";
  const auto id = e.find("span");
  if (id == e.end() || !id->is_number_integer() || id->get<long long>() < 1 ||
      id->get<long long>() > 255)
    return "'span' must be an integer 1-255";
  out.id = static_cast<int>(id->get<long long>());
  const auto type = e.find("type");
  if (type == e.end() || !type->is_string() ||
      (type->get<std::string>() != "t1" && type->get<std::string>() != "e1"))
    return "'type' must be \"t1\" or \"e1\"";
  out.type = type->get<std::string>() == "e1" ? SpanType::E1 : SpanType::T1;
  out.framing = out.type == SpanType::E1 ? "ccs" : "esf";
  out.switch_type = out.type == SpanType::E1 ? SwitchType::EuroIsdn : SwitchType::Ni2;
  if (const auto sw = e.find("switchtype"); sw != e.end()) {
    if (!sw->is_string() || !parse_switch_type(sw->get<std::string>(), out.switch_type))
      return "'switchtype' must be one of ni2, 4ess, 5ess, dms100, euroisdn, qsig";
  }
  if (const auto role = e.find("pbx_role"); role != e.end()) {
    if (!role->is_string() ||
        (role->get<std::string>() != "user" && role->get<std::string>() != "network"))
      return "'pbx_role' must be \"user\" or \"network\"";
    out.pbx_role = role->get<std::string>() == "network" ? Role::Network : Role::User;
  }
  return {};
}

}  // namespace

std::string_view to_string(AudioEncoding e) {
  switch (e) {
    case AudioEncoding::Ulaw:
      return "ulaw";
    case AudioEncoding::Alaw:
      return "alaw";
    case AudioEncoding::Pcm16:
      break;
  }
  return "pcm16";
}

fs::path audio_manifest_path(const fs::path& pcap) {
  fs::path p = pcap;
  p.replace_extension(".audio.json");
  return p;
}

fs::path audio_dir_path(const fs::path& pcap) {
  fs::path p = pcap;
  p.replace_extension();
  p += "-audio";
  return p;
}

std::string format_time_us(Timestamp t) {
  const auto day = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss<std::chrono::microseconds> tod{t - day};
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%06lldZ", int(ymd.year()),
                unsigned(ymd.month()), unsigned(ymd.day()), int(tod.hours().count()),
                int(tod.minutes().count()), int(tod.seconds().count()),
                static_cast<long long>(tod.subseconds().count()));
  return buf;
}

// ---- reading a manifest ------------------------------------------------------------------

std::optional<AudioManifest> read_audio_manifest(const fs::path& manifest, std::string& error) {
  const std::string where = manifest.string();
  auto fail = [&](const std::string& msg) {
    error = where + ": " + msg;
    return std::nullopt;
  };
  std::error_code ec;
  if (!fs::is_regular_file(manifest, ec)) return fail("no such audio manifest");
  const std::uintmax_t size = fs::file_size(manifest, ec);
  if (ec || size > kMaxManifestBytes) return fail("audio manifest missing or larger than 64 MiB");
  std::ifstream in(manifest, std::ios::binary);
  if (!in) return fail("cannot open the audio manifest");
  std::ostringstream text;
  text << in.rdbuf();

  Json root;
  try {
    root = Json::parse(text.str());
  } catch (const Json::exception& e) {
    return fail(std::string("not valid JSON: ") + printable(e.what()));
  }
  if (!root.is_object()) return fail("the manifest must be a JSON object");
  if (const auto it = root.find("format"); it != root.end()) {
    if (!it->is_string() || it->get<std::string>() != kFormatName)
      return fail("'format' must be \"trunkwatch-audio\"");
  }
  if (const auto it = root.find("version"); it != root.end()) {
    if (!it->is_number_integer() || it->get<long long>() != 1)
      return fail("unsupported 'version' (this reader knows version 1)");
  }
  const auto files = root.find("files");
  if (files == root.end() || !files->is_array())
    return fail("'files' must be an array of audio file entries");
  if (files->size() > kMaxFiles) return fail("more than 1,000,000 files");

  AudioManifest out;
  out.path = manifest;
  if (const auto spans = root.find("spans"); spans != root.end()) {
    if (!spans->is_array()) return fail("'spans' must be an array of span entries");
    for (std::size_t i = 0; i < spans->size(); ++i) {
      const std::string at = "spans[" + std::to_string(i) + "]";
      SpanInfo info;
      if (std::string why = read_span((*spans)[i], info); !why.empty())
        return fail(at + ": " + why);
      for (const SpanInfo& seen : out.spans)
        if (seen.id == info.id)
          return fail(at + ": span " + std::to_string(info.id) + " is listed twice");
      out.spans.push_back(std::move(info));
    }
    std::sort(out.spans.begin(), out.spans.end(),
              [](const SpanInfo& a, const SpanInfo& b) { return a.id < b.id; });
  }
  const fs::path dir = fs::absolute(manifest, ec).parent_path();
  if (ec) return fail("cannot resolve the manifest's directory");
  for (std::size_t i = 0; i < files->size(); ++i) {
    const Json& e = (*files)[i];
    const std::string at = "files[" + std::to_string(i) + "]";
    if (!e.is_object()) return fail(at + ": each entry must be an object");
    AudioFileInfo f;
    const auto file = e.find("file");
    if (file == e.end() || !file->is_string()) return fail(at + ": 'file' must be a string");
    f.file = file->get<std::string>();
    const std::string named = at + " (" + printable(f.file) + ")";
    if (std::string why = unsafe_name(f.file); !why.empty()) return fail(named + ": " + why);
    auto integer = [&](const char* key, long long lo, long long hi, int& v) {
      const auto it = e.find(key);
      if (it == e.end() || !it->is_number_integer()) return false;
      const long long x = it->get<long long>();
      if (x < lo || x > hi) return false;
      v = static_cast<int>(x);
      return true;
    };
    if (!integer("span", 1, 255, f.span)) return fail(named + ": 'span' must be an integer 1-255");
    if (!integer("channel", 1, 31, f.channel))
      return fail(named + ": 'channel' must be an integer 1-31");
    const auto from = e.find("from");
    if (from == e.end() || !from->is_string() ||
        (from->get<std::string>() != "pbx" && from->get<std::string>() != "carrier"))
      return fail(named + ": 'from' must be \"pbx\" or \"carrier\"");
    f.from = from->get<std::string>() == "pbx" ? Side::Pbx : Side::Carrier;
    const auto start = e.find("start");
    std::optional<Timestamp> t;
    if (start != e.end() && start->is_string()) t = parse_time(start->get<std::string>());
    if (!t)
      return fail(named +
                  ": 'start' must be an RFC 3339 time with an offset, "
                  "e.g. \"2027-01-05T09:00:12.340000Z\"");
    f.start = *t;
    f.path = dir / fs::path(f.file);
    if (!inside(dir, f.path)) return fail(named + ": the file is outside the manifest's directory");
    std::string why;
    if (!open_wav(f.path, f.encoding, f.samples, why)) return fail(named + ": " + why);
    out.files.push_back(std::move(f));
  }
  std::stable_sort(
      out.files.begin(), out.files.end(),
      [](const AudioFileInfo& a, const AudioFileInfo& b) { return a.start < b.start; });
  // Two files for one channel direction at once would interleave two signals in one detector.
  std::map<std::tuple<int, int, Side>, const AudioFileInfo*> last;
  for (const AudioFileInfo& f : out.files) {
    auto& prev = last[{f.span, f.channel, f.from}];
    if (prev && prev->end() > f.start)
      return fail(printable(f.file) + " overlaps " + printable(prev->file) + " (span " +
                  std::to_string(f.span) + " channel " + std::to_string(f.channel) + " from " +
                  std::string(to_string(f.from)) + ")");
    prev = &f;
  }
  return out;
}

// ---- writing -----------------------------------------------------------------------------

struct AudioCaptureWriter::Stream {
  SndPtr file;
  AudioFileInfo info;
  std::vector<std::uint8_t> coded;   // G.711
  std::vector<std::int16_t> linear;  // PCM
};

AudioCaptureWriter::AudioCaptureWriter() = default;
AudioCaptureWriter::~AudioCaptureWriter() = default;

void AudioCaptureWriter::fail(std::string message) {
  if (error_.empty()) error_ = std::move(message);
}

std::string AudioCaptureWriter::open(const fs::path& pcap_path, std::vector<SpanInfo> spans,
                                     bool audio) {
  manifest_path_ = audio_manifest_path(pcap_path);
  dir_ = audio_dir_path(pcap_path);
  spans_ = std::move(spans);
  std::sort(spans_.begin(), spans_.end(),
            [](const SpanInfo& a, const SpanInfo& b) { return a.id < b.id; });
  if (audio) {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec) return dir_.string() + ": cannot create the audio directory (" + ec.message() + ")";
  }
  audio_ = audio;
  open_ = true;
  return {};
}

int AudioCaptureWriter::begin(int span, int channel, Side from, Timestamp start,
                              AudioEncoding encoding, int call_number) {
  if (!open_ || !error_.empty()) return -1;
  if (!audio_) {
    fail(manifest_path_.string() + ": opened without audio, cannot write an audio file");
    return -1;
  }
  char name[64];
  std::snprintf(name, sizeof name, "s%dc%d-%s-%04d.wav", span, channel,
                std::string(to_string(from)).c_str(), call_number);
  auto s = std::make_unique<Stream>();
  s->info.file = (fs::path(dir_.filename()) / name).generic_string();
  s->info.path = dir_ / name;
  s->info.span = span;
  s->info.channel = channel;
  s->info.from = from;
  s->info.start = start;
  s->info.encoding = encoding;
  SF_INFO sf{};
  sf.samplerate = kAudioRate;
  sf.channels = 1;
  sf.format = SF_FORMAT_WAV | sf_subtype(encoding);
  s->file.reset(sf_open(s->info.path.c_str(), SFM_WRITE, &sf));
  if (!s->file) {
    fail(s->info.path.string() + ": cannot write (" + sf_strerror(nullptr) + ")");
    return -1;
  }
  streams_.push_back(std::move(s));
  return static_cast<int>(streams_.size() - 1);
}

bool AudioCaptureWriter::flush(Stream& s) {
  if (!s.coded.empty()) {
    const auto n = static_cast<sf_count_t>(s.coded.size());
    if (sf_write_raw(s.file.get(), s.coded.data(), n) != n) {
      fail(s.info.path.string() + ": write failed (" + sf_strerror(s.file.get()) + ")");
      return false;
    }
    s.coded.clear();
  }
  if (!s.linear.empty()) {
    const auto n = static_cast<sf_count_t>(s.linear.size());
    if (sf_writef_short(s.file.get(), s.linear.data(), n) != n) {
      fail(s.info.path.string() + ": write failed (" + sf_strerror(s.file.get()) + ")");
      return false;
    }
    s.linear.clear();
  }
  return true;
}

void AudioCaptureWriter::write(int stream, std::span<const std::int16_t> linear) {
  if (stream < 0 || static_cast<std::size_t>(stream) >= streams_.size()) return;
  Stream* s = streams_[static_cast<std::size_t>(stream)].get();
  if (!s) return;
  switch (s->info.encoding) {
    case AudioEncoding::Ulaw:
      for (const std::int16_t v : linear) s->coded.push_back(linear_to_ulaw(v));
      break;
    case AudioEncoding::Alaw:
      for (const std::int16_t v : linear) s->coded.push_back(linear_to_alaw(v));
      break;
    case AudioEncoding::Pcm16:
      s->linear.insert(s->linear.end(), linear.begin(), linear.end());
      break;
  }
  s->info.samples += static_cast<std::int64_t>(linear.size());
  if (s->coded.size() + s->linear.size() >= kWriteBlock) flush(*s);
}

void AudioCaptureWriter::end(int stream) {
  if (stream < 0 || static_cast<std::size_t>(stream) >= streams_.size()) return;
  std::unique_ptr<Stream> s = std::move(streams_[static_cast<std::size_t>(stream)]);
  if (!s) return;
  flush(*s);
  if (sf_close(s->file.release()) != 0) fail(s->info.path.string() + ": close failed");
  done_.push_back(std::move(s->info));
}

std::string AudioCaptureWriter::close() {
  if (!open_) return error_;
  for (std::size_t i = 0; i < streams_.size(); ++i) end(static_cast<int>(i));
  streams_.clear();
  std::stable_sort(done_.begin(), done_.end(), [](const AudioFileInfo& a, const AudioFileInfo& b) {
    return a.start < b.start;
  });
  nlohmann::ordered_json files = nlohmann::ordered_json::array();
  for (const AudioFileInfo& f : done_) {
    nlohmann::ordered_json e;
    e["file"] = f.file;
    e["span"] = f.span;
    e["channel"] = f.channel;
    e["from"] = std::string(to_string(f.from));
    e["start"] = format_time_us(f.start);
    e["encoding"] = std::string(to_string(f.encoding));
    e["samples"] = f.samples;
    files.push_back(std::move(e));
  }
  nlohmann::ordered_json spans = nlohmann::ordered_json::array();
  for (const SpanInfo& s : spans_) {
    nlohmann::ordered_json e;
    e["span"] = s.id;
    e["type"] = std::string(to_string(s.type));
    e["switchtype"] = std::string(to_string(s.switch_type));
    e["pbx_role"] = s.pbx_role == Role::Network ? "network" : "user";
    spans.push_back(std::move(e));
  }
  nlohmann::ordered_json root;
  root["format"] = kFormatName;
  root["version"] = 1;
  // Version 1 still: readers ignore keys they do not know, so older ones read this as before.
  if (!spans_.empty()) root["spans"] = std::move(spans);
  root["files"] = std::move(files);
  // Written whole and renamed into place: a reader never sees half a manifest.
  const fs::path tmp = manifest_path_.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << root.dump(1) << '\n';
    if (!out) fail(tmp.string() + ": cannot write the audio manifest");
  }
  std::error_code ec;
  if (error_.empty()) {
    fs::rename(tmp, manifest_path_, ec);
    if (ec)
      fail(manifest_path_.string() + ": cannot write the audio manifest (" + ec.message() + ")");
  }
  open_ = false;
  return error_;
}

// ---- playback ----------------------------------------------------------------------------

struct AudioPlayback::Open {
  SndPtr file;
  std::int64_t position = 0;
};

AudioPlayback::AudioPlayback(AudioManifest manifest) : manifest_(std::move(manifest)) {
  open_.resize(manifest_.files.size());
  for (std::size_t i = 0; i < manifest_.files.size(); ++i)
    if (manifest_.files[i].samples > 0) due_.push(due(i, manifest_.files[i].start));
  buffer_.resize(kChunkSamples);
  coded_.resize(kChunkSamples);
}

AudioPlayback::~AudioPlayback() = default;

AudioPlayback::Due AudioPlayback::due(std::size_t file, Timestamp time) const {
  const AudioFileInfo& f = manifest_.files[file];
  return Due{time, f.span, f.channel, f.from, file};
}

std::optional<Timestamp> AudioPlayback::peek() const {
  if (due_.empty() || !error_.empty()) return std::nullopt;
  return due_.top().time;
}

bool AudioPlayback::next(AudioChunk& out) {
  if (due_.empty() || !error_.empty()) return false;
  const Due d = due_.top();
  due_.pop();
  const AudioFileInfo& f = manifest_.files[d.file];
  std::unique_ptr<Open>& o = open_[d.file];
  if (!o) {
    // Checked when the manifest was read; checked again: the file may have changed since.
    o = std::make_unique<Open>();
    AudioEncoding enc{};
    std::int64_t samples = 0;
    std::string why;
    o->file = open_wav(f.path, enc, samples, why);
    if (!o->file || enc != f.encoding || samples != f.samples) {
      error_ = f.path.string() + ": " + (why.empty() ? "changed while being replayed" : why);
      return false;
    }
  }
  const auto want = static_cast<sf_count_t>(
      std::min<std::int64_t>(static_cast<std::int64_t>(kChunkSamples), f.samples - o->position));
  sf_count_t got = 0;
  if (f.encoding == AudioEncoding::Pcm16) {
    got = sf_readf_short(o->file.get(), buffer_.data(), want);
  } else {
    got = sf_read_raw(o->file.get(), coded_.data(), want);
    for (sf_count_t i = 0; i < got; ++i)
      buffer_[static_cast<std::size_t>(i)] =
          f.encoding == AudioEncoding::Ulaw ? ulaw_to_linear(coded_[static_cast<std::size_t>(i)])
                                            : alaw_to_linear(coded_[static_cast<std::size_t>(i)]);
  }
  if (got != want) {
    error_ = f.path.string() + ": audio data ends early (truncated file?)";
    return false;
  }
  out.span = f.span;
  out.channel = f.channel;
  out.from = f.from;
  out.time = d.time;
  out.samples = std::span<const std::int16_t>(buffer_.data(), static_cast<std::size_t>(got));
  o->position += got;
  ++chunks_;
  if (o->position < f.samples) {
    due_.push(due(d.file, f.start + std::chrono::microseconds(o->position * 125)));
  } else {
    o.reset();  // closes the file: only playing files hold a descriptor
  }
  return true;
}

}  // namespace tw::hal
