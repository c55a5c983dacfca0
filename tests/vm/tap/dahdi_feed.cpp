// tw_dahdi_feed: plays a simulator scenario onto real DAHDI loc spans, for the VM tap test
// (tests/vm/tap/tap_test.sh, docs/vm-tests.md "The tap test").
//
//   tw_dahdi_feed feed SCENARIO --pbx-span A1 --carrier-span A2 --truth OUT.jsonl
//                 [--stats OUT.json] [--dev-root /dev/dahdi] [--sysfs-spans DIR] [--speed 1]
//   tw_dahdi_feed read SECONDS SPAN...           read the spans' B-channels only, report the cost
//   tw_dahdi_feed spanconfig SPAN DCHAN          configure a span's channels as system.conf does
//   tw_dahdi_feed dyn-destroy DRIVER ADDR        DAHDI_DYNAMIC_DESTROY (e.g. loc 1:0)
//   tw_dahdi_feed dyn-create DRIVER ADDR NCHANS [DCHAN]
//                                                DAHDI_DYNAMIC_CREATE (+ spanconfig with DCHAN)
//
// `feed` runs the scenario in real time (SimOptions{.speed, .audio = true}) with a sink that
// writes what the tap would hear onto the transmit side of loc spans: everything the PBX of
// the scenario's span transmits goes out on span A1 (so it arrives on A1's peer), everything
// the carrier transmits on span A2. D-channel frames (address + control + information, as
// DFrame carries them) are written in HDLC-FCS mode with 2 spare bytes for the FCS the kernel
// computes; B-channel audio (linear, already through the span's G.711 law) is encoded back
// with SpanDSP's linear_to_ulaw/alaw, so the bytes on the wire are the simulator's exactly.
//
// Writes never block: each channel keeps a queue that a flusher thread drains when the driver
// has room. A B-channel transmits at 8000 bytes/s from the DAHDI tick; when the feeder is late
// (the kernel buffer ran dry, the channel idled) the next chunk is preceded by a few blocks of
// silence, a cushion against scheduling jitter in the VM, so a late block shifts the audio
// instead of cutting a hole into a DTMF tone. At the end the ground truth
// (sim::write_truth_jsonl) goes to --truth, and counters to --stats and standard error.
// Exit status: 0 ok, 1 failure (scenario or DAHDI), 2 bad command line.
#include <dahdi/user.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include <spandsp.h>
}

#include "hal/sim/scenario.hpp"
#include "hal/sim/simulator.hpp"

namespace {

using namespace tw;
using Clock = std::chrono::steady_clock;

constexpr int kBlock = 160;              // 20 ms at 8 kHz: one simulator chunk
constexpr int kAudioBufs = 16;           // kernel transmit buffers per B-channel (320 ms)
constexpr int kCushionBlocks = 4;        // silence ahead of audio after the buffer ran dry (80 ms)
constexpr std::size_t kMaxQueued = 200;  // per channel; beyond this the oldest is dropped

std::atomic<bool> g_stop{false};
sim::Simulator* g_sim = nullptr;

extern "C" void on_signal(int) {
  g_stop = true;
  if (g_sim) g_sim->stop();
}

int ctl_fd() {
  static int fd = -1;
  if (fd < 0) fd = ::open("/dev/dahdi/ctl", O_RDWR | O_CLOEXEC);
  if (fd < 0) std::fprintf(stderr, "/dev/dahdi/ctl: %s\n", std::strerror(errno));
  return fd;
}

int sysfs_int(const std::string& sysfs_spans, int span, const char* attr) {
  std::ifstream in(sysfs_spans + "/span-" + std::to_string(span) + "/" + attr);
  int v = -1;
  in >> v;
  return in ? v : -1;
}

// ---- the channels -------------------------------------------------------------------------

struct Counters {
  std::uint64_t frames = 0, frame_bytes = 0, blocks = 0, cushions = 0, queued = 0, dropped = 0,
                eagain = 0, events = 0, errors = 0;
};

struct Channel {
  std::string path;
  int fd = -1;
  bool dchan = false;
  bool alaw = false;
  std::deque<std::vector<std::uint8_t>> queue;  // writes waiting for room
  Clock::time_point drained{};                  // when the kernel buffer runs dry (B-channels)
};

class Writer {
 public:
  Writer(std::string dev_root, std::string sysfs_spans)
      : dev_root_(std::move(dev_root)), sysfs_spans_(std::move(sysfs_spans)) {}
  ~Writer() {
    for (auto& [key, c] : channels_)
      if (c.fd >= 0) ::close(c.fd);
  }

