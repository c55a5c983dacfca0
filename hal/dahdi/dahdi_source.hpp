// The DAHDI card as a span source: the same SpanSource as the replay and the simulator, so
// the pipeline does not know which one feeds it.
//
// A passive PRI tap is two card spans, one per direction (the tap hears what the PBX
// transmits on one and what the carrier transmits on the other); they form one logical span,
// numbered after the PBX-side span, and the decoder sees one link. A D-channel is read the
// way /etc/dahdi/system.conf sets it up (DAHDI_GET_PARAMS tells): `dchan=` or `hardhdlc=`
// in DAHDI's HDLC-FCS mode (one frame per read, two FCS bytes appended, bad frames dropped by
// the driver and announced as an event); `bchan=` as raw bits (a clear 64 kbit/s channel,
// what a tap port without HDLC gives), deframed here by SoftHdlcReceiver, which counts bad
// frames and aborts the same way. B-channels are clear channels (`bchan=`) read in blocks of
// 8 or 20 ms, expanded from the span's G.711 law.
//
// The driver's ways: a read that fails with ELAST means an event is waiting
// (DAHDI_GETEVENT); alarms come as events and are also polled with DAHDI_SPANSTAT once a
// second, with the line error counters (BPV, CRC, E-bit, FAS: their increases become
// LineErrors line events); a span that disappears (the device goes away) is reported as an
// alarm and its channels are reopened every few seconds. None of these stops the source.
//
// Time: the driver stamps nothing. Frames get the time they are read (the D-channels are
// read first on every wake-up). The two spans of a pair are two receivers read one after the
// other, so a request and its response can come out of them in the wrong order; frames are
// therefore held for kFrameHold and go out in the order their Q.921 acknowledgements prove
// (a response acknowledges the request it answers), else in read order. B-channel audio is
// a continuous 8 kHz stream per channel: chunks are stamped on that stream's own clock
// (resynchronised to the read time after an overrun or a drift beyond half a second), so a
// late read does not look like a gap in the audio. A B-channel carrying a constant byte (the
// idle code of a channel without a call) is not handed on once it has for a second (nor from
// the start), until it carries something else.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hal/dahdi/soft_hdlc.hpp"
#include "trunkwatch/hal/source.hpp"

namespace tw::hal::dahdi {

// How long a D-channel frame is held so that a frame the other receiver of its pair took in
// later, but that was sent before it, can still go out first.
inline constexpr std::chrono::milliseconds kFrameHold{40};

// What sysfs says about a span (/sys/bus/dahdi_spans/devices/span-N/).
struct SpanFacts {
  int number = 0;
  std::string name;      // "DYN/loc/1:0", "TE4/0/1"
  std::string desc;      // free text
  std::string spantype;  // "T1", "E1", "J1", ...
  int basechan = 0;      // absolute number of its first channel
  int channels = 0;
  std::uint32_t alarms = 0;
  std::string alarm_text;  // as sysfs shows it
};
// Every span under `sysfs_spans` (sorted by number); error set when the directory is missing
// (the dahdi module is not loaded).
std::vector<SpanFacts> discover_spans(const std::string& sysfs_spans, std::string& error);
// T1 or E1 from the facts: the spantype, else the channel count (24 = T1, 31 = E1).
std::optional<SpanType> span_type_of(const SpanFacts& f);
// "esf/b8zs", "d4/ami", "ccs/hdb3/crc4" from DAHDI's lineconfig bits (DAHDI_SPANSTAT); ""
// when none is set (a software span, a span dahdi_cfg has not configured).
std::string line_config_text(int lineconfig);
// How much each counter went up from `before` to `now`. A counter that went down was reset
// (the span was configured again): its new value is the increase.
LineErrors counter_increase(const LineErrors& before, const LineErrors& now);

struct TapPair {
  int pbx_span = 0;              // card span receiving what the PBX transmits; the logical span id
  int carrier_span = 0;          // card span receiving what the carrier transmits
  std::optional<SpanType> type;  // default: from the card
  std::string name;
};

struct DahdiOptions {
  std::string dev_root = "/dev/dahdi";
  std::string sysfs_spans = "/sys/bus/dahdi_spans/devices";
  std::vector<TapPair> taps;            // empty: the card's spans in pairs (1+2, 3+4, ...)
  int block_ms = 20;                    // 8 or 20
  bool audio = true;                    // read the B-channels
  std::chrono::milliseconds tick{100};  // while no audio flows; with audio, every block
};

struct DahdiCounters {
  std::uint64_t frames = 0;
  std::uint64_t short_frames = 0;  // shorter than an address + control + FCS
  std::uint64_t audio_blocks = 0;
  std::uint64_t events = 0;
  std::uint64_t read_errors = 0;
  std::uint64_t reopens = 0;
  std::uint64_t idle_blocks = 0;     // B-channel blocks of idle code not handed on
  std::uint64_t reordered = 0;       // frames delivered ahead of one read before them
  std::uint64_t raw_bad_frames = 0;  // raw-bit D-channels: bad FCS, bad length
  std::uint64_t raw_aborts = 0;      // raw-bit D-channels: aborts and mark idle
};

class DahdiSource final : public SpanSource {
 public:
  explicit DahdiSource(DahdiOptions options);
  ~DahdiSource() override;
  DahdiSource(const DahdiSource&) = delete;
  DahdiSource& operator=(const DahdiSource&) = delete;

