#include "hal/dahdi/dahdi_source.hpp"

#include <dahdi/user.h>
#include <fcntl.h>
#include <poll.h>
#include <spandsp.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <boost/log/trivial.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>

namespace tw::hal::dahdi {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::system_clock;

std::string read_attr(const fs::path& p) {
  std::ifstream in(p);
  std::string s;
  std::getline(in, s);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

int to_int(const std::string& s) {
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') break;
    v = v * 10 + (c - '0');
  }
  return v;
}

// sysfs `alarms`: dahdi-sysfs.c (2.11) prints the bits in hex ("0x0", "0x8"); names ("OK",
// "RED YELLOW") are accepted too.
std::uint32_t parse_alarm_text(const std::string& text) {
  if (text.starts_with("0x") || text.starts_with("0X"))
    return static_cast<std::uint32_t>(std::strtoul(text.c_str() + 2, nullptr, 16));
  std::uint32_t a = 0;
  for (auto [name, bit] : {std::pair{"YEL", alarm::kYellow},
                           {"RED", alarm::kRed},
                           {"BLU", alarm::kBlue},
                           {"LOS", alarm::kLos}})
    if (text.find(name) != std::string::npos) a |= bit;
  return a;
}

// A B-channel carrying one constant byte this long is idle (see deliver_audio()).
constexpr int kIdleMs = 1000;
// A raw-bit D-channel's read block: 8 ms.
constexpr int kRawBlockBytes = 64;

// What an open() error of a DAHDI node means for the service, beyond strerror.
std::string open_error(const std::string& path, int err) {
  std::string msg = path + ": " + std::strerror(err);
  if (err == EACCES)
    msg +=
        " (the daemon's user has no ACL entry on it: 60-trunkwatch.rules adds one when udev"
        " adds the device; after installing, run `udevadm trigger --action=add"
        " --subsystem-match=dahdi --subsystem-match=dahdi_channels`, docs/install.md)";
  return msg;
}

Timestamp now_time() {
  return Timestamp(
      std::chrono::duration_cast<Timestamp::duration>(Clock::now().time_since_epoch()));
}

}  // namespace

std::vector<SpanFacts> discover_spans(const std::string& sysfs_spans, std::string& error) {
  std::vector<SpanFacts> out;
  std::error_code ec;
  fs::directory_iterator it(sysfs_spans, ec);
  if (ec) {
    error = sysfs_spans + ": " + ec.message() + " (is the dahdi module loaded?)";
    return out;
  }
  for (const auto& e : it) {
    const std::string dir = e.path().filename().string();
    if (!dir.starts_with("span-")) continue;
    SpanFacts f;
    f.number = to_int(dir.substr(5));
    f.name = read_attr(e.path() / "name");
    f.desc = read_attr(e.path() / "desc");
    f.spantype = read_attr(e.path() / "spantype");
    f.basechan = to_int(read_attr(e.path() / "basechan"));
    f.channels = to_int(read_attr(e.path() / "channels"));
    f.alarm_text = read_attr(e.path() / "alarms");
    f.alarms = parse_alarm_text(f.alarm_text);
    if (f.number > 0) out.push_back(std::move(f));
  }
  std::sort(out.begin(), out.end(),
            [](const SpanFacts& a, const SpanFacts& b) { return a.number < b.number; });
  return out;
}

std::optional<SpanType> span_type_of(const SpanFacts& f) {
  if (f.spantype == "T1" || f.spantype == "J1") return SpanType::T1;
  if (f.spantype == "E1") return SpanType::E1;
  if (f.channels == 24) return SpanType::T1;
  if (f.channels == 31) return SpanType::E1;
  return std::nullopt;
}

