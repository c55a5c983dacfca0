// The simulator's engine: a virtual clock, an ordered queue of actions, and two libpri stacks
// per span joined by a socketpair. Every frame a stack writes is stamped with the virtual
// clock, copied to the tap and then handed to the peer stack.
#include "hal/sim/simulator.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <ostream>
#include <queue>
#include <random>
#include <span>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "hal/replay/audio_capture.hpp"
#include "hal/replay/pcap_io.hpp"
#include "hal/sim/audio.hpp"
#include "hal/sim/pri_stack.hpp"

namespace tw::sim {

namespace {

using hal::Side;
using hal::Timestamp;
using Micros = std::chrono::microseconds;

constexpr int side_index(Side s) {
  return s == Side::Pbx ? 0 : 1;
}
constexpr Side side_of(int i) {
  return i == 0 ? Side::Pbx : Side::Carrier;
}
Micros seconds(double s) {
  return Micros(std::llround(s * 1e6));
}
double to_seconds(Micros d) {
  return static_cast<double>(d.count()) / 1e6;
}
std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%gs", s);
  return buf;
}

// The Q.921 link comes up this long before the scenario start, so a capture from t=0 holds
// the SABME/UA exchange.
constexpr Micros kLinkLead{500'000};
constexpr Micros kTick{1'000'000};
// B-channel audio goes out in 20 ms chunks on a grid from the scenario start.
constexpr Micros kAudioChunk{20'000};
constexpr int kMaxChannel = 31;
// A stack pair that keeps exchanging frames this long within one instant is looping.
constexpr int kMaxPumpRounds = 100'000;
constexpr auto kLinkUpTimeout = std::chrono::seconds(5);
constexpr auto kMaxSleepSlice = std::chrono::milliseconds(100);

enum class Kind : std::uint8_t {
  Place,
  SetupAck,
  Digit,
  Proceed,
  Alert,
  Answer,
  Keypad,
  Clear,
  Release,
  ReleaseComplete,
  Reject,
  Restart,
};

struct Action {
  Timestamp at;
  std::uint64_t seq;
  Kind kind;
  int index;  // call, or restart for Kind::Restart
  int arg;    // digit position (Digit) or side index (Release, ReleaseComplete)
  bool operator>(const Action& o) const { return std::tie(at, seq) > std::tie(o.at, o.seq); }
};

enum class Phase : std::uint8_t {
  Pending,
  Blocked,
  Setup,
  Overlap,
  Proceeding,
  Alerting,
  Active,
  Clearing,
  Done,
};

struct Tapped {
  int span;
  Side from;
  Timestamp time;
  std::vector<std::uint8_t> bytes;
};

bool is_e1(const hal::SpanInfo& s) {
  return s.type == hal::SpanType::E1;
}

bool valid_channel(const hal::SpanInfo& s, int ch) {
  if (is_e1(s)) return ch >= 1 && ch <= 31 && ch != 16;
  return ch >= 1 && ch <= 23;
}

}  // namespace

struct Simulator::Impl {
  struct Stack {
    Impl* impl = nullptr;
    int span = 0;  // index into spans
    Side side = Side::Pbx;
    detail::UniqueFd fd;
    detail::PriHandle ctrl;
    bool up = false;
    // Set around one libpri call to learn the time stamped on the first frame it wrote.
    bool marking = false;
    std::optional<Timestamp> first_write;
    std::unordered_map<q931_call*, int> calls;  // libpri call leg -> index into calls
  };

  struct Span {
    hal::SpanInfo info;
    std::array<Stack, 2> stacks;             // [Pbx, Carrier]
    std::array<int, kMaxChannel + 1> owner;  // call per B-channel, -1 = idle
    int pending_ring = -1;                   // call whose SETUP is on its way to the called stack
  };

  struct Call {
    CallSpec spec;
    int span = 0;
    Phase phase = Phase::Pending;
    std::array<q931_call*, 2> leg{};
    int channel = 0;
    bool owns_channel = false;
    bool reject_busy_channel = false;  // asked for a busy channel: the called side refuses
    std::size_t sent_digits = 0;       // called digits in the SETUP
    std::string received;              // called digits as the called stack reported them
    std::string keypad_received;
    Timestamp dialled{};
    int peer_cause = 16;  // cause the non-clearing side got and echoes
    TruthCall truth;
    std::unique_ptr<detail::CallAudio> audio;   // with audio, from ALERTING or CONNECT on
    std::array<int, 2> capture_stream{-1, -1};  // AudioCaptureWriter stream per side
  };

  Scenario sc;
  SimOptions opt;
  std::vector<hal::SpanInfo> span_infos;
  std::vector<std::unique_ptr<Span>> spans;  // stable addresses: libpri holds Stack pointers
  std::vector<Call> calls;
  std::vector<TruthCall> truth;
  std::priority_queue<Action, std::vector<Action>, std::greater<>> queue;
  std::uint64_t seq = 0;
  Timestamp now{}, last_stamp{}, capture_start{}, next_tick{};
  std::vector<Tapped> pending;
  std::vector<pollfd> pfds;
  std::size_t tapped = 0, injected = 0, blocked = 0;
  std::mt19937_64 rng, garbage_rng;
  std::string error;
  std::atomic<bool> stop_requested{false};
  bool ran = false;
  hal::PcapWriter pcap;
  std::chrono::steady_clock::time_point wall_origin;
  Timestamp virtual_origin{};
  // B-channel audio (SimOptions::audio or the scenario's [audio] enabled).
  bool audio_on = false;
  std::unique_ptr<detail::AudioLibrary> audio_library;
  std::vector<int> audio_calls;  // calls with a direction on the air, by span and channel
  Timestamp audio_next{};        // the next chunk's time
  std::array<std::int16_t, hal::kChunkSamples> audio_buffer{};
  hal::AudioCaptureWriter audio_capture;
  std::size_t audio_chunks = 0;

  Impl(Scenario s, SimOptions o) : sc(std::move(s)), opt(std::move(o)) {
    span_infos = sc.spans;
    audio_on = opt.audio || sc.audio;
    rng.seed(sc.seed);
    garbage_rng.seed(static_cast<std::uint64_t>(sc.seed) * 0x9e3779b97f4a7c15ull + 1);
  }

  ~Impl() {
    // Free every call libpri still holds before the controllers are abandoned.
    for (auto& sp : spans) {
      for (Stack& st : sp->stacks) {
        for (auto& [leg, index] : st.calls) pri_destroycall(st.ctrl.get(), leg);
        st.calls.clear();
      }
    }
  }

  // ---- bookkeeping helpers -------------------------------------------------------------

  bool failed() const { return !error.empty(); }
  void fail(std::string message) {
    if (error.empty()) error = std::move(message);
  }
  Span& span_of(const Stack& st) { return *spans[static_cast<std::size_t>(st.span)]; }
  Stack& stack(Call& c, Side s) {
    return spans[static_cast<std::size_t>(c.span)]->stacks[side_index(s)];
  }
  Side called_side(const Call& c) const { return hal::other(c.spec.caller); }
  std::string call_name(int ci) const {
    const Call& c = calls[static_cast<std::size_t>(ci)];
    return "call at " + seconds_text(c.spec.at_s) + " on span " + std::to_string(c.spec.span) +
           " to " + c.spec.called;
  }

  void schedule(Timestamp at, Kind kind, int index, int arg = 0) {
    queue.push(Action{std::max(at, now), seq++, kind, index, arg});
  }
  // How long a switch or PBX takes to answer a message: a few tens of milliseconds.
  Micros latency() { return Micros(1000 * std::uniform_int_distribution<int>(8, 30)(rng)); }

  Timestamp stamp() {
    last_stamp = std::max(now, last_stamp + Micros(1));
    return last_stamp;
  }

  // Runs `fn` (one libpri call on `st`) and returns the time stamped on the first frame it
  // wrote, if any.
  template <typename Fn>
  std::optional<Timestamp> marked(Stack& st, Fn&& fn) {
    st.marking = true;
    st.first_write.reset();
    fn();
    st.marking = false;
    return st.first_write;
  }

  // ---- libpri I/O ----------------------------------------------------------------------

  static int write_cb(struct pri* p, void* buf, int len) {
    auto* st = static_cast<Stack*>(pri_get_userdata(p));
    if (!st || len < 2) return -1;
    // libpri appends two bytes for the FCS that a DAHDI D-channel would fill in.
    const auto n = static_cast<std::size_t>(len - 2);
    const std::span<const std::uint8_t> frame(static_cast<const std::uint8_t*>(buf), n);
    st->impl->tap(*st, frame);
    const ssize_t w = ::send(st->fd.get(), buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w != static_cast<ssize_t>(n)) {
      st->impl->fail(std::string("span D-channel write failed: ") +
                     (w < 0 ? std::strerror(errno) : "short write"));
      return -1;
    }
    return len;
  }

  static int read_cb(struct pri* p, void* buf, int len) {
    auto* st = static_cast<Stack*>(pri_get_userdata(p));
    if (!st || len < 3) return 0;
    const ssize_t r = ::recv(st->fd.get(), buf, static_cast<std::size_t>(len - 2), MSG_DONTWAIT);
    if (r <= 0) return 0;
    // libpri expects the two FCS bytes a DAHDI read carries, and ignores their value.
    std::memset(static_cast<char*>(buf) + r, 0, 2);
    return static_cast<int>(r) + 2;
  }

  void tap(Stack& st, std::span<const std::uint8_t> bytes) {
    const Timestamp t = stamp();
    if (st.marking && !st.first_write) st.first_write = t;
    if (t < capture_start) return;
    const int span_id = span_of(st).info.id;
    pending.push_back(Tapped{span_id, st.side, t, {bytes.begin(), bytes.end()}});
    ++tapped;
    if (sc.malformed_every > 0 && tapped % static_cast<std::size_t>(sc.malformed_every) == 0) {
      std::vector<std::uint8_t> junk = garbage(bytes);
      pending.push_back(Tapped{span_id, st.side, stamp(), std::move(junk)});
      ++injected;
    }
  }

  // A frame a decoder must survive, shaped after the real one just tapped.
  std::vector<std::uint8_t> garbage(std::span<const std::uint8_t> real) {
    auto& g = garbage_rng;
    auto pick = [&g](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g); };
    auto byte = [&] { return static_cast<std::uint8_t>(pick(0, 255)); };
    const bool real_q931 = real.size() >= 8 && (real[2] & 1) == 0 && real[4] == 0x08;
    std::vector<std::uint8_t> out;
    // An I-frame header: the real address if there is one, a plausible N(S)/N(R).
    auto i_header = [&] {
      out.push_back(real.size() >= 2 ? real[0] : 0x00);
      out.push_back(real.size() >= 2 ? real[1] : 0x01);
      out.push_back(static_cast<std::uint8_t>(pick(0, 127) << 1));
      out.push_back(static_cast<std::uint8_t>(pick(0, 127) << 1));
    };
    switch (pick(0, 3)) {
      case 0: {  // random bytes
        const int n = pick(1, 48);
        for (int i = 0; i < n; ++i) out.push_back(byte());
        break;
      }
      case 1: {  // the real frame, cut short
        if (real.size() >= 2) {
          const auto n = static_cast<std::size_t>(pick(1, static_cast<int>(real.size()) - 1));
          out.assign(real.begin(), real.begin() + static_cast<std::ptrdiff_t>(n));
        } else {
          out = {byte()};
        }
        break;
      }
      case 2: {  // Q.931 with an IE whose length runs past the end of the frame
        const std::size_t cr_len = real_q931 ? (real[5] & 0x0f) : 0;
        if (real_q931 && real.size() >= 7 + cr_len) {
          out.assign(real.begin(), real.begin() + static_cast<std::ptrdiff_t>(7 + cr_len));
        } else {
          i_header();
          const std::uint8_t types[] = {0x05, 0x07, 0x0f, 0x45, 0x4d, 0x5a, 0x7b};
          out.insert(out.end(), {0x08, 0x02, byte(), byte(), types[pick(0, 6)]});
        }
        const std::uint8_t ies[] = {0x04, 0x08, 0x18, 0x1e, 0x2c, 0x6c, 0x70};
        out.push_back(ies[pick(0, 6)]);
        out.push_back(static_cast<std::uint8_t>(pick(16, 255)));
        for (int i = pick(0, 3); i > 0; --i) out.push_back(byte());
        break;
      }
      default: {  // unknown protocol discriminator
        const std::uint8_t pds[] = {0x02, 0x09, 0x10, 0x2a, 0x55, 0xaa, 0xfe};
        if (real_q931) {
          out.assign(real.begin(), real.end());
        } else {
          i_header();
          out.insert(out.end(), {0x08, 0x02, byte(), byte(), 0x05, 0x04, 0x03, 0x80, 0x90, 0xa2});
        }
        out[4] = pds[pick(0, 6)];
        break;
      }
    }
    return out;
  }

  void flush(hal::SpanSink& sink) {
    for (const Tapped& f : pending) {
      // Frames written at one instant are 1 us apart and may pass a chunk boundary.
      emit_audio_until(f.time, sink);
      hal::DFrame d;
      d.span = f.span;
      d.from = f.from;
      d.time = f.time;
      d.bytes = f.bytes;
      sink.on_frame(d);
      if (pcap.is_open() && !failed()) {
        if (std::string err = pcap.write(d, role_of_span(f.span)); !err.empty())
          fail(opt.pcap_path + ": " + err);
      }
    }
    pending.clear();
  }

  hal::Role role_of_span(int id) const {
    for (const hal::SpanInfo& s : span_infos)
      if (s.id == id) return s.pbx_role;
    return hal::Role::User;
  }

  // ---- B-channel audio -------------------------------------------------------------------

  std::uint64_t audio_seed(int ci) const {
    // splitmix64 of (seed, call): calls differ, runs of one scenario repeat exactly.
    std::uint64_t x = static_cast<std::uint64_t>(sc.seed) * 0x9e3779b97f4a7c15ull +
                      static_cast<std::uint64_t>(ci) + 1;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
  }

  detail::CallAudio& call_audio(int ci) {
    Call& c = calls[static_cast<std::size_t>(ci)];
    if (!c.audio) {
      const hal::SpanInfo& info = spans[static_cast<std::size_t>(c.span)]->info;
      c.audio =
          std::make_unique<detail::CallAudio>(*audio_library, c.spec, info.type, audio_seed(ci));
      // Kept by span and channel: chunks of one instant go out in that order, as a replay
      // of the capture delivers them.
      const auto at = std::find_if(audio_calls.begin(), audio_calls.end(), [&](int other) {
        const Call& o = calls[static_cast<std::size_t>(other)];
        return std::pair(o.spec.span, o.channel) > std::pair(c.spec.span, c.channel);
      });
      audio_calls.insert(at, ci);
    }
    return *c.audio;
  }

  // The first clearing message (or a RESTART) takes the call off the air.
  void stop_audio(int ci) {
    Call& c = calls[static_cast<std::size_t>(ci)];
    if (!c.audio) return;
    c.audio->stop();
    for (int& id : c.capture_stream) {
      if (id >= 0) audio_capture.end(id);
      id = -1;
    }
    std::erase(audio_calls, ci);
  }

  // Every chunk stamped at or before `t`; at one instant by span, channel, Pbx before Carrier.
  // A chunk goes out before any frame of the same time: it is stamped with its first sample.
  void emit_audio_until(Timestamp t, hal::SpanSink& sink) {
    if (!audio_on) return;
    while (audio_next <= t && !stop_requested && !failed()) {
      if (audio_calls.empty()) {  // nothing on the air: skip ahead on the grid
        audio_next += kAudioChunk * ((t - audio_next) / kAudioChunk + 1);
        return;
      }
      pace(audio_next, sink);
      for (const int ci : audio_calls) emit_call_audio(ci, sink);
      audio_next += kAudioChunk;
    }
  }

  void emit_call_audio(int ci, hal::SpanSink& sink) {
    Call& c = calls[static_cast<std::size_t>(ci)];
    const hal::SpanInfo& info = spans[static_cast<std::size_t>(c.span)]->info;
    for (const Side side : {Side::Pbx, Side::Carrier}) {
      if (!c.audio->active(side)) continue;
      c.audio->render(side, audio_buffer);
      if (audio_next < capture_start) continue;
      hal::AudioChunk chunk;
      chunk.span = info.id;
      chunk.channel = c.channel;
      chunk.from = side;
      chunk.time = audio_next;
      chunk.samples = audio_buffer;
      sink.on_audio(chunk);
      ++audio_chunks;
      if (!audio_capture.is_open()) continue;
      int& id = c.capture_stream[side_index(side)];
      if (id < 0)
        id = audio_capture.begin(info.id, c.channel, side, audio_next,
                                 is_e1(info) ? hal::AudioEncoding::Alaw : hal::AudioEncoding::Ulaw,
                                 ci + 1);
      audio_capture.write(id, audio_buffer);
      if (!audio_capture.error().empty()) fail(audio_capture.error());
    }
  }

  // ---- pumping the stacks ----------------------------------------------------------------

  void run_timers() {
    timeval wall{};
    ::gettimeofday(&wall, nullptr);
    for (auto& sp : spans) {
      for (Stack& st : sp->stacks) {
        // libpri's timers (T200, T203, T3xx) run on wall time.
        const timeval* next = pri_schedule_next(st.ctrl.get());
        if (!next) continue;
        if (next->tv_sec > wall.tv_sec ||
            (next->tv_sec == wall.tv_sec && next->tv_usec > wall.tv_usec))
          continue;
        if (pri_event* e = pri_schedule_run(st.ctrl.get())) handle(st, *e);
      }
    }
  }

  // Lets both stacks of every span talk until no socket holds a frame.
  void pump() {
    for (int round = 0; round < kMaxPumpRounds; ++round) {
      if (failed()) return;
      run_timers();
      pfds.clear();
      for (auto& sp : spans)
        for (Stack& st : sp->stacks) pfds.push_back(pollfd{st.fd.get(), POLLIN, 0});
      const int n = ::poll(pfds.data(), pfds.size(), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail(std::string("poll: ") + std::strerror(errno));
        return;
      }
      if (n == 0) return;
      std::size_t i = 0;
      for (auto& sp : spans) {
        for (Stack& st : sp->stacks) {
          if (pfds[i++].revents & POLLIN) {
            if (pri_event* e = pri_check_event(st.ctrl.get())) handle(st, *e);
          }
        }
      }
    }
    fail("libpri stacks did not go quiet (message loop?)");
  }

  // ---- libpri events ---------------------------------------------------------------------

  int call_of(Stack& st, q931_call* leg) {
    const auto it = st.calls.find(leg);
    return it == st.calls.end() ? -1 : it->second;
  }

  void handle(Stack& st, const pri_event& e) {
    switch (e.e) {
      case PRI_EVENT_DCHAN_UP:
        st.up = true;
        break;
      case PRI_EVENT_DCHAN_DOWN:
        st.up = false;
        fail("span " + std::to_string(span_of(st).info.id) + ": D-channel went down on the " +
             std::string(hal::to_string(st.side)) + " side");
        break;
      case PRI_EVENT_RING:
        on_ring(st, e.ring);
        break;
      case PRI_EVENT_SETUP_ACK:
        on_setup_ack(st, e.setup_ack.call);
        break;
      case PRI_EVENT_INFO_RECEIVED:
        on_info(st, e.ring);
        break;
      case PRI_EVENT_KEYPAD_DIGIT:
        if (const int ci = call_of(st, e.digit.call); ci >= 0)
          calls[static_cast<std::size_t>(ci)].keypad_received += e.digit.digits;
        break;
      case PRI_EVENT_HANGUP_REQ:  // the peer sent DISCONNECT
        if (const int ci = call_of(st, e.hangup.call); ci >= 0) {
          calls[static_cast<std::size_t>(ci)].peer_cause = e.hangup.cause;
          schedule(now + latency(), Kind::Release, ci, side_index(st.side));
        }
        break;
      case PRI_EVENT_HANGUP:  // RELEASE or RELEASE COMPLETE arrived
        if (const int ci = call_of(st, e.hangup.call); ci >= 0)
          schedule(now + latency(), Kind::ReleaseComplete, ci, side_index(st.side));
        break;
      case PRI_EVENT_HANGUP_ACK:  // our RELEASE was completed
        // libpri has freed the leg already: only forget it.
        if (const int ci = call_of(st, e.hangup.call); ci >= 0) drop_leg(ci, st.side);
        break;
      default:  // PROCEEDING, RINGING, ANSWER, CONNECT_ACK, RESTART(_ACK), ...: nothing to do
        break;
    }
  }

  void on_ring(Stack& st, const pri_event_ring& ring) {
    Span& sp = span_of(st);
    const int ci = sp.pending_ring;
    if (ci < 0 || calls[static_cast<std::size_t>(ci)].spec.caller == st.side) {
      fail("span " + std::to_string(sp.info.id) + ": unexpected SETUP on the " +
           std::string(hal::to_string(st.side)) + " side");
      return;
    }
    sp.pending_ring = -1;
    Call& c = calls[static_cast<std::size_t>(ci)];
    c.leg[side_index(st.side)] = ring.call;
    st.calls[ring.call] = ci;
    if ((ring.channel & 0xff) != c.channel)
      fail(call_name(ci) + ": SETUP arrived for channel " + std::to_string(ring.channel & 0xff));
    if (c.spec.calling != ring.callingnum)
      fail(call_name(ci) + ": calling number arrived as '" + ring.callingnum + "'");
    c.received = ring.callednum;
    if (c.reject_busy_channel) {
      schedule(now + latency(), Kind::Reject, ci);
      return;
    }
    digits_arrived(ci, Kind::SetupAck);
  }

  // The called side learnt more digits: complete number -> proceed, else ask for more.
  void digits_arrived(int ci, Kind if_incomplete) {
    Call& c = calls[static_cast<std::size_t>(ci)];
    if (c.received == c.spec.called) {
      c.dialled = now;
      schedule(now + latency(), Kind::Proceed, ci);
    } else if (c.spec.called.starts_with(c.received)) {
      if (if_incomplete == Kind::SetupAck) schedule(now + latency(), Kind::SetupAck, ci);
    } else {
      fail(call_name(ci) + ": called number arrived as '" + c.received + "'");
    }
  }

  void on_setup_ack(Stack& st, q931_call* leg) {
    const int ci = call_of(st, leg);
    if (ci < 0) return;
    Call& c = calls[static_cast<std::size_t>(ci)];
    if (st.side != c.spec.caller) return;
    // One digit per INFORMATION, at a human dialling pace.
    Timestamp t = now;
    for (std::size_t k = c.sent_digits; k < c.spec.called.size(); ++k) {
      t += Micros(1000 * std::uniform_int_distribution<int>(150, 450)(rng));
      schedule(t, Kind::Digit, ci, static_cast<int>(k));
    }
  }

  void on_info(Stack& st, const pri_event_ring& info) {
    const int ci = call_of(st, info.call);
    if (ci < 0) return;
    Call& c = calls[static_cast<std::size_t>(ci)];
    if (st.side == c.spec.caller || c.phase != Phase::Overlap) return;
    c.received += info.callednum;
    digits_arrived(ci, Kind::Digit);
  }

  void drop_leg(int ci, Side s) {
    Call& c = calls[static_cast<std::size_t>(ci)];
    q931_call*& leg = c.leg[side_index(s)];
    if (!leg) return;
    stack(c, s).calls.erase(leg);
    leg = nullptr;
    if (!c.leg[0] && !c.leg[1]) {
      c.phase = Phase::Done;
      if (c.owns_channel) {
        spans[static_cast<std::size_t>(c.span)]->owner[static_cast<std::size_t>(c.channel)] = -1;
        c.owns_channel = false;
      }
    }
  }

  // ---- actions ---------------------------------------------------------------------------

  int pick_channel(const Span& sp, Side caller) const {
    const int last = sp.info.type == hal::SpanType::E1 ? 31 : 23;
    // The PBX hunts up from the bottom, the carrier down from the top: fewer glare races.
    if (caller == Side::Pbx) {
      for (int ch = 1; ch <= last; ++ch)
        if (valid_channel(sp.info, ch) && sp.owner[static_cast<std::size_t>(ch)] < 0) return ch;
    } else {
      for (int ch = last; ch >= 1; --ch)
        if (valid_channel(sp.info, ch) && sp.owner[static_cast<std::size_t>(ch)] < 0) return ch;
    }
    return 0;
  }

  void place(int ci) {
    Call& c = calls[static_cast<std::size_t>(ci)];
    Span& sp = *spans[static_cast<std::size_t>(c.span)];
    if (sp.pending_ring >= 0) {
      fail(call_name(sp.pending_ring) + ": the SETUP never reached the called side");
      return;
    }
    int ch = c.spec.channel;
    if (ch > 0) {
      c.reject_busy_channel = sp.owner[static_cast<std::size_t>(ch)] >= 0;
    } else {
      ch = pick_channel(sp, c.spec.caller);
      if (ch == 0) {
        c.phase = Phase::Blocked;
        ++blocked;
        return;
      }
    }
    c.channel = ch;
    if (!c.reject_busy_channel) {
      sp.owner[static_cast<std::size_t>(ch)] = ci;
      c.owns_channel = true;
    }
    Stack& st = sp.stacks[side_index(c.spec.caller)];
    q931_call* leg = pri_new_call(st.ctrl.get());
    if (!leg) {
      fail(call_name(ci) + ": libpri has no call reference left");
      return;
    }
    c.leg[side_index(c.spec.caller)] = leg;
    st.calls[leg] = ci;

    detail::UniqueSr sr(pri_sr_new());
    pri_sr_set_channel(sr.get(), ch, /*exclusive=*/1, /*nonisdn=*/0);
    pri_sr_set_bearer(sr.get(), PRI_TRANS_CAP_SPEECH,
                      is_e1(sp.info) ? PRI_LAYER_1_ALAW : PRI_LAYER_1_ULAW);
    // Overlap sending: the SETUP holds the first digit, INFORMATION messages the rest.
    std::string called = c.spec.overlap ? c.spec.called.substr(0, 1) : c.spec.called;
    c.sent_digits = called.size();
    pri_sr_set_called(sr.get(), called.data(), PRI_UNKNOWN, c.spec.overlap ? 0 : 1);
    std::string calling = c.spec.calling;
    pri_sr_set_caller(sr.get(), calling.empty() ? nullptr : calling.data(), nullptr, PRI_UNKNOWN,
                      c.spec.caller == Side::Pbx ? PRES_ALLOWED_USER_NUMBER_NOT_SCREENED
                                                 : PRES_ALLOWED_NETWORK_NUMBER);
    int rc = -1;
    const auto t = marked(st, [&] { rc = pri_setup(st.ctrl.get(), leg, sr.get()); });
    if (rc != 0 || !t) {
      fail(call_name(ci) + ": libpri refused the SETUP");
      return;
    }
    c.truth.start = t;
    c.phase = Phase::Setup;
    sp.pending_ring = ci;
  }

  // After CALL PROCEEDING: when to alert, answer or clear (docs/scenarios.md has the rules).
  void plan_after_proceeding(int ci) {
    Call& c = calls[static_cast<std::size_t>(ci)];
    const Timestamp base = c.dialled;
    const Timestamp soon = now + Micros(1000);
    const Timestamp ring_at = std::max(base + seconds(c.spec.ring_s), soon);
    if (c.spec.answer_after_s) {
      const Timestamp answer_at = std::max(base + seconds(*c.spec.answer_after_s), soon);
      // Answered before it would have rung: CONNECT without ALERTING.
      if (c.spec.ring_s < *c.spec.answer_after_s) schedule(ring_at, Kind::Alert, ci);
      schedule(answer_at, Kind::Answer, ci);
      return;
    }
    const bool rejection = c.spec.clearer == called_side(c) && c.spec.cause != 16 &&
                           c.spec.cause != 18 && c.spec.cause != 19;
    if (rejection) {
      schedule(ring_at, Kind::Clear, ci);
    } else {
      schedule(ring_at, Kind::Alert, ci);
      schedule(ring_at + seconds(c.spec.talk_s), Kind::Clear, ci);
    }
  }

  void restart(int ri) {
    const RestartSpec& r = sc.restarts[static_cast<std::size_t>(ri)];
    Span* sp = find_span(r.span);
    if (!sp) return;
    std::optional<int> victim;
    if (const int ci = sp->owner[static_cast<std::size_t>(r.channel)]; ci >= 0) {
      // The RESTART takes the channel's call with it: both stacks forget it silently, as
      // a PBX or switch does when its peer restarts a busy channel.
      Call& c = calls[static_cast<std::size_t>(ci)];
      for (int s = 0; s < 2; ++s) {
        if (c.leg[static_cast<std::size_t>(s)]) {
          pri_destroycall(stack(c, side_of(s)).ctrl.get(), c.leg[static_cast<std::size_t>(s)]);
          drop_leg(ci, side_of(s));
        }
      }
      victim = ci;
    }
    Stack& st = sp->stacks[side_index(r.side)];
    int rc = -1;
    const auto t = marked(st, [&] { rc = pri_reset(st.ctrl.get(), r.channel); });
    if (rc != 0 || !t) {
      fail("span " + std::to_string(r.span) + ": libpri refused the RESTART");
      return;
    }
    if (victim) {
      Call& c = calls[static_cast<std::size_t>(*victim)];
      if (!c.truth.end) c.truth.end = t;
      stop_audio(*victim);
    }
  }

  void execute(const Action& a) {
    if (a.kind == Kind::Restart) {
      restart(a.index);
      return;
    }
    if (a.kind == Kind::Place) {
      place(a.index);
      return;
    }
    Call& c = calls[static_cast<std::size_t>(a.index)];
    const Side caller = c.spec.caller;
    const Side called = called_side(c);
    q931_call* caller_leg = c.leg[side_index(caller)];
    q931_call* called_leg = c.leg[side_index(called)];
    pri* caller_ctrl = stack(c, caller).ctrl.get();
    pri* called_ctrl = stack(c, called).ctrl.get();
    switch (a.kind) {
      case Kind::SetupAck:
        if (c.phase != Phase::Setup || !called_leg) return;
        pri_need_more_info(called_ctrl, called_leg, c.channel, 0);
        c.phase = Phase::Overlap;
        break;
      case Kind::Digit:
        if (c.phase != Phase::Overlap || !caller_leg) return;
        pri_information(caller_ctrl, caller_leg, c.spec.called[static_cast<std::size_t>(a.arg)]);
        break;
      case Kind::Proceed:
        if ((c.phase != Phase::Setup && c.phase != Phase::Overlap) || !called_leg) return;
        pri_proceeding(called_ctrl, called_leg, c.channel, 0);
        c.phase = Phase::Proceeding;
        plan_after_proceeding(a.index);
        break;
      case Kind::Alert:
        if (c.phase != Phase::Proceeding || !called_leg) return;
        // A carrier alerting the PBX also announces its in-band ringback.
        pri_acknowledge(called_ctrl, called_leg, c.channel, called == Side::Carrier ? 1 : 0);
        c.phase = Phase::Alerting;
        if (audio_on) call_audio(a.index).ring();
        break;
      case Kind::Answer: {
        if ((c.phase != Phase::Proceeding && c.phase != Phase::Alerting) || !called_leg) return;
        Stack& st = stack(c, called);
        const auto t = marked(st, [&] { pri_answer(called_ctrl, called_leg, c.channel, 0); });
        if (!t) return fail(call_name(a.index) + ": libpri sent no CONNECT");
        c.truth.answer = t;
        c.phase = Phase::Active;
        if (audio_on) call_audio(a.index).answer();
        if (!c.spec.keypad.empty())
          schedule(now + seconds(std::min(1.5, c.spec.talk_s / 2)), Kind::Keypad, a.index);
        schedule(now + seconds(c.spec.talk_s), Kind::Clear, a.index);
        break;
      }
      case Kind::Keypad:
        if (c.phase != Phase::Active || !caller_leg) return;
        pri_keypad_facility(caller_ctrl, caller_leg, c.spec.keypad.c_str());
        c.truth.keypad = c.spec.keypad;
        break;
      case Kind::Clear: {
        if (c.phase != Phase::Proceeding && c.phase != Phase::Alerting && c.phase != Phase::Active)
          return;
        const Side x = c.spec.clearer;
        q931_call* leg = c.leg[side_index(x)];
        if (!leg) return;
        Stack& st = stack(c, x);
        const auto t = marked(st, [&] { pri_hangup(st.ctrl.get(), leg, c.spec.cause); });
        if (!t) return fail(call_name(a.index) + ": libpri sent no clearing message");
        c.truth.end = t;
        c.truth.cause = c.spec.cause;
        c.phase = Phase::Clearing;
        stop_audio(a.index);
        break;
      }
      case Kind::Release: {
        const Side s = side_of(a.arg);
        if (q931_call* leg = c.leg[side_index(s)])
          pri_hangup(stack(c, s).ctrl.get(), leg, c.peer_cause);
        break;
      }
      case Kind::ReleaseComplete: {
        const Side s = side_of(a.arg);
        if (q931_call* leg = c.leg[side_index(s)]) {
          pri_hangup(stack(c, s).ctrl.get(), leg, c.peer_cause);
          drop_leg(a.index, s);  // sent RELEASE COMPLETE (or had): libpri freed the leg
        }
        break;
      }
      case Kind::Reject: {
        if (c.phase != Phase::Setup || !called_leg) return;
        Stack& st = stack(c, called);
        // Cause 44 in Call Present state: libpri sends RELEASE COMPLETE and frees the leg.
        const auto t = marked(st, [&] { pri_hangup(called_ctrl, called_leg, 44); });
        if (!t) return fail(call_name(a.index) + ": libpri sent no RELEASE COMPLETE");
        c.truth.end = t;
        c.truth.cause = 44;
        c.phase = Phase::Clearing;
        drop_leg(a.index, called);
        break;
      }
      case Kind::Place:
      case Kind::Restart:
        break;
    }
  }

  // ---- clock -----------------------------------------------------------------------------

  // Waits until the wall clock has caught up with virtual time `t` (speed > 0 only). A wait
  // longer than a slice ticks the sink with the time reached so far after each slice, so a
  // daemon fed by a slow simulation (--speed below 1) still serves its signals and socket.
  void pace(Timestamp t, hal::SpanSink& sink) {
    if (opt.speed <= 0) return;
    const auto offset = std::chrono::duration<double>(to_seconds(t - virtual_origin) / opt.speed);
    const auto target =
        wall_origin + std::chrono::duration_cast<std::chrono::steady_clock::duration>(offset);
    while (!stop_requested) {
      const auto left = target - std::chrono::steady_clock::now();
      if (left <= std::chrono::steady_clock::duration::zero()) return;
      std::this_thread::sleep_for(
          std::min<std::chrono::steady_clock::duration>(left, kMaxSleepSlice));
      if (left > kMaxSleepSlice && !stop_requested) sink.on_tick(now);
    }
  }

  void advance_to(Timestamp t, hal::SpanSink& sink) {
    while (next_tick <= t && !stop_requested && !failed()) {
      emit_audio_until(next_tick, sink);
      pace(next_tick, sink);
      now = std::max(now, next_tick);
      pump();  // wall-time libpri timers may have fired while we waited
      flush(sink);
      sink.on_tick(next_tick);
      next_tick += kTick;
    }
    emit_audio_until(t, sink);
    pace(t, sink);
    now = std::max(now, t);
  }

  // ---- set-up and the main loop ----------------------------------------------------------

  Span* find_span(int id) {
    for (auto& sp : spans)
      if (sp->info.id == id) return sp.get();
    return nullptr;
  }

  bool build_spans() {
    for (const hal::SpanInfo& info : sc.spans) {
      if (find_span(info.id)) {
        fail("span " + std::to_string(info.id) + " is defined twice");
        return false;
      }
      auto sp = std::make_unique<Span>();
      sp->info = info;
      sp->owner.fill(-1);
      int sv[2];
      if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
        fail(std::string("socketpair: ") + std::strerror(errno));
        return false;
      }
      sp->stacks[0].fd = detail::UniqueFd(sv[0]);
      sp->stacks[1].fd = detail::UniqueFd(sv[1]);
      const int sw = detail::libpri_switch_type(info.switch_type, info.type);
      spans.push_back(std::move(sp));
      Span& s = *spans.back();
      for (int i = 0; i < 2; ++i) {
        Stack& st = s.stacks[static_cast<std::size_t>(i)];
        st.impl = this;
        st.span = static_cast<int>(spans.size() - 1);
        st.side = side_of(i);
        const bool network = (st.side == Side::Pbx) == (info.pbx_role == hal::Role::Network);
        // pri_new_cb sends the first SABME from inside, through write_cb.
        st.ctrl = detail::PriHandle(
            pri_new_cb(st.fd.get(), network ? PRI_NETWORK : PRI_CPE, sw, read_cb, write_cb, &st));
        if (!st.ctrl) {
          fail("span " + std::to_string(info.id) + ": libpri could not create a stack");
          return false;
        }
        // Overlap receiving (SETUP ACKNOWLEDGE, digits in INFORMATION) on both ends.
        pri_set_overlapdial(st.ctrl.get(), 1);
        // Q.931 5.3.2 clearing: RELEASE COMPLETE for cause 44 before any other answer.
        pri_hangup_fix_enable(st.ctrl.get(), 1);
      }
    }
    return true;
  }