  // Finds the spans and opens their channels; an error message or "". Warnings (spans
  // paired by default) go to the log.
  std::string open();
  const std::vector<SpanInfo>& spans() const override { return spans_; }
  SourceError run(SpanSink& sink) override;
  void stop() override { stop_ = true; }
  DahdiCounters counters() const { return counters_; }

 private:
  struct Channel {
    int fd = -1;
    int card_span = 0;
    int chanpos = 0;
    int logical_span = 0;
    Side from = Side::Pbx;
    bool dchan = false;
    bool alaw = false;
    // A D-channel configured as a clear channel (`bchan=`): its bits go through this
    // receiver (made at each open, so a span that comes back starts from a clean state).
    std::unique_ptr<SoftHdlcReceiver> raw_hdlc;
    std::uint64_t raw_errors_reported = 0;
    std::uint64_t raw_aborts_seen = 0;
    std::string path;
    // B-channels: the stream's clock, and how long it has carried one constant byte.
    bool audio_clock = false;
    Timestamp audio_next{};
    int idle_ms = 0;
  };
  // A D-channel frame waiting for its turn (see deliver_frames()).
  struct PendingFrame {
    int logical_span = 0;
    Side from = Side::Pbx;
    Timestamp time{};                 // when it was read
    std::vector<std::uint8_t> bytes;  // without the FCS
  };
  struct CardSpan {
    int number = 0;
    int logical_span = 0;
    Side from = Side::Pbx;
    std::uint32_t alarms = 0;
    bool gone = false;
    std::optional<LineErrors> counted;  // the card's error counters at the last poll
    Timestamp errors_logged{};          // line errors are logged at most once a minute
  };
  std::string open_channel(Channel& c);
  std::string open_dchannel(Channel& c);
  std::string set_buffers(Channel& c, int block_bytes, int blocks, bool clear);
  void on_raw_frame(int logical_span, Side from, std::span<const std::uint8_t> frame);
  void report_raw_errors(Channel& c, SpanSink& sink, Timestamp now);
  void close_channel(Channel& c);
  void read_channel(Channel& c, SpanSink& sink, Timestamp now);
  void deliver_audio(Channel& c, std::size_t count, SpanSink& sink, Timestamp now);
  // Hands on the frames held long enough, in causal order.
  void deliver_frames(SpanSink& sink, Timestamp now);
  void drain_events(Channel& c, SpanSink& sink, Timestamp now);
  void poll_alarms(SpanSink& sink, Timestamp now);
  void count_line_errors(CardSpan& s, const LineErrors& reading, SpanSink& sink, Timestamp now);
  void report_alarms(const CardSpan& changed, SpanSink& sink, Timestamp now);
  void reopen_gone(SpanSink& sink, Timestamp now);
  void span_gone(Channel& c, SpanSink& sink, Timestamp now, int err);
  CardSpan* card_span(int number);

  DahdiOptions options_;
  std::vector<SpanInfo> spans_;
  std::vector<CardSpan> card_spans_;
  std::vector<Channel> channels_;
  int ctl_fd_ = -1;
  int last_errno_ = 0;  // of the last open_channel() failure
  std::atomic<bool> stop_{false};
  DahdiCounters counters_;
  // Read buffers, sized once: the per-read path of the B-channels allocates nothing.
  std::vector<std::uint8_t> frame_buf_;
  std::vector<std::uint8_t> audio_buf_;
  std::vector<std::int16_t> pcm_;
  std::deque<PendingFrame> pending_;                        // in read order
  std::vector<std::pair<int, Timestamp>> last_frame_time_;  // per logical span
  Timestamp raw_read_time_{};  // the read a raw D-channel's receiver is being fed from
};

}  // namespace tw::hal::dahdi