std::string line_config_text(int lineconfig) {
  std::string out;
  auto add = [&](bool on, const char* name) {
    if (on) out += (out.empty() ? "" : "/") + std::string(name);
  };
  add(lineconfig & DAHDI_CONFIG_ESF, "esf");
  add(lineconfig & DAHDI_CONFIG_D4, "d4");
  add(lineconfig & DAHDI_CONFIG_CCS, "ccs");
  add(lineconfig & DAHDI_CONFIG_B8ZS, "b8zs");
  add(lineconfig & DAHDI_CONFIG_HDB3, "hdb3");
  add(lineconfig & DAHDI_CONFIG_AMI, "ami");
  add(lineconfig & DAHDI_CONFIG_CRC4, "crc4");
  return out;
}

LineErrors counter_increase(const LineErrors& before, const LineErrors& now) {
  auto up = [](std::uint64_t b, std::uint64_t n) { return n >= b ? n - b : n; };
  return LineErrors{up(before.bpv, now.bpv), up(before.crc, now.crc), up(before.ebit, now.ebit),
                    up(before.fas, now.fas)};
}

namespace {

std::optional<dahdi_spaninfo> span_stat(int ctl_fd, int number) {
  dahdi_spaninfo si{};
  si.spanno = number;
  if (::ioctl(ctl_fd, DAHDI_SPANSTAT, &si) != 0) return std::nullopt;
  return si;
}

LineErrors errors_of(const dahdi_spaninfo& si) {
  auto count = [](int v) { return static_cast<std::uint64_t>(std::max(v, 0)); };
  return LineErrors{count(si.bpvcount), count(si.crc4count), count(si.ebitcount),
                    count(si.fascount)};
}

}  // namespace

DahdiSource::DahdiSource(DahdiOptions options) : options_(std::move(options)) {
  frame_buf_.resize(1024);
  audio_buf_.resize(static_cast<std::size_t>(8 * options_.block_ms) * 4);
  pcm_.resize(audio_buf_.size());
}

DahdiSource::~DahdiSource() {
  for (Channel& c : channels_) close_channel(c);
  if (ctl_fd_ >= 0) ::close(ctl_fd_);
}

DahdiSource::CardSpan* DahdiSource::card_span(int number) {
  for (CardSpan& s : card_spans_)
    if (s.number == number) return &s;
  return nullptr;
}

