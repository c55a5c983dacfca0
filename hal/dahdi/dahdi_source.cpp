#include "hal/dahdi/dahdi_source.hpp"

#include <dahdi/user.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <boost/log/trivial.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <spandsp.h>

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

// sysfs `alarms` is text: "OK", or names ("RED YELLOW"), as dahdi-sysfs.c prints them.
std::uint32_t parse_alarm_text(const std::string& text) {
  std::uint32_t a = 0;
  for (auto [name, bit] : {std::pair{"YEL", alarm::kYellow},
                           {"RED", alarm::kRed},
                           {"BLU", alarm::kBlue},
                           {"LOS", alarm::kLos}})
    if (text.find(name) != std::string::npos) a |= bit;
  return a;
}

Timestamp now_time() {
  return Timestamp(std::chrono::duration_cast<Timestamp::duration>(
      Clock::now().time_since_epoch()));
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
  if (ctl_fd_ < 0)
    return options_.dev_root + "/ctl: " + std::strerror(errno) +
           (errno == EACCES ? " (the daemon's user must be in the group of the DAHDI devices)"
                            : "");
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
    spans_.push_back(info);
    for (const auto& [f, side] : {std::pair{pbx, Side::Pbx}, {carrier, Side::Carrier}}) {
      card_spans_.push_back(CardSpan{f->number, info.id, side, f->alarms, false});
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
          // Not configured yet (udev starts the daemon while dahdi_cfg still runs), or held
          // by another program: the span waits and is retried; anything else is fatal.
          if (last_errno_ != ENXIO && last_errno_ != EBUSY && last_errno_ != ENOENT) return err;
          BOOST_LOG_TRIVIAL(warning) << err << ": retrying every 5 s";
          close_channel(c);
          for (CardSpan& cs : card_spans_)
            if (cs.number == f->number && !cs.gone) {
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
  c.fd = ::open(c.path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (c.fd < 0) {
    last_errno_ = errno;
    return c.path + ": " + std::strerror(errno) +
           (errno == EACCES ? " (the daemon's user must be in the group of the DAHDI devices)"
                            : "");
  }
  if (c.dchan) {
    // Room for bursts: a D-channel frame per read, up to 16 queued.
    dahdi_bufferinfo bi{};
    bi.txbufpolicy = DAHDI_POLICY_IMMEDIATE;
    bi.rxbufpolicy = DAHDI_POLICY_IMMEDIATE;
    bi.numbufs = 16;
    bi.bufsize = static_cast<int>(frame_buf_.size());
    if (::ioctl(c.fd, DAHDI_SET_BUFINFO, &bi) != 0) {
      last_errno_ = errno;
      return c.path + ": DAHDI_SET_BUFINFO: " + std::strerror(errno);
    }
  } else {
    int block = 8 * options_.block_ms;
    if (::ioctl(c.fd, DAHDI_SET_BLOCKSIZE, &block) != 0) {
      last_errno_ = errno;
      return c.path + ": DAHDI_SET_BLOCKSIZE: " + std::strerror(errno);
    }
  }
  return "";
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
    sink.on_line_event(
        LineEvent{c.logical_span, now, LineEventType::Alarm, c.from, s->alarms});
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
    if (c.dchan) {
      // The frame and its 2 FCS bytes, already checked by the driver.
      if (n < 4) {
        ++counters_.short_frames;
        continue;
      }
      ++counters_.frames;
      sink.on_frame(DFrame{c.logical_span, c.from, now,
                           std::span<const std::uint8_t>(buf.data(),
                                                         static_cast<std::size_t>(n - 2))});
    } else {
      ++counters_.audio_blocks;
      const std::size_t count = static_cast<std::size_t>(n);
      for (std::size_t i = 0; i < count; ++i)
        pcm_[i] = c.alaw ? alaw_to_linear(buf[i]) : ulaw_to_linear(buf[i]);
      AudioChunk a;
      a.span = c.logical_span;
      a.channel = c.chanpos;
      a.from = c.from;
      a.time = now - std::chrono::microseconds(static_cast<std::int64_t>(count) * 125);
      a.samples = std::span<const std::int16_t>(pcm_.data(), count);
      sink.on_audio(a);
    }
  }
}

void DahdiSource::poll_alarms(SpanSink& sink, Timestamp now) {
  for (CardSpan& s : card_spans_) {
    if (s.gone) continue;
    dahdi_spaninfo si{};
    si.spanno = s.number;
    if (::ioctl(ctl_fd_, DAHDI_SPANSTAT, &si) != 0) continue;
    const auto alarms = static_cast<std::uint32_t>(si.alarms);
    if (alarms == s.alarms) continue;
    s.alarms = alarms;
    BOOST_LOG_TRIVIAL(warning) << "card span " << s.number << ": alarms 0x" << std::hex << alarms;
    sink.on_line_event(LineEvent{s.logical_span, now,
                                 alarms ? LineEventType::Alarm : LineEventType::NoAlarm, s.from,
                                 alarms});
  }
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
    sink.on_line_event(LineEvent{s.logical_span, now, LineEventType::NoAlarm, s.from, 0});
    poll_alarms(sink, now);
  }
}

SourceError DahdiSource::run(SpanSink& sink) {
  std::vector<pollfd> fds;
  std::vector<Channel*> owners;
  auto last_tick = Clock::now();
  auto last_alarm_poll = last_tick;
  auto last_reopen = last_tick;
  bool rebuild = true;
  // Alarms already present at start are reported once.
  for (const CardSpan& s : card_spans_)
    if (s.alarms)
      sink.on_line_event(LineEvent{s.logical_span, now_time(), LineEventType::Alarm, s.from,
                                   s.alarms});
  while (!stop_) {
    if (rebuild) {
      fds.clear();
      owners.clear();
      for (Channel& c : channels_)
        if (c.fd >= 0) {
          fds.push_back(pollfd{c.fd, POLLIN | POLLPRI, 0});
          owners.push_back(&c);
        }
      rebuild = false;
    }
    const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(options_.tick.count()));
    if (ready < 0 && errno != EINTR) return SourceError{std::string("poll: ") + std::strerror(errno)};
    const Timestamp now = now_time();
    if (ready > 0) {
      for (std::size_t i = 0; i < fds.size(); ++i) {
        if (!fds[i].revents) continue;
        Channel& c = *owners[i];
        if (fds[i].revents & (POLLERR | POLLNVAL | POLLHUP)) {
          span_gone(c, sink, now, ENODEV);
        } else {
          if (fds[i].revents & POLLPRI) drain_events(c, sink, now);
          read_channel(c, sink, now);
        }
        if (c.fd < 0) rebuild = true;
      }
    }
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
    if (wall - last_tick >= options_.tick) {
      last_tick = wall;
      sink.on_tick(now);
    }
  }
  sink.on_line_event(LineEvent{spans_.empty() ? 0 : spans_.front().id, now_time(),
                               LineEventType::SourceEnd, Side::Pbx, 0});
  return {};
}

}  // namespace tw::hal::dahdi