  // Opens span's D-channel and B-channels for writing. Errors to stderr; false on failure.
  bool open_span(int span, hal::SpanType type) {
    const int want = type == hal::SpanType::T1 ? 24 : 31;
    const int have = sysfs_int(sysfs_spans_, span, "channels");
    if (have != want) {
      std::fprintf(stderr, "span %d has %d channels, the scenario's %s span needs %d\n", span, have,
                   type == hal::SpanType::T1 ? "T1" : "E1", want);
      return false;
    }
    hal::SpanInfo info;
    info.type = type;
    for (int pos = 1; pos <= want; ++pos) {
      Channel c;
      c.dchan = pos == info.dchan();
      c.alaw = type == hal::SpanType::E1;
      char path[64];
      std::snprintf(path, sizeof path, "/chan/%03d/%03d", span, pos);
      c.path = dev_root_ + path;
      c.fd = ::open(c.path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
      if (c.fd < 0) {
        std::fprintf(stderr, "%s: %s\n", c.path.c_str(), std::strerror(errno));
        return false;
      }
      dahdi_bufferinfo bi{};
      bi.txbufpolicy = DAHDI_POLICY_IMMEDIATE;
      bi.rxbufpolicy = DAHDI_POLICY_IMMEDIATE;
      // D-channel: one frame per buffer, room for bursts. B-channel: the block size is the
      // simulator's chunk, and enough buffers to absorb the cushion and a late burst.
      bi.numbufs = c.dchan ? 16 : kAudioBufs;
      bi.bufsize = c.dchan ? 1024 : kBlock;
      if (::ioctl(c.fd, DAHDI_SET_BUFINFO, &bi) != 0) {
        std::fprintf(stderr, "%s: DAHDI_SET_BUFINFO: %s\n", c.path.c_str(), std::strerror(errno));
        return false;
      }
      channels_[{span, pos}] = std::move(c);
    }
    return true;
  }

  // A D-channel frame onto (span, pos), with room for the FCS.
  void frame(int span, int pos, std::span<const std::uint8_t> bytes) {
    std::lock_guard lock(mutex_);
    Channel* c = find(span, pos);
    if (!c) return;
    std::vector<std::uint8_t> buf(bytes.begin(), bytes.end());
    buf.push_back(0);  // the FCS, computed by the kernel
    buf.push_back(0);
    ++counters_.frames;
    counters_.frame_bytes += bytes.size();
    submit(*c, std::move(buf));
  }

  void audio(int span, int pos, std::span<const std::int16_t> samples) {
    std::lock_guard lock(mutex_);
    Channel* c = find(span, pos);
    if (!c) return;
    const auto now = Clock::now();
    if (c->queue.empty() && now >= c->drained) {
      // Idle or ran dry: put a cushion of silence in front.
      const std::uint8_t silence = c->alaw ? linear_to_alaw(0) : linear_to_ulaw(0);
      for (int i = 0; i < kCushionBlocks; ++i)
        submit(*c, std::vector<std::uint8_t>(kBlock, silence));
      ++counters_.cushions;
    }
    std::vector<std::uint8_t> buf(samples.size());
    for (std::size_t i = 0; i < samples.size(); ++i)
      buf[i] = c->alaw ? linear_to_alaw(samples[i]) : linear_to_ulaw(samples[i]);
    ++counters_.blocks;
    submit(*c, std::move(buf));
  }

  // Writes what waits; called by the flusher thread. Returns whether anything still waits.
  bool flush() {
    std::lock_guard lock(mutex_);
    bool waiting = false;
    for (auto& [key, c] : channels_) {
      drain(c);
      waiting = waiting || !c.queue.empty();
    }
    return waiting;
  }

  Counters counters() {
    std::lock_guard lock(mutex_);
    return counters_;
  }

 private:
  Channel* find(int span, int pos) {
    auto it = channels_.find({span, pos});
    if (it == channels_.end() || it->second.fd < 0) {
      ++counters_.errors;
      return nullptr;
    }
    return &it->second;
  }

  void submit(Channel& c, std::vector<std::uint8_t> buf) {
    if (!c.queue.empty()) drain(c);
    if (c.queue.empty() && write_one(c, buf)) return;
    if (c.queue.size() >= kMaxQueued) {
      c.queue.pop_front();
      ++counters_.dropped;
    }
    c.queue.push_back(std::move(buf));
    ++counters_.queued;
  }

  void drain(Channel& c) {
    while (!c.queue.empty() && write_one(c, c.queue.front())) c.queue.pop_front();
  }

  // One nonblocking write; false when the driver has no room (EAGAIN).
  bool write_one(Channel& c, const std::vector<std::uint8_t>& buf) {
    for (int attempt = 0; attempt < 8; ++attempt) {
      const ssize_t n = ::write(c.fd, buf.data(), buf.size());
      if (n == static_cast<ssize_t>(buf.size())) {
        if (!c.dchan) {
          const auto now = Clock::now();
          c.drained = std::max(c.drained, now) + std::chrono::microseconds(125 * buf.size());
        }
        return true;
      }
      if (n >= 0) {  // the driver takes at most a block: a short write is a bug here
        std::fprintf(stderr, "%s: short write %zd of %zu\n", c.path.c_str(), n, buf.size());
        ++counters_.errors;
        return true;
      }
      if (errno == EAGAIN) {
        ++counters_.eagain;
        return false;
      }
      if (errno == ELAST) {  // an event waits (alarm, underrun): read it, then write again
        int event = 0;
        while (::ioctl(c.fd, DAHDI_GETEVENT, &event) == 0 && event != DAHDI_EVENT_NONE)
          ++counters_.events;
        continue;
      }
      if (errno == EINTR) continue;
      std::fprintf(stderr, "%s: write: %s\n", c.path.c_str(), std::strerror(errno));
      ++counters_.errors;
      return true;  // dropped
    }
    return false;
  }

  std::string dev_root_, sysfs_spans_;
  std::mutex mutex_;
  std::map<std::pair<int, int>, Channel> channels_;
  Counters counters_;
};

// ---- the sink ------------------------------------------------------------------------------

class FeedSink final : public hal::SpanSink {
 public:
  FeedSink(Writer& w, int pbx_span, int carrier_span)
      : w_(w), pbx_(pbx_span), carrier_(carrier_span) {}

