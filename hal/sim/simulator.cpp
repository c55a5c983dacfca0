// The simulator: two libpri stacks per span joined by a socketpair, driven through each call
// by the composition of its parts. The scheduler (virtual clock, queue of call steps) says
// when, the call planner which calls and which delays, the tap takes every frame a stack
// writes toward the sink and the capture, the audio player fills the B-channels, and the
// truth keeps what really happened. This file holds the stacks and the call state machine.
#include "hal/sim/simulator.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <span>
#include <thread>
#include <unordered_map>

#include "hal/sim/audio_player.hpp"
#include "hal/sim/call_planner.hpp"
#include "hal/sim/pri_stack.hpp"
#include "hal/sim/run_state.hpp"
#include "hal/sim/scheduler.hpp"
#include "hal/sim/tap.hpp"
#include "hal/sim/truth.hpp"

namespace tw::sim {

namespace {

using detail::Action;
using detail::Kind;
using detail::Micros;
using detail::seconds;
using detail::seconds_text;
using hal::Side;
using hal::Timestamp;

constexpr int side_index(Side s) {
  return s == Side::Pbx ? 0 : 1;
}
constexpr Side side_of(int i) {
  return i == 0 ? Side::Pbx : Side::Carrier;
}

// The Q.921 link comes up this long before the scenario start, so a capture from t=0 holds
// the SABME/UA exchange.
constexpr Micros kLinkLead{500'000};
// A stack pair that keeps exchanging frames this long within one instant is looping.
constexpr int kMaxPumpRounds = 100'000;
constexpr auto kLinkUpTimeout = std::chrono::seconds(5);

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

bool is_e1(const hal::SpanInfo& s) {
  return s.type == hal::SpanType::E1;
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
    std::array<Stack, 2> stacks;  // [Pbx, Carrier]
    detail::ChannelOwners owner;  // call per B-channel, -1 = idle
    int pending_ring = -1;        // call whose SETUP is on its way to the called stack
  };

  // A call's signalling state; its plan is `spec`, what it did goes to the truth.
  struct Call {
    CallSpec spec;
    int span = 0;  // index into spans
    Phase phase = Phase::Pending;
    std::array<q931_call*, 2> leg{};
    int channel = 0;
    bool owns_channel = false;
    bool reject_busy_channel = false;  // asked for a busy channel: the called side refuses
    std::size_t sent_digits = 0;       // called digits in the SETUP
    std::string received;              // called digits as the called stack reported them
    Timestamp dialled{};
    int peer_cause = 16;  // cause the non-clearing side got and echoes
  };

  Scenario sc;
  SimOptions opt;
  std::vector<hal::SpanInfo> span_infos;
  detail::RunState state;
  detail::Scheduler clock;
  detail::CallPlanner planner;
  detail::Tap tap;
  detail::AudioPlayer audio;
  detail::Truth truth_book;
  std::vector<TruthCall> truth;
  std::vector<std::unique_ptr<Span>> spans;  // stable addresses: libpri holds Stack pointers
  std::vector<Call> calls;
  std::vector<pollfd> pfds;
  std::size_t blocked = 0;
  bool ran = false;

  Impl(Scenario s, SimOptions o)
      : sc(std::move(s)),
        opt(std::move(o)),
        span_infos(sc.spans),
        clock(opt.speed, state),
        planner(sc.seed),
        tap(span_infos, sc.malformed_every, sc.seed, clock, state),
        audio(opt.audio || sc.audio, sc.seed, state) {}

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

  bool failed() const { return state.failed(); }
  void fail(std::string message) { state.fail(std::move(message)); }
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
  detail::CallLine line_of(int ci) const {
    const Call& c = calls[static_cast<std::size_t>(ci)];
    return {&c.spec, &spans[static_cast<std::size_t>(c.span)]->info, c.channel};
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
    Impl& impl = *st->impl;
    const Timestamp t = impl.tap.record(impl.span_of(*st).info.id, st->side, frame);
    if (st->marking && !st->first_write) st->first_write = t;
    const ssize_t w = ::send(st->fd.get(), buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w != static_cast<ssize_t>(n)) {
      impl.fail(std::string("span D-channel write failed: ") +
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

  // Hands the tapped frames to the sink, each after the audio chunks stamped at or before it.
  void flush(hal::SpanSink& sink) {
    for (const detail::TappedFrame& f : tap.pending()) {
      // Frames written at one instant are 1 us apart and may pass a chunk boundary.
      audio.emit_until(f.time, sink, clock);
      tap.deliver(f, sink);
    }
    tap.clear();
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
          truth_book.keypad_received(ci, e.digit.digits);
        break;
      case PRI_EVENT_HANGUP_REQ:  // the peer sent DISCONNECT
        if (const int ci = call_of(st, e.hangup.call); ci >= 0) {
          calls[static_cast<std::size_t>(ci)].peer_cause = e.hangup.cause;
          clock.schedule(clock.now() + planner.latency(), Kind::Release, ci, side_index(st.side));
        }
        break;
      case PRI_EVENT_HANGUP:  // RELEASE or RELEASE COMPLETE arrived
        if (const int ci = call_of(st, e.hangup.call); ci >= 0)
          clock.schedule(clock.now() + planner.latency(), Kind::ReleaseComplete, ci,
                         side_index(st.side));
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
      clock.schedule(clock.now() + planner.latency(), Kind::Reject, ci);
      return;
    }
    digits_arrived(ci, Kind::SetupAck);
  }

  // The called side learnt more digits: complete number -> proceed, else ask for more.
  void digits_arrived(int ci, Kind if_incomplete) {
    Call& c = calls[static_cast<std::size_t>(ci)];
    if (c.received == c.spec.called) {
      c.dialled = clock.now();
      clock.schedule(clock.now() + planner.latency(), Kind::Proceed, ci);
    } else if (c.spec.called.starts_with(c.received)) {
      if (if_incomplete == Kind::SetupAck)
        clock.schedule(clock.now() + planner.latency(), Kind::SetupAck, ci);
    } else {
      fail(call_name(ci) + ": called number arrived as '" + c.received + "'");
    }
  }

  void on_setup_ack(Stack& st, q931_call* leg) {
    const int ci = call_of(st, leg);
    if (ci < 0) return;
    Call& c = calls[static_cast<std::size_t>(ci)];
    if (st.side != c.spec.caller) return;
    planner.dial(ci, c.spec, c.sent_digits, clock);
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
      ch = detail::CallPlanner::pick_channel(sp.info, sp.owner, c.spec.caller);
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
    truth_book.started(ci, *t, ch);
    c.phase = Phase::Setup;
    sp.pending_ring = ci;
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
      truth_book.restarted(*victim, *t);
      audio.stop(*victim);
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
        planner.after_proceeding(a.index, c.spec, c.dialled, clock);
        break;
      case Kind::Alert:
        if (c.phase != Phase::Proceeding || !called_leg) return;
        // A carrier alerting the PBX also announces its in-band ringback.
        pri_acknowledge(called_ctrl, called_leg, c.channel, called == Side::Carrier ? 1 : 0);
        c.phase = Phase::Alerting;
        if (audio.enabled()) audio.ring(a.index, line_of(a.index));
        break;
      case Kind::Answer: {
        if ((c.phase != Phase::Proceeding && c.phase != Phase::Alerting) || !called_leg) return;
        Stack& st = stack(c, called);
        const auto t = marked(st, [&] { pri_answer(called_ctrl, called_leg, c.channel, 0); });
        if (!t) return fail(call_name(a.index) + ": libpri sent no CONNECT");
        truth_book.answered(a.index, *t);
        c.phase = Phase::Active;
        if (audio.enabled()) audio.answer(a.index, line_of(a.index));
        planner.after_answer(a.index, c.spec, clock);
        break;
      }
      case Kind::Keypad:
        if (c.phase != Phase::Active || !caller_leg) return;
        pri_keypad_facility(caller_ctrl, caller_leg, c.spec.keypad.c_str());
        truth_book.keypad_sent(a.index, c.spec.keypad);
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
        truth_book.cleared(a.index, *t, c.spec.cause);
        c.phase = Phase::Clearing;
        audio.stop(a.index);
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
        truth_book.cleared(a.index, *t, 44);
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

  void advance_to(Timestamp t, hal::SpanSink& sink) {
    while (clock.tick_due(t) && !state.halted()) {
      const Timestamp tick = clock.next_tick();
      audio.emit_until(tick, sink, clock);
      clock.pace(tick, sink);
      clock.advance(tick);
      pump();  // wall-time libpri timers may have fired while we waited
      flush(sink);
      sink.on_tick(tick);
      clock.tick_done();
    }
    audio.emit_until(t, sink, clock);
    clock.pace(t, sink);
    clock.advance(t);
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
    std::optional<std::vector<detail::PlannedCall>> planned = planner.order_calls(sc, state);
    if (!planned || !planner.queue_starts(sc, *planned, clock, state)) return false;
    calls.reserve(planned->size());
    for (detail::PlannedCall& p : *planned) {
      truth_book.open(p.spec);
      Call c;
      c.spec = std::move(p.spec);
      c.span = p.span;
      calls.push_back(std::move(c));
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

  hal::SourceError run(hal::SpanSink& sink) {
    if (ran) return {"the simulator runs only once"};
    ran = true;
    detail::silence_libpri();
    if (!opt.pcap_path.empty()) tap.open_pcap(opt.pcap_path, opt.pcap_format);
    audio.load(sc.calls);
    // The manifest goes with every capture, audio or not: it tells a replay each span's type
    // and switch type, which the frames do not (a mixed T1/E1 site replays right).
    if (!opt.pcap_path.empty() && !failed()) audio.open_capture(opt.pcap_path, span_infos);
    const Timestamp capture_start =
        sc.capture_from_s > 0 ? sc.start + seconds(sc.capture_from_s)
                              : Timestamp(Micros(std::numeric_limits<std::int64_t>::min()));
    tap.start(capture_start);
    audio.start(sc.start, capture_start);
    clock.start(sc.start - kLinkLead, sc.start);

    if (!failed() && build_spans() && bring_links_up() && prepare_calls()) {
      flush(sink);
      while (!clock.idle() && !state.halted()) {
        const detail::Action a = clock.next();
        advance_to(a.at, sink);
        if (state.halted()) break;
        execute(a);
        pump();
        flush(sink);
      }
      if (!state.stop_requested) check_all_cleared();
    }
    flush(sink);
    audio.stop_all();
    audio.close_capture();
    tap.close_pcap();
    truth = truth_book.finish(capture_start, audio, state);
    sink.on_tick(clock.now());
    hal::LineEvent end;
    end.time = clock.now();
    end.type = hal::LineEventType::SourceEnd;
    sink.on_line_event(end);
    return {state.error};
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
  impl_->state.stop_requested = true;
}
const std::vector<TruthCall>& Simulator::truth() const {
  return impl_->truth;
}
std::size_t Simulator::frames_tapped() const {
  return impl_->tap.frames_tapped();
}
std::size_t Simulator::frames_injected() const {
  return impl_->tap.frames_injected();
}
std::size_t Simulator::calls_blocked() const {
  return impl_->blocked;
}
std::size_t Simulator::audio_chunks() const {
  return impl_->audio.chunks();
}

}  // namespace tw::sim