  bool bring_links_up() {
    const auto deadline = std::chrono::steady_clock::now() + kLinkUpTimeout;
    for (;;) {
      pump();
      if (failed()) return false;
      bool all_up = true;
      for (auto& sp : spans)
        for (Stack& st : sp->stacks) all_up = all_up && st.up;
      if (all_up) return true;
      if (std::chrono::steady_clock::now() > deadline) {
        fail("Q.921 links did not come up");
        return false;
      }
      // SABME collisions resolve on T200, a wall-clock timer.
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  bool prepare_calls() {
    std::vector<CallSpec> specs = sc.calls;
    std::stable_sort(specs.begin(), specs.end(),
                     [](const CallSpec& a, const CallSpec& b) { return a.at_s < b.at_s; });
    for (CallSpec& spec : specs) {
      Call c;
      const Span* sp = find_span(spec.span);
      if (!sp) {
        fail("call at " + seconds_text(spec.at_s) + ": no span " + std::to_string(spec.span));
        return false;
      }
      if (spec.channel != 0 && !valid_channel(sp->info, spec.channel)) {
        fail("call at " + seconds_text(spec.at_s) + ": span " + std::to_string(spec.span) +
             " has no B-channel " + std::to_string(spec.channel));
        return false;
      }
      if (spec.called.empty()) {
        fail("call at " + seconds_text(spec.at_s) + ": no called number");
        return false;
      }
      for (std::size_t i = 0; i < spans.size(); ++i)
        if (spans[i].get() == sp) c.span = static_cast<int>(i);
      c.truth.span = spec.span;
      c.truth.direction = spec.caller == Side::Pbx ? "outbound" : "inbound";
      c.truth.calling = spec.calling;
      c.truth.called = spec.called;
      c.spec = std::move(spec);
      calls.push_back(std::move(c));
    }
    for (std::size_t i = 0; i < calls.size(); ++i)
      schedule(sc.start + seconds(calls[i].spec.at_s), Kind::Place, static_cast<int>(i));
    for (std::size_t i = 0; i < sc.restarts.size(); ++i) {
      const RestartSpec& r = sc.restarts[i];
      const Span* sp = find_span(r.span);
      if (!sp || !valid_channel(sp->info, r.channel)) {
        fail("restart at " + seconds_text(r.at_s) + ": no B-channel " + std::to_string(r.channel) +
             " on span " + std::to_string(r.span));
        return false;
      }
      schedule(sc.start + seconds(r.at_s), Kind::Restart, static_cast<int>(i));
    }
    return true;
  }

  // Every call placed must have been taken down on both stacks: anything else means libpri
  // and the simulator disagree about a call's state.
  void check_all_cleared() {
    for (std::size_t i = 0; i < calls.size(); ++i) {
      const Call& c = calls[i];
      if (c.leg[0] || c.leg[1]) {
        fail(call_name(static_cast<int>(i)) + ": still up on the " +
             std::string(hal::to_string(side_of(c.leg[0] ? 0 : 1))) + " side at the end");
        return;
      }
    }
  }

  void finish_truth() {
    truth.clear();
    for (Call& c : calls) {
      if (!c.truth.start) continue;  // never placed (blocked, or stopped early)
      if (c.truth.end && *c.truth.end < capture_start) continue;  // over before the capture
      TruthCall t = c.truth;
      t.channel = c.channel;
      if (audio_on) {
        t.audio = true;
        t.call_type = "unknown";
        if (c.audio) {
          t.digits_in = c.audio->digits(Side::Carrier);
          t.digits_out = c.audio->digits(Side::Pbx);
          t.call_type = c.audio->expected_call_type();
          t.second_dial_tone = c.audio->dial_tone_played();
        }
        if (!t.digits_in.empty()) t.digits = "in:" + t.digits_in;
        if (!t.digits_out.empty()) t.digits += (t.digits.empty() ? "out:" : " out:") + t.digits_out;
      }
      t.partial = *t.start < capture_start;
      t.duration_s = t.answer && t.end ? to_seconds(*t.end - *t.answer) : 0.0;
      truth.push_back(std::move(t));
      if (!c.truth.keypad.empty() && c.keypad_received != c.truth.keypad && !stop_requested)
        fail("keypad digits arrived as '" + c.keypad_received + "' instead of '" + c.truth.keypad +
             "'");
    }
    std::stable_sort(truth.begin(), truth.end(),
                     [](const TruthCall& a, const TruthCall& b) { return *a.start < *b.start; });
  }

  hal::SourceError run(hal::SpanSink& sink) {
    if (ran) return {"the simulator runs only once"};
    ran = true;
    detail::silence_libpri();
    if (!opt.pcap_path.empty()) {
      if (std::string err = pcap.open(opt.pcap_path, opt.pcap_format); !err.empty())
        fail(opt.pcap_path + ": " + err);
    }
    if (audio_on) {
      audio_library = std::make_unique<detail::AudioLibrary>();
      const bool speech = std::any_of(sc.calls.begin(), sc.calls.end(), [](const CallSpec& c) {
        return c.answer_after_s && c.audio == AudioContent::Speech;
      });
      if (speech) audio_library->load_prompts();
    }
    // The manifest goes with every capture, audio or not: it tells a replay each span's type
    // and switch type, which the frames do not (a mixed T1/E1 site replays right).
    if (!opt.pcap_path.empty() && !failed()) {
      if (std::string err = audio_capture.open(opt.pcap_path, span_infos, audio_on); !err.empty())
        fail(err);
    }
    capture_start = sc.capture_from_s > 0
                        ? sc.start + seconds(sc.capture_from_s)
                        : Timestamp(Micros(std::numeric_limits<std::int64_t>::min()));
    now = sc.start - kLinkLead;
    last_stamp = now - Micros(1);
    next_tick = sc.start;
    audio_next = sc.start;
    virtual_origin = now;
    wall_origin = std::chrono::steady_clock::now();

    if (!failed() && build_spans() && bring_links_up() && prepare_calls()) {
      flush(sink);
      while (!queue.empty() && !stop_requested && !failed()) {
        const Action a = queue.top();
        queue.pop();
        advance_to(a.at, sink);
        if (stop_requested || failed()) break;
        execute(a);
        pump();
        flush(sink);
      }
      if (!stop_requested) check_all_cleared();
    }
    flush(sink);
    for (std::size_t i = 0; i < calls.size(); ++i) stop_audio(static_cast<int>(i));
    if (audio_capture.is_open()) {
      if (std::string err = audio_capture.close(); !err.empty()) fail(err);
    }
    if (pcap.is_open()) {
      if (std::string err = pcap.close(); !err.empty() && !failed())
        fail(opt.pcap_path + ": " + err);
    }
    finish_truth();
    sink.on_tick(now);
    hal::LineEvent end;
    end.time = now;
    end.type = hal::LineEventType::SourceEnd;
    sink.on_line_event(end);
    return {error};
  }
};

// ---- Simulator -----------------------------------------------------------------------------

Simulator::Simulator(Scenario scenario, SimOptions options)
    : impl_(std::make_unique<Impl>(std::move(scenario), std::move(options))) {}

Simulator::~Simulator() = default;

const std::vector<hal::SpanInfo>& Simulator::spans() const {
  return impl_->span_infos;
}
hal::SourceError Simulator::run(hal::SpanSink& sink) {
  return impl_->run(sink);
}
void Simulator::stop() {
  impl_->stop_requested = true;
}
const std::vector<TruthCall>& Simulator::truth() const {
  return impl_->truth;
}
std::size_t Simulator::frames_tapped() const {
  return impl_->tapped;
}
std::size_t Simulator::frames_injected() const {
  return impl_->injected;
}
std::size_t Simulator::calls_blocked() const {
  return impl_->blocked;
}
std::size_t Simulator::audio_chunks() const {
  return impl_->audio_chunks;
}

// ---- truth output --------------------------------------------------------------------------

void write_truth_jsonl(std::ostream& out, const std::vector<TruthCall>& calls) {
  auto time_or_null = [](const std::optional<Timestamp>& t) {
    return t ? nlohmann::ordered_json(hal::format_time(*t)) : nlohmann::ordered_json(nullptr);
  };
  for (const TruthCall& c : calls) {
    nlohmann::ordered_json j;
    j["span"] = c.span;
    j["channel"] = c.channel ? nlohmann::ordered_json(*c.channel) : nlohmann::ordered_json(nullptr);
    j["direction"] = c.direction;
    j["calling"] = c.calling;
    j["called"] = c.called;
    j["start"] = time_or_null(c.start);
    j["answer"] = time_or_null(c.answer);
    j["end"] = time_or_null(c.end);
    j["duration_s"] = std::round(c.duration_s * 1000.0) / 1000.0;
    j["cause"] = c.cause ? nlohmann::ordered_json(*c.cause) : nlohmann::ordered_json(nullptr);
    j["partial"] = c.partial;
    if (!c.keypad.empty()) j["keypad"] = c.keypad;
    if (c.audio) {
      j["digits"] = c.digits;
      j["digits_in"] = c.digits_in;
      j["digits_out"] = c.digits_out;
      j["call_type"] = c.call_type;
      j["second_dial_tone"] = c.second_dial_tone;
    }
    out << j.dump() << '\n';
  }
}

}  // namespace tw::sim