  void on_frame(const hal::DFrame& f) override {
    note_time(f.time);
    w_.frame(card(f.from), dchan_, f.bytes);
  }
  void on_audio(const hal::AudioChunk& a) override {
    note_time(a.time);
    w_.audio(card(a.from), a.channel, a.samples);
  }
  void on_line_event(const hal::LineEvent&) override {}
  void on_tick(hal::Timestamp now) override { note_time(now); }

  void set_dchan(int d) { dchan_ = d; }
  double max_late_ms() const { return max_late_ms_; }

 private:
  int card(hal::Side s) const { return s == hal::Side::Pbx ? pbx_ : carrier_; }
  // How far behind the virtual clock the wall clock hands things over (speed 1).
  void note_time(hal::Timestamp t) {
    const auto wall = Clock::now();
    if (!origin_set_) {
      origin_set_ = true;
      virtual_origin_ = t;
      wall_origin_ = wall;
      return;
    }
    const double late_ms = std::chrono::duration<double, std::milli>(wall - wall_origin_).count() -
                           std::chrono::duration<double, std::milli>(t - virtual_origin_).count();
    max_late_ms_ = std::max(max_late_ms_, late_ms);
  }

  Writer& w_;
  int pbx_, carrier_;
  int dchan_ = 24;
  bool origin_set_ = false;
  hal::Timestamp virtual_origin_{};
  Clock::time_point wall_origin_{};
  double max_late_ms_ = 0;
};

int usage() {
  std::fprintf(stderr,
               "usage: tw_dahdi_feed feed SCENARIO --pbx-span N --carrier-span M --truth OUT\n"
               "                     [--stats OUT.json] [--dev-root DIR] [--sysfs-spans DIR] "
               "[--speed X]\n"
               "       tw_dahdi_feed read SECONDS SPAN...\n"
               "       tw_dahdi_feed spanconfig SPAN DCHAN\n"
               "       tw_dahdi_feed dyn-destroy DRIVER ADDR\n"
               "       tw_dahdi_feed dyn-create DRIVER ADDR NCHANS [DCHAN]\n");
  return 2;
}

int feed(int argc, char** argv) {
  std::string scenario_path, truth_path, stats_path;
  std::string dev_root = "/dev/dahdi", sysfs_spans = "/sys/bus/dahdi_spans/devices";
  int pbx_span = 0, carrier_span = 0;
  double speed = 1;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    try {
      if (a == "--pbx-span")
        pbx_span = std::stoi(value());
      else if (a == "--carrier-span")
        carrier_span = std::stoi(value());
      else if (a == "--truth")
        truth_path = value();
      else if (a == "--stats")
        stats_path = value();
      else if (a == "--dev-root")
        dev_root = value();
      else if (a == "--sysfs-spans")
        sysfs_spans = value();
      else if (a == "--speed")
        speed = std::stod(value());
      else if (!a.starts_with("--") && scenario_path.empty())
        scenario_path = a;
      else
        return usage();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "tw_dahdi_feed: %s: %s\n", a.c_str(), e.what());
      return 2;
    }
  }
  if (scenario_path.empty() || truth_path.empty() || pbx_span <= 0 || carrier_span <= 0 ||
      speed <= 0)
    return usage();