std::string DahdiSource::open() {
  if (options_.block_ms != 8 && options_.block_ms != 20) return "block size must be 8 or 20 ms";
  std::string error;
  const std::vector<SpanFacts> found = discover_spans(options_.sysfs_spans, error);
  if (!error.empty()) return error;
  if (found.empty()) return "no DAHDI spans (run dahdi_cfg; see docs/install.md)";
  auto facts = [&](int n) -> const SpanFacts* {
    for (const SpanFacts& f : found)
      if (f.number == n) return &f;
    return nullptr;
  };
  std::vector<TapPair> taps = options_.taps;
  if (taps.empty()) {
    for (std::size_t i = 0; i + 1 < found.size(); i += 2)
      taps.push_back(TapPair{found[i].number, found[i + 1].number, std::nullopt, {}});
    BOOST_LOG_TRIVIAL(warning)
        << "no [[span]] in the configuration: monitoring the card's " << found.size()
        << " span(s) as tap pairs in order (PBX side first): say which spans pair up";
    if (taps.empty()) return "a passive tap needs two spans; the card has one";
  }
  ctl_fd_ = ::open((options_.dev_root + "/ctl").c_str(), O_RDWR | O_CLOEXEC);
  if (ctl_fd_ < 0) return open_error(options_.dev_root + "/ctl", errno);
  for (const TapPair& t : taps) {
    const SpanFacts* pbx = facts(t.pbx_span);
    const SpanFacts* carrier = facts(t.carrier_span);
    if (!pbx) return "span " + std::to_string(t.pbx_span) + " is not on the card";
    if (!carrier) return "span " + std::to_string(t.carrier_span) + " is not on the card";
    SpanInfo info;
    info.id = t.pbx_span;
    const std::optional<SpanType> type = t.type ? t.type : span_type_of(*pbx);
    if (!type)
      return "span " + std::to_string(t.pbx_span) + ": cannot tell T1 from E1 (" +
             std::to_string(pbx->channels) + " channels, type '" + pbx->spantype +
             "'): set 'type' in its [[span]]";
    info.type = *type;
    info.name = t.name.empty() ? pbx->desc + " + " + carrier->desc : t.name;
    info.alarms = pbx->alarms | carrier->alarms;
    const auto pbx_stat = span_stat(ctl_fd_, pbx->number);
    const auto carrier_stat = span_stat(ctl_fd_, carrier->number);
    info.framing = pbx_stat ? line_config_text(pbx_stat->lineconfig) : "";
    if (pbx_stat && carrier_stat && pbx_stat->lineconfig != carrier_stat->lineconfig)
      BOOST_LOG_TRIVIAL(warning)
          << "card spans " << pbx->number << " and " << carrier->number
          << " tap one trunk but are configured differently ("
          << line_config_text(pbx_stat->lineconfig) << " and "
          << line_config_text(carrier_stat->lineconfig)
          << "): both must match the trunk's framing and line code (span= in system.conf)";
    spans_.push_back(info);
    for (const auto& [f, side] : {std::pair{pbx, Side::Pbx}, {carrier, Side::Carrier}}) {
      card_spans_.push_back(CardSpan{f->number, info.id, side, f->alarms, false, {}, {}});
      const auto& stat = side == Side::Pbx ? pbx_stat : carrier_stat;
      if (stat) card_spans_.back().counted = errors_of(*stat);
      for (int pos = 1; pos <= f->channels; ++pos) {
        const bool dchan = pos == info.dchan();
        if (!dchan && (!options_.audio || pos < info.first_bchan() || pos > info.last_bchan()))
          continue;
        Channel c;
        c.card_span = f->number;
        c.chanpos = pos;
        c.logical_span = info.id;
        c.from = side;
        c.dchan = dchan;
        c.alaw = info.type == SpanType::E1;
        char path[64];
        std::snprintf(path, sizeof path, "/chan/%03d/%03d", f->number, pos);
        c.path = options_.dev_root + path;
        if (auto err = open_channel(c); !err.empty()) {
          // Not configured yet (udev starts the daemon while dahdi_cfg still runs), no ACL
          // entry yet (udev handles the span's and its channels' events one by one), or held
          // by another program: the span waits and is retried; anything else is fatal.
          if (last_errno_ != ENXIO && last_errno_ != EBUSY && last_errno_ != ENOENT &&
              last_errno_ != EACCES)
            return err;
          close_channel(c);
          for (CardSpan& cs : card_spans_)
            if (cs.number == f->number && !cs.gone) {  // said once per span
              BOOST_LOG_TRIVIAL(warning)
                  << err << ": card span " << f->number << " waits; retrying every 5 s";
              cs.gone = true;
              cs.alarms = alarm::kRed;
            }
        }
        channels_.push_back(std::move(c));
      }
    }
  }
  return "";
}