  std::string error;
  std::optional<sim::Scenario> scenario = sim::load_scenario(scenario_path, error);
  if (!scenario) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  if (scenario->spans.size() != 1) {
    std::fprintf(stderr, "%s: the feeder plays one span (a tap pair), the scenario has %zu\n",
                 scenario_path.c_str(), scenario->spans.size());
    return 1;
  }
  const hal::SpanInfo span = scenario->spans.front();
  Writer writer(dev_root, sysfs_spans);
  if (!writer.open_span(pbx_span, span.type) || !writer.open_span(carrier_span, span.type))
    return 1;

  sim::Simulator simulator(std::move(*scenario),
                           sim::SimOptions{.speed = speed, .pcap_path = {}, .audio = true});
  g_sim = &simulator;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);

  FeedSink sink(writer, pbx_span, carrier_span);
  sink.set_dchan(span.dchan());
  std::atomic<bool> done{false};
  std::thread flusher([&] {
    while (!done) {
      writer.flush();
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  const auto t0 = Clock::now();
  std::fprintf(stderr, "tw_dahdi_feed: playing %s (PBX -> span %d, carrier -> span %d)\n",
               scenario_path.c_str(), pbx_span, carrier_span);
  const hal::SourceError err = simulator.run(sink);
  // What still waits goes out (a few seconds at most), then the transmit buffers drain.
  for (int i = 0; i < 1500 && writer.flush(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  done = true;
  flusher.join();
  g_sim = nullptr;
  const double run_s = std::chrono::duration<double>(Clock::now() - t0).count();

  {
    std::ofstream out(truth_path, std::ios::trunc);
    sim::write_truth_jsonl(out, simulator.truth());
    if (!out) {
      std::fprintf(stderr, "%s: cannot write\n", truth_path.c_str());
      return 1;
    }
  }
  const Counters c = writer.counters();
  nlohmann::ordered_json stats{{"scenario", scenario_path},
                               {"run_s", run_s},
                               {"calls", simulator.truth().size()},
                               {"frames_tapped", simulator.frames_tapped()},
                               {"audio_chunks", simulator.audio_chunks()},
                               {"frames_written", c.frames},
                               {"frame_bytes", c.frame_bytes},
                               {"audio_blocks", c.blocks},
                               {"cushions", c.cushions},
                               {"queued", c.queued},
                               {"eagain", c.eagain},
                               {"dropped", c.dropped},
                               {"events", c.events},
                               {"errors", c.errors},
                               {"max_late_ms", sink.max_late_ms()},
                               {"error", err.message}};
  std::fprintf(stderr, "tw_dahdi_feed: %s\n", stats.dump().c_str());
  if (!stats_path.empty()) std::ofstream(stats_path, std::ios::trunc) << stats.dump(2) << "\n";
  if (err) {
    std::fprintf(stderr, "tw_dahdi_feed: simulator: %s\n", err.message.c_str());
    return 1;
  }
  return c.errors == 0 && c.dropped == 0 ? 0 : 1;
}

// ---- span administration (the alarm part of the test) --------------------------------------

int chanconfig(int channo, int sigtype) {
  dahdi_chanconfig cc{};
  cc.chan = channo;
  cc.sigtype = sigtype;
  if (::ioctl(ctl_fd(), DAHDI_CHANCONFIG, &cc) != 0) {
    std::fprintf(stderr, "DAHDI_CHANCONFIG channel %d sigtype 0x%x: %s\n", channo, sigtype,
                 std::strerror(errno));
    return 1;
  }
  return 0;
}

int spanconfig(int span, int dchan) {
  const std::string sysfs = "/sys/bus/dahdi_spans/devices";
  const int base = sysfs_int(sysfs, span, "basechan"), n = sysfs_int(sysfs, span, "channels");
  if (base <= 0 || n <= 0) {
    std::fprintf(stderr, "span %d: not in sysfs\n", span);
    return 1;
  }
  int bad = 0;
  for (int i = 1; i <= n; ++i)
    bad |= chanconfig(base + i - 1, i == dchan ? DAHDI_SIG_HDLCFCS : DAHDI_SIG_CLEAR);
  std::printf("span %d: channels %d-%d clear, %d HDLC-FCS%s\n", span, base, base + n - 1,
              base + dchan - 1, bad ? " (with errors)" : "");
  return bad;
}

dahdi_dynamic_span dyn(const char* driver, const char* addr) {
  dahdi_dynamic_span d{};
  std::snprintf(d.driver, sizeof d.driver, "%s", driver);
  std::snprintf(d.addr, sizeof d.addr, "%s", addr);
  return d;
}

int dyn_destroy(const char* driver, const char* addr) {
  dahdi_dynamic_span d = dyn(driver, addr);
  if (::ioctl(ctl_fd(), DAHDI_DYNAMIC_DESTROY, &d) != 0) {
    std::fprintf(stderr, "dyn-destroy %s %s: %s\n", driver, addr, std::strerror(errno));
    return 1;
  }
  std::printf("dyn-destroy %s %s: ok\n", driver, addr);
  return 0;
}

int dyn_create(const char* driver, const char* addr, int nchans, int dchan) {
  dahdi_dynamic_span d = dyn(driver, addr);
  d.numchans = nchans;
  if (::ioctl(ctl_fd(), DAHDI_DYNAMIC_CREATE, &d) != 0) {
    std::fprintf(stderr, "dyn-create %s %s: %s\n", driver, addr, std::strerror(errno));
    return 1;
  }
  std::printf("dyn-create %s %s: span %d\n", driver, addr, d.spanno);
  return dchan > 0 ? spanconfig(d.spanno, dchan) : 0;
}

// Reads every B-channel of the spans for a while, as the daemon's source does (poll, one
// 20 ms block per read), without doing anything with the audio: what reading alone costs.
int read_bench(double seconds, const std::vector<int>& spans) {
  std::vector<pollfd> fds;
  for (int span : spans) {
    const int n = sysfs_int("/sys/bus/dahdi_spans/devices", span, "channels");
    for (int pos = 1; pos <= n; ++pos) {
      if (pos == (n == 24 ? 24 : 16)) continue;
      char path[64];
      std::snprintf(path, sizeof path, "/dev/dahdi/chan/%03d/%03d", span, pos);
      const int fd = ::open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
      if (fd < 0) {
        std::fprintf(stderr, "%s: %s\n", path, std::strerror(errno));
        return 1;
      }
      dahdi_bufferinfo bi{};
      bi.numbufs = 15;
      bi.bufsize = kBlock;
      int on = 1;
      if (::ioctl(fd, DAHDI_SET_BUFINFO, &bi) != 0 || ::ioctl(fd, DAHDI_BUFFER_EVENTS, &on) != 0)
        std::fprintf(stderr, "%s: ioctl: %s\n", path, std::strerror(errno));
      fds.push_back(pollfd{fd, POLLIN | POLLPRI, 0});
    }
  }
  std::uint64_t blocks = 0, overruns = 0, wakes = 0;
  std::uint8_t buf[4 * kBlock];
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    if (::poll(fds.data(), fds.size(), 100) <= 0) continue;
    ++wakes;
    for (pollfd& p : fds) {
      if (!p.revents) continue;
      for (;;) {
        const ssize_t n = ::read(p.fd, buf, sizeof buf);
        if (n > 0) {
          ++blocks;
          continue;
        }
        if (n < 0 && errno == ELAST) {
          int event = 0;
          while (::ioctl(p.fd, DAHDI_GETEVENT, &event) == 0 && event != DAHDI_EVENT_NONE)
            overruns += event == DAHDI_EVENT_READ_OVERRUN;
          continue;
        }
        break;
      }
    }
  }
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  const double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                     static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  std::printf(
      "read %zu channels for %.1f s: %llu blocks (%.0f/s, expected %zu/s), %llu wakes, "
      "%llu overruns, cpu %.2f s (%.0f %%)\n",
      fds.size(), seconds, static_cast<unsigned long long>(blocks), blocks / seconds,
      fds.size() * 50, static_cast<unsigned long long>(wakes),
      static_cast<unsigned long long>(overruns), cpu, 100 * cpu / seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string cmd = argv[1];
  if (cmd == "feed") return feed(argc, argv);
  if (cmd == "read" && argc >= 4) {
    std::vector<int> spans;
    for (int i = 3; i < argc; ++i) spans.push_back(std::atoi(argv[i]));
    return read_bench(std::atof(argv[2]), spans);
  }
  if (cmd == "spanconfig" && argc == 4) return spanconfig(std::atoi(argv[2]), std::atoi(argv[3]));
  if (cmd == "dyn-destroy" && argc == 4) return dyn_destroy(argv[2], argv[3]);
  if (cmd == "dyn-create" && (argc == 5 || argc == 6))
    return dyn_create(argv[2], argv[3], std::atoi(argv[4]), argc == 6 ? std::atoi(argv[5]) : 0);
  return usage();
}