std::string DahdiSource::open_channel(Channel& c) {
  last_errno_ = 0;
  c.audio_clock = false;
  c.idle_ms = kIdleMs + 1;  // idle until it carries something
  c.raw_hdlc.reset();
  c.raw_errors_reported = 0;
  c.raw_aborts_seen = 0;
  c.fd = ::open(c.path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (c.fd < 0) {
    last_errno_ = errno;
    return open_error(c.path, errno);
  }
  if (c.dchan) return open_dchannel(c);
  // The driver's default is 2 blocks (40 ms at 20 ms): a daemon busy for longer with 46
  // channels of DSP would lose audio without a word. About 300 ms of blocks instead.
  return set_buffers(c, 8 * options_.block_ms, (300 + options_.block_ms - 1) / options_.block_ms,
                     true);
}

// Read blocks (on an HDLC channel: the largest frame), and on a clear channel buffer events,
// so that a loss still comes as DAHDI_EVENT_READ_OVERRUN (an Overrun).
std::string DahdiSource::set_buffers(Channel& c, int block_bytes, int blocks, bool clear) {
  dahdi_bufferinfo bi{};
  bi.txbufpolicy = DAHDI_POLICY_IMMEDIATE;
  bi.rxbufpolicy = DAHDI_POLICY_IMMEDIATE;
  bi.bufsize = block_bytes;
  bi.numbufs = std::min(DAHDI_MAX_NUM_BUFS, blocks);
  if (::ioctl(c.fd, DAHDI_SET_BUFINFO, &bi) != 0) {
    last_errno_ = errno;
    return c.path + ": DAHDI_SET_BUFINFO: " + std::strerror(errno);
  }
  int on = 1;
  if (clear && ::ioctl(c.fd, DAHDI_BUFFER_EVENTS, &on) != 0) {
    last_errno_ = errno;
    return c.path + ": DAHDI_BUFFER_EVENTS: " + std::strerror(errno);
  }
  return "";
}

// The D-channel's mode is what system.conf gave it: the admin chose `dchan=` (the driver
// deframes) or `bchan=` (raw bits, a tap port without HDLC); nothing to set twice.
std::string DahdiSource::open_dchannel(Channel& c) {
  dahdi_params params{};
  params.channo = -1;  // this fd's channel
  if (::ioctl(c.fd, DAHDI_GET_PARAMS, &params) != 0) {
    last_errno_ = errno;
    return c.path + ": DAHDI_GET_PARAMS: " + std::strerror(errno);
  }
  if (params.sigtype == 0) {  // not configured yet: dahdi_cfg is still to run
    last_errno_ = ENXIO;
    return c.path + ": not configured (dahdi_cfg)";
  }
  const bool hdlc = (params.sigtype & DAHDI_SIG_HDLCFCS) == DAHDI_SIG_HDLCFCS ||
                    params.sigtype == DAHDI_SIG_HARDHDLC;
  if (!hdlc && params.sigtype != DAHDI_SIG_CLEAR) {
    last_errno_ = EINVAL;
    char sig[16];
    std::snprintf(sig, sizeof sig, "0x%x", static_cast<unsigned>(params.sigtype));
    return c.path + ": the D-channel is configured with signalling " + sig +
           " in /etc/dahdi/system.conf; a tapped D-channel needs dchan= or hardhdlc= (frames"
           " deframed by the driver) or bchan= (raw bits, deframed by trunkwatch)";
  }
  if (!hdlc) {
    // Raw bits in blocks of 8 ms (a frame's read time is late by at most that), 256 ms of
    // them buffered.
    const int logical_span = c.logical_span;
    const Side from = c.from;
    c.raw_hdlc = std::make_unique<SoftHdlcReceiver>(
        [this, logical_span, from](std::span<const std::uint8_t> frame) {
          on_raw_frame(logical_span, from, frame);
        });
    BOOST_LOG_TRIVIAL(info) << c.path << ": D-channel of card span " << c.card_span
                            << " is a clear channel (bchan=): raw bits, deframed in software";
    return set_buffers(c, kRawBlockBytes, DAHDI_MAX_NUM_BUFS, true);
  }
  // Room for bursts: a D-channel frame per read, up to 16 queued.
  return set_buffers(c, static_cast<int>(frame_buf_.size()), 16, false);
}

void DahdiSource::on_raw_frame(int logical_span, Side from, std::span<const std::uint8_t> frame) {
  if (frame.size() < 2) {  // not even an address
    ++counters_.short_frames;
    return;
  }
  ++counters_.frames;
  pending_.push_back(
      PendingFrame{logical_span, from, raw_read_time_, {frame.begin(), frame.end()}});
}

void DahdiSource::close_channel(Channel& c) {
  if (c.fd >= 0) ::close(c.fd);
  c.fd = -1;
}

void DahdiSource::drain_events(Channel& c, SpanSink& sink, Timestamp now) {
  int event = 0;
  while (::ioctl(c.fd, DAHDI_GETEVENT, &event) == 0 && event != DAHDI_EVENT_NONE) {
    ++counters_.events;
    LineEvent e;
    e.span = c.logical_span;
    e.time = now;
    e.side = c.from;
    switch (event) {
      case DAHDI_EVENT_BADFCS:
      case DAHDI_EVENT_ABORT:
        e.type = LineEventType::BadFcs;
        sink.on_line_event(e);
        break;
      case DAHDI_EVENT_OVERRUN:
      case DAHDI_EVENT_READ_OVERRUN:
        c.audio_clock = false;  // samples were lost: the stream's clock restarts
        e.type = LineEventType::Overrun;
        sink.on_line_event(e);
        break;
      case DAHDI_EVENT_ALARM:
      case DAHDI_EVENT_NOALARM:
        poll_alarms(sink, now);  // the bits come from DAHDI_SPANSTAT
        break;
      case DAHDI_EVENT_REMOVED:
        span_gone(c, sink, now, ENODEV);
        return;
      default:
        break;
    }
  }
}

void DahdiSource::span_gone(Channel& c, SpanSink& sink, Timestamp now, int err) {
  CardSpan* s = card_span(c.card_span);
  BOOST_LOG_TRIVIAL(error) << c.path << ": " << std::strerror(err)
                           << ": the span is gone; retrying every 5 s";
  for (Channel& other : channels_)
    if (other.card_span == c.card_span) close_channel(other);
  if (s && !s->gone) {
    s->gone = true;
    s->alarms = alarm::kRed | alarm::kLos;
    report_alarms(*s, sink, now);
  }
}

void DahdiSource::read_channel(Channel& c, SpanSink& sink, Timestamp now) {
  for (int guard = 0; guard < 64 && c.fd >= 0; ++guard) {
    std::vector<std::uint8_t>& buf = c.dchan ? frame_buf_ : audio_buf_;
    const ssize_t n = ::read(c.fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      if (errno == ELAST) {
        drain_events(c, sink, now);
        continue;
      }
      ++counters_.read_errors;
      if (errno == ENODEV || errno == ENXIO || errno == EIO || errno == EBADF) {
        span_gone(c, sink, now, errno);
        return;
      }
      BOOST_LOG_TRIVIAL(warning) << c.path << ": read: " << std::strerror(errno);
      return;
    }
    if (n == 0) return;
    if (c.raw_hdlc) {
      raw_read_time_ = now;
      c.raw_hdlc->put(std::span<const std::uint8_t>(buf.data(), static_cast<std::size_t>(n)));
      report_raw_errors(c, sink, now);
    } else if (c.dchan) {
      // The frame and its 2 FCS bytes, already checked by the driver.
      if (n < 4) {
        ++counters_.short_frames;
        continue;
      }
      ++counters_.frames;
      pending_.push_back(
          PendingFrame{c.logical_span, c.from, now, {buf.begin(), buf.begin() + (n - 2)}});
    } else {
      ++counters_.audio_blocks;
      deliver_audio(c, static_cast<std::size_t>(n), sink, now);
    }
  }
}

// Bad frames on a raw-bit D-channel, as the driver's HDLC mode reports them: a BadFcs line
// event each. Aborts are counted, not reported: SpanDSP also counts a line idling with ones
// after a closing flag (mark idle) as one, and an abort is the sender's choice, not a line
// error.
void DahdiSource::report_raw_errors(Channel& c, SpanSink& sink, Timestamp now) {
  const SoftHdlcReceiver::Counters k = c.raw_hdlc->counters();
  counters_.raw_aborts += k.aborts - c.raw_aborts_seen;
  c.raw_aborts_seen = k.aborts;
  for (const std::uint64_t errors = k.bad_fcs + k.length_errors; c.raw_errors_reported < errors;
       ++c.raw_errors_reported) {
    ++counters_.raw_bad_frames;
    sink.on_line_event(LineEvent{c.logical_span, now, LineEventType::BadFcs, c.from, 0});
  }
}

void DahdiSource::deliver_audio(Channel& c, std::size_t count, SpanSink& sink, Timestamp now) {
  const auto length = std::chrono::microseconds(static_cast<std::int64_t>(count) * 125);
  const Timestamp read_time = now - length;
  // The stream's own clock; the read time only when it starts, after lost samples, or when
  // the two drift apart (a card clock off the system clock, a clock step).
  if (c.audio_clock) {
    const auto drift = read_time - c.audio_next;
    if (drift > std::chrono::milliseconds(500) || drift < -std::chrono::milliseconds(500))
      c.audio_clock = false;
  }
  if (!c.audio_clock) {
    c.audio_clock = true;
    c.audio_next = read_time;
  }
  const Timestamp time = c.audio_next;
  c.audio_next += length;
  const std::uint8_t* bytes = audio_buf_.data();
  if (std::all_of(bytes, bytes + count, [&](std::uint8_t b) { return b == bytes[0]; })) {
    // A constant byte is no signal: after a second of it (enough for every detector to see
    // the end of what came before) the channel is idle and its blocks are not handed on.
    c.idle_ms = std::min(c.idle_ms + static_cast<int>(count / 8), 2 * kIdleMs);
    if (c.idle_ms > kIdleMs) {
      ++counters_.idle_blocks;
      return;
    }
  } else {
    c.idle_ms = 0;
  }
  for (std::size_t i = 0; i < count; ++i)
    pcm_[i] = c.alaw ? alaw_to_linear(bytes[i]) : ulaw_to_linear(bytes[i]);
  AudioChunk a;
  a.span = c.logical_span;
  a.channel = c.chanpos;
  a.from = c.from;
  a.time = time;
  a.samples = std::span<const std::int16_t>(pcm_.data(), count);
  a.g711 = std::span<const std::uint8_t>(bytes, count);
  sink.on_audio(a);
}

namespace {

// Whether LAPD frame `b` acknowledges I-frame `a` of the other direction of the same link:
// b's N(R) (the next frame b's sender expects) is past a's N(S), within the window (7).
bool acknowledges(const std::vector<std::uint8_t>& b, const std::vector<std::uint8_t>& a) {
  if (a.size() < 4 || b.size() < 4 || (a[2] & 0x01) != 0) return false;        // a: an I-frame
  if ((b[2] & 0x01) != 0 && (b[2] & 0x03) != 0x01) return false;               // b: I or S
  if ((a[0] >> 2) != (b[0] >> 2) || (a[1] >> 1) != (b[1] >> 1)) return false;  // SAPI, TEI
  const int ns = a[2] >> 1, nr = b[3] >> 1;
  return ((nr - 1 - ns) & 0x7f) < 8;
}

}  // namespace

// Each receiver's frames come in order, but a request and its response can come out of the
// two receivers of a pair the wrong way round (both waiting in one wake-up and read in
// device order, or the response's receiver read just before the request's completed). The
// response acknowledges the request (its N(R)), which gives the real order; frames that say
// nothing about each other go in read order. A frame goes out once held kFrameHold, so that
// whatever was sent before it has arrived; times never run backwards within a span.
void DahdiSource::deliver_frames(SpanSink& sink, Timestamp now) {
  // Whether `f` acknowledges a frame of the other side of its span still pending.
  auto acks_any = [&](const PendingFrame& f) {
    for (const PendingFrame& o : pending_)
      if (o.logical_span == f.logical_span && o.from != f.from && acknowledges(f.bytes, o.bytes))
        return true;
    return false;
  };
  while (!pending_.empty()) {
    // The front of the queue, or the first frame of the other side of its span, whichever
    // was sent first.
    auto pick = pending_.begin();
    for (auto it = pending_.begin() + 1; it != pending_.end(); ++it) {
      if (it->logical_span != pick->logical_span || it->from == pick->from) continue;
      if (acks_any(*pick) && !acks_any(*it)) pick = it;
      break;
    }
    if (now - pick->time < kFrameHold) return;
    if (pick != pending_.begin()) ++counters_.reordered;
    auto last = std::find_if(last_frame_time_.begin(), last_frame_time_.end(),
                             [&](const auto& e) { return e.first == pick->logical_span; });
    if (last == last_frame_time_.end())
      last = last_frame_time_.insert(last_frame_time_.end(), {pick->logical_span, pick->time});
    last->second = std::max(last->second, pick->time);
    sink.on_frame(DFrame{pick->logical_span, pick->from, last->second,
                         std::span<const std::uint8_t>(pick->bytes.data(), pick->bytes.size())});
    pending_.erase(pick);
  }
}

void DahdiSource::poll_alarms(SpanSink& sink, Timestamp now) {
  for (CardSpan& s : card_spans_) {
    if (s.gone) continue;
    const auto si = span_stat(ctl_fd_, s.number);
    if (!si) continue;
    count_line_errors(s, errors_of(*si), sink, now);
    const auto alarms = static_cast<std::uint32_t>(si->alarms);
    if (alarms == s.alarms) continue;
    s.alarms = alarms;
    BOOST_LOG_TRIVIAL(warning) << "card span " << s.number << ": alarms 0x" << std::hex << alarms;
    report_alarms(s, sink, now);
  }
}

// The counters only ever grow (until the span is configured again): their increase since the
// last poll is a LineErrors event. A bad line counts every second: logged once a minute.
void DahdiSource::count_line_errors(CardSpan& s, const LineErrors& reading, SpanSink& sink,
                                    Timestamp now) {
  const std::optional<LineErrors> before = std::exchange(s.counted, reading);
  if (!before) return;
  const LineErrors up = counter_increase(*before, reading);
  if (!up.any()) return;
  LineEvent e{s.logical_span, now, LineEventType::LineErrors, s.from, 0};
  e.errors = up;
  sink.on_line_event(e);
  if (now - s.errors_logged >= std::chrono::minutes(1)) {
    s.errors_logged = now;
    BOOST_LOG_TRIVIAL(warning) << "card span " << s.number << ": line errors: bpv +" << up.bpv
                               << ", crc +" << up.crc << ", ebit +" << up.ebit << ", fas +"
                               << up.fas
                               << " (all are counted in `trunkwatch status`; logged at most"
                                  " once a minute)";
  }
}

// The two card spans of a tap pair are one logical span: it is in alarm while either side is
// (one side clearing must not hide the other's alarm).
void DahdiSource::report_alarms(const CardSpan& changed, SpanSink& sink, Timestamp now) {
  std::uint32_t alarms = 0;
  for (const CardSpan& s : card_spans_)
    if (s.logical_span == changed.logical_span) alarms |= s.alarms;
  sink.on_line_event(LineEvent{changed.logical_span, now,
                               alarms ? LineEventType::Alarm : LineEventType::NoAlarm, changed.from,
                               alarms});
}

void DahdiSource::reopen_gone(SpanSink& sink, Timestamp now) {
  for (CardSpan& s : card_spans_) {
    if (!s.gone) continue;
    bool all = true;
    for (Channel& c : channels_)
      if (c.card_span == s.number && c.fd < 0 && !open_channel(c).empty()) {
        close_channel(c);
        all = false;
      }
    if (!all) {
      for (Channel& c : channels_)
        if (c.card_span == s.number) close_channel(c);
      continue;
    }
    ++counters_.reopens;
    s.gone = false;
    s.alarms = 0;
    BOOST_LOG_TRIVIAL(info) << "card span " << s.number << " is back";
    report_alarms(s, sink, now);
    poll_alarms(sink, now);
  }
}

SourceError DahdiSource::run(SpanSink& sink) {
  std::vector<pollfd> fds;
  std::vector<Channel*> owners;
  auto last_tick = Clock::now();
  auto last_alarm_poll = last_tick;
  auto last_reopen = last_tick;
  std::uint64_t audio_blocks_at_tick = 0;
  bool rebuild = true;
  // Alarms already present at start are reported once.
  for (const CardSpan& s : card_spans_)
    if (s.alarms) report_alarms(s, sink, now_time());
  // What the B-channels took in since open() (the daemon sets up its pipeline in between,
  // which can outlast their buffers) is stale: dropped, with its overrun events. The
  // D-channels keep theirs: those frames are real and still to be decoded.
  for (Channel& c : channels_)
    if (c.fd >= 0 && !c.dchan) {
      int what = DAHDI_FLUSH_READ | DAHDI_FLUSH_EVENT;
      ::ioctl(c.fd, DAHDI_FLUSH, &what);
    }
  while (!stop_) {
    if (rebuild) {
      fds.clear();
      owners.clear();
      // D-channels first: their frames are read (and stamped) before any audio work.
      for (const bool dchan : {true, false})
        for (Channel& c : channels_)
          if (c.fd >= 0 && c.dchan == dchan) {
            fds.push_back(pollfd{c.fd, POLLIN | POLLPRI, 0});
            owners.push_back(&c);
          }
      rebuild = false;
    }
    auto timeout = options_.tick;
    if (!pending_.empty())  // wake up when the oldest held frame is due
      timeout = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(
                               pending_.front().time + kFrameHold - now_time()) +
                               std::chrono::milliseconds(1),
                           std::chrono::milliseconds(1), timeout);
    const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(timeout.count()));
    if (ready < 0 && errno != EINTR)
      return SourceError{std::string("poll: ") + std::strerror(errno)};
    const Timestamp now = now_time();
    if (ready > 0) {
      for (std::size_t i = 0; i < fds.size(); ++i) {
        if (!fds[i].revents) continue;
        Channel& c = *owners[i];
        if (c.fd < 0) {  // closed in this wake-up (its span went)
          rebuild = true;
          continue;
        }
        if (fds[i].revents & (POLLERR | POLLNVAL | POLLHUP)) {
          span_gone(c, sink, now, ENODEV);
        } else {
          if (fds[i].revents & POLLPRI) drain_events(c, sink, now);
          read_channel(c, sink, now);
        }
        if (c.fd < 0) rebuild = true;
      }
    }
    deliver_frames(sink, now_time());
    const auto wall = Clock::now();
    if (wall - last_alarm_poll >= std::chrono::seconds(1)) {
      last_alarm_poll = wall;
      poll_alarms(sink, now);
    }
    if (wall - last_reopen >= std::chrono::seconds(5)) {
      last_reopen = wall;
      const std::uint64_t before = counters_.reopens;
      reopen_gone(sink, now);
      if (counters_.reopens != before) rebuild = true;
    }
    // While audio flows, a tick per block: the monitor takes the detector pool's results at a
    // tick, so a digit reaches its call one block after the chunk that completed it, not a
    // whole idle tick later (the 60 ms report bound).
    const bool audio_read = counters_.audio_blocks != audio_blocks_at_tick;
    const auto cadence = audio_read ? std::chrono::milliseconds(options_.block_ms) : options_.tick;
    if (wall - last_tick >= cadence) {
      last_tick = wall;
      audio_blocks_at_tick = counters_.audio_blocks;
      sink.on_tick(now);
    }
  }
  // Frames still held (younger than kFrameHold) are dropped: the daemon has closed its calls
  // already, as if it had stopped that much earlier.
  pending_.clear();
  sink.on_line_event(LineEvent{spans_.empty() ? 0 : spans_.front().id, now_time(),
                               LineEventType::SourceEnd, Side::Pbx, 0});
  return {};
}

}  // namespace tw::hal::dahdi
