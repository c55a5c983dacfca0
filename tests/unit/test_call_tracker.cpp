// Call tracker lifecycle, fed hand-built Q.931 messages (independent of the decoder).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "monitor/calls/call_tracker.hpp"

namespace tw::calls {
namespace {

using namespace std::chrono_literals;
using hal::Side;
namespace msg = q931::msg;

struct Recorder : CallEventSink {
  std::vector<CallRecord> ended;
  std::vector<CallEventType> events;
  void on_call_event(const CallEvent& e) override {
    events.push_back(e.type);
    if (e.type == CallEventType::Ended) ended.push_back(*e.call);
  }
};

const Timestamp t0 = Timestamp(std::chrono::sys_days(std::chrono::year{2027} / 1 / 5)) + 9h;

q931::Message make(std::uint8_t type, std::uint16_t cref, bool flag) {
  q931::Message m;
  m.protocol = q931::kPdQ931;
  m.call_ref_len = 2;
  m.call_ref = cref;
  m.call_ref_flag = flag;
  m.type = type;
  return m;
}

q931::Message setup(std::uint16_t cref, std::string_view calling, std::string_view called,
                    int channel) {
  auto m = make(msg::kSetup, cref, false);
  m.calling.present = true;
  m.calling.digits.append(calling);
  m.called.present = true;
  m.called.digits.append(called);
  if (channel) {
    m.channel.present = true;
    m.channel.primary_rate = true;
    m.channel.exclusive = true;
    m.channel.channel = static_cast<std::uint8_t>(channel);
  }
  m.bearer.present = true;
  return m;
}

q931::Message with_channel(q931::Message m, int channel) {
  m.channel.present = true;
  m.channel.channel = static_cast<std::uint8_t>(channel);
  return m;
}

q931::Message with_cause(q931::Message m, int cause) {
  m.cause.present = true;
  m.cause.value = static_cast<std::uint8_t>(cause);
  m.cause.location = 2;
  return m;
}

class TrackerTest : public ::testing::Test {
 protected:
  static hal::SpanInfo span_three() {
    hal::SpanInfo s;
    s.id = 3;
    return s;
  }
  hal::SpanInfo span = span_three();
  Recorder rec;
  CallTracker tracker{span, rec};
};

TEST_F(TrackerTest, AnsweredOutboundCallHasEveryField) {
  tracker.on_message(setup(0x12, "2125551000", "3125559999", 5), Side::Pbx, t0);
  tracker.on_message(with_channel(make(msg::kCallProceeding, 0x12, true), 5), Side::Carrier,
                     t0 + 40ms);
  tracker.on_message(make(msg::kAlerting, 0x12, true), Side::Carrier, t0 + 1s);
  tracker.on_message(make(msg::kConnect, 0x12, true), Side::Carrier, t0 + 5s);
  tracker.on_message(make(msg::kConnectAck, 0x12, false), Side::Pbx, t0 + 5010ms);
  tracker.on_message(with_cause(make(msg::kDisconnect, 0x12, true), 16), Side::Carrier,
                     t0 + 65s + 250ms);
  tracker.on_message(make(msg::kRelease, 0x12, false), Side::Pbx, t0 + 65300ms);
  ASSERT_TRUE(rec.ended.empty());
  tracker.on_message(make(msg::kReleaseComplete, 0x12, true), Side::Carrier, t0 + 65400ms);
  ASSERT_EQ(rec.ended.size(), 1u);
  const CallRecord& r = rec.ended[0];
  EXPECT_EQ(r.span, 3);
  EXPECT_EQ(r.channel, 5);
  EXPECT_EQ(r.direction, Direction::Outbound);
  EXPECT_EQ(r.calling, "2125551000");
  EXPECT_EQ(r.called, "3125559999");
  EXPECT_EQ(r.start, t0);
  EXPECT_EQ(r.answer, t0 + 5s);
  EXPECT_EQ(r.end, t0 + 65250ms);
  EXPECT_DOUBLE_EQ(r.duration_s, 60.25);
  EXPECT_EQ(r.cause, 16);
  EXPECT_FALSE(r.partial);
  EXPECT_EQ(r.cleared_by, Side::Carrier);
  EXPECT_EQ(r.end_reason, EndReason::Released);
  EXPECT_EQ(rec.events,
            (std::vector{CallEventType::Started, CallEventType::Answered, CallEventType::Ended}));
  EXPECT_EQ(tracker.active_calls(), 0u);
}

TEST_F(TrackerTest, InboundUnansweredCallKeepsFirstClearingCause) {
  tracker.on_message(setup(0x0001, "4420794600", "5551234", 7), Side::Carrier, t0);
  tracker.on_message(with_cause(make(msg::kReleaseComplete, 0x0001, true), 17), Side::Pbx, t0 + 2s);
  ASSERT_EQ(rec.ended.size(), 1u);
  const CallRecord& r = rec.ended[0];
  EXPECT_EQ(r.direction, Direction::Inbound);
  EXPECT_FALSE(r.answer.has_value());
  EXPECT_EQ(r.duration_s, 0);
  EXPECT_EQ(r.cause, 17);
  EXPECT_EQ(r.end, t0 + 2s);
  EXPECT_EQ(r.cleared_by, Side::Pbx);
}

TEST_F(TrackerTest, SameCallReferenceFromBothSidesIsTwoCalls) {
  // Call references are allocated independently by each side (Q.931 4.3).
  tracker.on_message(setup(0x21, "100", "200", 1), Side::Pbx, t0);
  tracker.on_message(setup(0x21, "300", "400", 2), Side::Carrier, t0 + 1ms);
  EXPECT_EQ(tracker.active_calls(), 2u);
  tracker.on_message(make(msg::kReleaseComplete, 0x21, false), Side::Carrier, t0 + 1s);
  ASSERT_EQ(rec.ended.size(), 1u);
  EXPECT_EQ(rec.ended[0].called, "400");
  EXPECT_EQ(rec.ended[0].direction, Direction::Inbound);
}

TEST_F(TrackerTest, OverlapDigitsExtendTheCalledNumber) {
  tracker.on_message(setup(0x30, "2125551000", "01", 0), Side::Pbx, t0);
  tracker.on_message(with_channel(make(msg::kSetupAck, 0x30, true), 9), Side::Carrier, t0 + 20ms);
  auto info = make(msg::kInformation, 0x30, false);
  info.called.present = true;
  info.called.digits.append("14420");
  tracker.on_message(info, Side::Pbx, t0 + 100ms);
  auto keypad = make(msg::kInformation, 0x30, false);
  keypad.keypad.append("7946");
  tracker.on_message(keypad, Side::Pbx, t0 + 200ms);
  tracker.on_message(make(msg::kReleaseComplete, 0x30, true), Side::Carrier, t0 + 1s);
  ASSERT_EQ(rec.ended.size(), 1u);
  EXPECT_EQ(rec.ended[0].called,
            "011442079"
            "46");
  EXPECT_EQ(rec.ended[0].channel, 9);
}

TEST_F(TrackerTest, CallSeenFirstMidSessionIsPartial) {
  tracker.on_message(with_cause(make(msg::kDisconnect, 0x44, true), 16), Side::Carrier, t0);
  tracker.on_message(make(msg::kRelease, 0x44, false), Side::Pbx, t0 + 10ms);
  tracker.on_message(make(msg::kReleaseComplete, 0x44, true), Side::Carrier, t0 + 20ms);
  ASSERT_EQ(rec.ended.size(), 1u);
  const CallRecord& r = rec.ended[0];
  EXPECT_TRUE(r.partial);
  // Flag 1 from the carrier: the PBX allocated the reference, so the PBX placed the call.
  EXPECT_EQ(r.direction, Direction::Outbound);
  EXPECT_EQ(r.end, t0);
  EXPECT_EQ(r.cause, 16);
  EXPECT_EQ(r.calling, "");
  // A late message for the call just closed opens nothing.
  tracker.on_message(make(msg::kReleaseComplete, 0x44, true), Side::Carrier, t0 + 1s);
  EXPECT_EQ(tracker.active_calls(), 0u);
  EXPECT_EQ(tracker.stats().late_messages, 1u);
}

TEST_F(TrackerTest, RestartClearsTheNamedChannelOnly) {
  tracker.on_message(setup(1, "1", "2", 4), Side::Pbx, t0);
  tracker.on_message(setup(2, "3", "4", 6), Side::Pbx, t0);
  auto restart = make(msg::kRestart, 0, false);
  restart.restart.present = true;
  restart.restart.restart_class = 0;
  tracker.on_message(with_channel(restart, 6), Side::Carrier, t0 + 3s);
  ASSERT_EQ(rec.ended.size(), 1u);
  EXPECT_EQ(rec.ended[0].channel, 6);
  EXPECT_EQ(rec.ended[0].end_reason, EndReason::Restart);
  EXPECT_EQ(rec.ended[0].end, t0 + 3s);
  EXPECT_FALSE(rec.ended[0].cause.has_value());
  auto all = make(msg::kRestart, 0, false);
  all.restart.present = true;
  all.restart.restart_class = 7;
  tracker.on_message(all, Side::Carrier, t0 + 4s);
  EXPECT_EQ(rec.ended.size(), 2u);
  EXPECT_EQ(tracker.active_calls(), 0u);
}

TEST_F(TrackerTest, GlareLoserIsNotClosedByTheWinner) {
  // Both sides seize channel 3 at once; the network's call wins, the user's is released.
  tracker.on_message(setup(0x10, "100", "200", 3), Side::Pbx, t0);
  tracker.on_message(setup(0x90, "300", "400", 3), Side::Carrier, t0 + 1ms);
  tracker.on_message(with_channel(make(msg::kCallProceeding, 0x90, true), 3), Side::Pbx, t0 + 30ms);
  EXPECT_EQ(tracker.active_calls(), 2u);
  tracker.on_message(with_cause(make(msg::kReleaseComplete, 0x10, true), 44), Side::Carrier,
                     t0 + 40ms);
  ASSERT_EQ(rec.ended.size(), 1u);
  EXPECT_EQ(rec.ended[0].cause, 44);
  EXPECT_EQ(rec.ended[0].end_reason, EndReason::Released);
}

TEST_F(TrackerTest, ConfirmedChannelTakenByANewCallClosesTheOldOne) {
  tracker.on_message(setup(1, "1", "2", 8), Side::Pbx, t0);
  tracker.on_message(with_channel(make(msg::kCallProceeding, 1, true), 8), Side::Carrier,
                     t0 + 10ms);
  tracker.on_message(make(msg::kConnect, 1, true), Side::Carrier, t0 + 2s);
  // The clearing of call 1 was lost; an hour later channel 8 carries a new call.
  tracker.on_message(setup(2, "5", "6", 8), Side::Carrier, t0 + 1h);
  tracker.on_message(with_channel(make(msg::kCallProceeding, 2, true), 8), Side::Pbx,
                     t0 + 1h + 10ms);
  ASSERT_EQ(rec.ended.size(), 1u);
  EXPECT_EQ(rec.ended[0].end_reason, EndReason::ChannelReused);
  EXPECT_EQ(rec.ended[0].end, t0 + 2s);  // the last time call 1 was seen
  EXPECT_EQ(tracker.active_calls(), 1u);
}

TEST_F(TrackerTest, TimeoutsDependOnTheCallState) {
  tracker.on_message(setup(1, "1", "2", 1), Side::Pbx, t0);  // never answered
  tracker.on_message(setup(2, "3", "4", 2), Side::Pbx, t0);
  tracker.on_message(make(msg::kConnect, 2, true), Side::Carrier, t0 + 1s);  // answered
  tracker.on_tick(t0 + 239s);
  EXPECT_EQ(rec.ended.size(), 0u);
  tracker.on_tick(t0 + 241s);
  ASSERT_EQ(rec.ended.size(), 1u);
  EXPECT_EQ(rec.ended[0].called, "2");
  EXPECT_EQ(rec.ended[0].end_reason, EndReason::Timeout);
  // An answered call is closed by the guard only after a week without a sign of life.
  tracker.on_tick(t0 + 25h);
  tracker.on_tick(t0 + 1s + std::chrono::days(7));
  EXPECT_EQ(rec.ended.size(), 1u);
  tracker.on_tick(t0 + 2s + std::chrono::days(7));
  ASSERT_EQ(rec.ended.size(), 2u);
  EXPECT_EQ(rec.ended[1].end_reason, EndReason::Timeout);
}

TEST_F(TrackerTest, CloseAllEndsOpenCallsAtCaptureEnd) {
  tracker.on_message(setup(1, "1", "2", 1), Side::Pbx, t0);
  tracker.on_message(make(msg::kConnect, 1, true), Side::Carrier, t0 + 1s);
  tracker.close_all(t0 + 31s, EndReason::CaptureEnd);
  ASSERT_EQ(rec.ended.size(), 1u);
  EXPECT_EQ(rec.ended[0].end_reason, EndReason::CaptureEnd);
  EXPECT_DOUBLE_EQ(rec.ended[0].duration_s, 30.0);
}

TEST_F(TrackerTest, HostileBytesAreSanitized) {
  auto m = setup(1, "12\n3\x1b[2J", "45\"6\\", 1);
  m.display.append(std::string_view("Eve\r\nBcc: x@y\xff", 14));
  tracker.on_message(m, Side::Carrier, t0);
  tracker.close_all(t0 + 1s, EndReason::CaptureEnd);
  ASSERT_EQ(rec.ended.size(), 1u);
  EXPECT_EQ(rec.ended[0].calling, "12\\x0A3\\x1B[2J");
  EXPECT_EQ(rec.ended[0].called, "45\"6\\\\");
  EXPECT_EQ(rec.ended[0].calling_name, "Eve\\x0D\\x0ABcc: x@y\\xFF");
}

InbandEvent dtmf(Timestamp t, Side from, char digit) {
  InbandEvent e;
  e.time = t;
  e.from = from;
  e.kind = InbandEvent::Kind::Dtmf;
  e.digit = digit;
  return e;
}

InbandEvent tone(Timestamp t, Side from, std::string name) {
  InbandEvent e;
  e.time = t;
  e.from = from;
  e.kind = InbandEvent::Kind::Tone;
  e.tone = std::move(name);
  return e;
}

TEST_F(TrackerTest, InbandDigitsJoinTheCallOnTheirChannelPerDirection) {
  tracker.on_message(setup(0x51, "4420794600", "2125550100", 12), Side::Carrier, t0);
  tracker.on_message(make(msg::kConnect, 0x51, true), Side::Pbx, t0 + 1s);
  tracker.on_inband(12, tone(t0 + 3s, Side::Pbx, "dial"));  // the PBX offers a line
  for (char d : std::string("4711#")) tracker.on_inband(12, dtmf(t0 + 5s, Side::Carrier, d));
  tracker.on_inband(12, dtmf(t0 + 6s, Side::Pbx, '1'));
  tracker.on_inband(13, dtmf(t0 + 6s, Side::Carrier, '9'));  // no call on channel 13
  tracker.on_message(make(msg::kReleaseComplete, 0x51, false), Side::Carrier, t0 + 9s);
  ASSERT_EQ(rec.ended.size(), 1u);
  const CallRecord& r = rec.ended[0];
  EXPECT_EQ(r.digits, "in:4711# out:1");
  EXPECT_EQ(r.digits_in, "4711#");
  EXPECT_EQ(r.digits_out, "1");
  EXPECT_EQ(r.second_dial_tone, t0 + 3s);
  EXPECT_EQ(r.inband.size(), 7u);
  EXPECT_EQ(tracker.stats().inband_without_call, 1u);
  EXPECT_EQ(std::count(rec.events.begin(), rec.events.end(), CallEventType::Inband), 7);
  // No audio meter: the call type stays the default.
  EXPECT_EQ(r.call_type, "voice");
}

TEST_F(TrackerTest, DialToneBeforeAnswerOrOnOutboundCallsIsNotASecondDialTone) {
  tracker.on_message(setup(0x52, "4420794600", "2125550100", 3), Side::Carrier, t0);
  tracker.on_inband(3, tone(t0 + 1s, Side::Pbx, "dial"));  // before answer
  tracker.on_message(setup(0x53, "2125550100", "3125550000", 4), Side::Pbx, t0);
  tracker.on_message(make(msg::kConnect, 0x53, true), Side::Carrier, t0 + 1s);
  tracker.on_inband(4, tone(t0 + 2s, Side::Pbx, "dial"));  // outbound call
  tracker.close_all(t0 + 5s, EndReason::CaptureEnd);
  ASSERT_EQ(rec.ended.size(), 2u);
  EXPECT_FALSE(rec.ended[0].second_dial_tone.has_value());
  EXPECT_FALSE(rec.ended[1].second_dial_tone.has_value());
}

TEST_F(TrackerTest, CallTypeComesFromWhatWasHeardWhenTheChannelHasAudio) {
  double voice = 100.0;  // seconds of voice on the channel before the call
  tracker.set_audio_meter([&](int channel) -> std::optional<double> {
    if (channel == 7) return voice;
    return std::nullopt;
  });
  tracker.on_message(setup(0x61, "1", "2", 7), Side::Pbx, t0);
  tracker.on_message(make(msg::kConnect, 0x61, true), Side::Carrier, t0 + 1s);
  tracker.on_inband(7, tone(t0 + 2s, Side::Carrier, "ans"));
  tracker.on_inband(7, tone(t0 + 3s, Side::Pbx, "fax-cng"));
  tracker.on_message(make(msg::kReleaseComplete, 0x61, false), Side::Pbx, t0 + 60s);
  // Silent call on the same channel: voice did not grow, nothing heard.
  tracker.on_message(setup(0x62, "1", "2", 7), Side::Pbx, t0 + 2min);
  tracker.on_message(make(msg::kConnect, 0x62, true), Side::Carrier, t0 + 2min + 1s);
  tracker.on_message(make(msg::kReleaseComplete, 0x62, false), Side::Pbx, t0 + 3min);
  // A conversation: 40 s of voice.
  tracker.on_message(setup(0x63, "1", "2", 7), Side::Pbx, t0 + 4min);
  voice += 40;
  tracker.on_message(make(msg::kReleaseComplete, 0x63, false), Side::Pbx, t0 + 5min);
  // No audio on channel 8: the default stays.
  tracker.on_message(setup(0x64, "1", "2", 8), Side::Pbx, t0 + 6min);
  tracker.on_message(make(msg::kReleaseComplete, 0x64, false), Side::Pbx, t0 + 7min);
  ASSERT_EQ(rec.ended.size(), 4u);
  EXPECT_EQ(rec.ended[0].call_type, "fax");
  EXPECT_EQ(rec.ended[1].call_type, "unknown");
  EXPECT_EQ(rec.ended[2].call_type, "voice");
  EXPECT_EQ(rec.ended[3].call_type, "voice");
}

// The detectors report a digit still pending when a call's audio stopped once the stream has
// been silent a while: after the call ended, maybe after the next call on the channel began.
// It joins the call it was heard on, whose record waits inband_grace for it when digits were
// keyed until shortly before its end.
TEST_F(TrackerTest, LateDetectionJoinsTheEndedCallItWasHeardOn) {
  tracker.set_audio_meter([](int channel) -> std::optional<double> {
    if (channel == 5) return 0.0;  // a silent line
    return std::nullopt;
  });
  tracker.on_message(setup(0x71, "4420794600", "2125550100", 5), Side::Carrier, t0);
  tracker.on_message(make(msg::kConnect, 0x71, true), Side::Pbx, t0 + 1s);
  tracker.on_message(setup(0x73, "2125550101", "3125550001", 8), Side::Pbx, t0 + 1s);
  tracker.on_inband(5, dtmf(t0 + 2500ms, Side::Carrier, '4'));
  tracker.on_inband(5, dtmf(t0 + 2700ms, Side::Carrier, '7'));
  tracker.on_message(with_cause(make(msg::kDisconnect, 0x71, false), 16), Side::Carrier, t0 + 3s);
  tracker.on_message(make(msg::kRelease, 0x71, true), Side::Pbx, t0 + 3020ms);
  tracker.on_message(make(msg::kReleaseComplete, 0x71, false), Side::Carrier, t0 + 3040ms);
  EXPECT_EQ(tracker.active_calls(), 1u);
  EXPECT_TRUE(rec.ended.empty()) << "final inband_grace after its end";
  // No audio on channel 8: final at once, but records come out in the order calls ended.
  tracker.on_message(make(msg::kReleaseComplete, 0x73, true), Side::Carrier, t0 + 3300ms);
  EXPECT_TRUE(rec.ended.empty());
  tracker.on_message(setup(0x72, "2125550100", "3125550000", 5), Side::Pbx, t0 + 3500ms);
  tracker.on_inband(5, dtmf(t0 + 2900ms, Side::Carrier, '1'));  // heard on the first call
  tracker.on_inband(5, dtmf(t0 + 3200ms, Side::Carrier, '2'));  // between the two calls
  tracker.on_tick(t0 + 4s);
  EXPECT_TRUE(rec.ended.empty());
  tracker.on_tick(t0 + 5s);
  ASSERT_EQ(rec.ended.size(), 2u);
  EXPECT_EQ(rec.ended[0].call_ref, 0x71);
  EXPECT_EQ(rec.ended[0].digits, "in:471");
  EXPECT_EQ(rec.ended[1].call_ref, 0x73);
  tracker.on_inband(5, dtmf(t0 + 2950ms, Side::Carrier, '3'));  // too late: final already
  tracker.on_message(make(msg::kReleaseComplete, 0x72, true), Side::Carrier, t0 + 9s);
  tracker.close_all(t0 + 10s, EndReason::CaptureEnd);
  ASSERT_EQ(rec.ended.size(), 3u);
  EXPECT_EQ(rec.ended[2].call_ref, 0x72);
  EXPECT_EQ(rec.ended[2].digits, "");
  EXPECT_EQ(tracker.stats().inband_without_call, 2u);
  EXPECT_EQ(tracker.stats().calls, 3u);
}

// Nothing keyed near the end: nothing can be pending, the record is final at once. A digit
// reported late all the same goes to no call rather than to the next one on the channel.
TEST_F(TrackerTest, RecordIsFinalAtOnceWithoutKeyingNearTheEnd) {
  tracker.set_audio_meter([](int) -> std::optional<double> { return 0.0; });
  tracker.on_message(setup(0x74, "4420794600", "2125550100", 5), Side::Carrier, t0);
  tracker.on_message(make(msg::kConnect, 0x74, true), Side::Pbx, t0 + 1s);
  tracker.on_inband(5, dtmf(t0 + 2s, Side::Carrier, '9'));
  tracker.on_message(make(msg::kReleaseComplete, 0x74, false), Side::Carrier, t0 + 8s);
  ASSERT_EQ(rec.ended.size(), 1u);
  EXPECT_EQ(rec.ended[0].digits, "in:9");
  EXPECT_EQ(rec.ended[0].call_type, "voice");  // keyed digits mean a person
  tracker.on_message(setup(0x75, "2125550100", "3125550000", 5), Side::Pbx, t0 + 8500ms);
  tracker.on_inband(5, dtmf(t0 + 7900ms, Side::Carrier, '1'));
  tracker.close_all(t0 + 20s, EndReason::CaptureEnd);
  ASSERT_EQ(rec.ended.size(), 2u);
  EXPECT_EQ(rec.ended[1].digits, "");
  EXPECT_EQ(tracker.stats().inband_without_call, 1u);
}

// Calls whose ends were never seen pile up on a long capture; what the tracker remembers of
// ended calls stays bounded, and the timers of many calls run out in call-reference order.
TEST(TrackerMemory, RememberedCallsAreCappedAndExpire) {
  hal::SpanInfo span;
  Recorder rec;
  TrackerOptions options;
  options.closed_memory_calls = 100;
  CallTracker tracker{span, rec, options};
  for (std::uint16_t cref = 1; cref <= 1000; ++cref) {
    const Timestamp t = t0 + std::chrono::milliseconds(cref);
    tracker.on_message(setup(cref, "1", "2", 1 + cref % 23), Side::Pbx, t);
    tracker.on_message(make(msg::kReleaseComplete, cref, true), Side::Carrier, t);
  }
  EXPECT_EQ(rec.ended.size(), 1000u);
  EXPECT_EQ(tracker.remembered_calls(), 100u);
  // The newest are remembered: a retransmission for one of them opens nothing.
  tracker.on_message(make(msg::kReleaseComplete, 1000, true), Side::Carrier, t0 + 2s);
  EXPECT_EQ(tracker.stats().late_messages, 1u);
  EXPECT_EQ(tracker.active_calls(), 0u);
  tracker.on_tick(t0 + 62s);
  EXPECT_EQ(tracker.remembered_calls(), 0u);
}

TEST(TrackerMemory, OpenCallsAreCappedGivingUpTheOneNearestItsTimer) {
  hal::SpanInfo span;
  Recorder rec;
  TrackerOptions options;
  options.max_open_calls = 3;
  CallTracker tracker{span, rec, options};
  // Answered calls naming no channel (nothing can end them but the 7-day guard), then
  // unanswered ones: the setup timer (240 s) is the nearest, so those go first.
  for (std::uint16_t cref = 1; cref <= 2; ++cref) {
    const Timestamp t = t0 + std::chrono::seconds(cref);
    tracker.on_message(make(msg::kSetup, cref, false), Side::Pbx, t);
    tracker.on_message(make(msg::kConnect, cref, true), Side::Carrier, t);
  }
  for (std::uint16_t cref = 3; cref <= 5; ++cref)
    tracker.on_message(setup(cref, "1", "2", cref), Side::Pbx, t0 + std::chrono::seconds(cref));
  EXPECT_EQ(tracker.active_calls(), 3u);
  EXPECT_EQ(tracker.stats().evicted, 2u);
  tracker.on_tick(t0 + 6s);
  ASSERT_EQ(rec.ended.size(), 2u);
  // The unanswered calls, whose timers run out first; the answered ones stay.
  EXPECT_EQ(rec.ended[0].call_ref, 3);
  EXPECT_EQ(rec.ended[0].end_reason, EndReason::Timeout);
  EXPECT_EQ(rec.ended[0].end, t0 + 3s);
  EXPECT_EQ(rec.ended[1].call_ref, 4);
}

TEST_F(TrackerTest, CallsTimingOutTogetherEndInCallReferenceOrder) {
  // Opened in the reverse order of their call references, all unanswered.
  for (std::uint16_t cref = 20; cref >= 1; --cref)
    tracker.on_message(setup(cref, "1", std::to_string(cref), cref), Side::Pbx,
                       t0 + std::chrono::seconds(20 - cref));
  tracker.on_tick(t0 + 300s);
  ASSERT_EQ(rec.ended.size(), 20u);
  for (std::size_t i = 0; i < 20; ++i) {
    EXPECT_EQ(rec.ended[i].call_ref, i + 1);
    EXPECT_EQ(rec.ended[i].end, t0 + std::chrono::seconds(19 - i));
  }
  EXPECT_EQ(tracker.remembered_calls(), 0u);
}

TEST_F(TrackerTest, ChannelIndexFollowsTheConfirmedChannel) {
  // The SETUP asks for channel 5, the network gives channel 7.
  tracker.on_message(setup(0x41, "1", "2", 5), Side::Pbx, t0);
  tracker.on_message(with_channel(make(msg::kCallProceeding, 0x41, true), 7), Side::Carrier,
                     t0 + 10ms);
  tracker.on_inband(5, dtmf(t0 + 1s, Side::Pbx, '1'));  // nobody on channel 5 now
  tracker.on_inband(7, dtmf(t0 + 1s, Side::Pbx, '2'));
  auto restart = make(msg::kRestart, 0, false);
  restart.restart.present = true;
  tracker.on_message(with_channel(restart, 5), Side::Carrier, t0 + 2s);
  EXPECT_EQ(tracker.active_calls(), 1u);
  tracker.on_message(with_channel(restart, 7), Side::Carrier, t0 + 3s);
  ASSERT_EQ(rec.ended.size(), 1u);
  EXPECT_EQ(rec.ended[0].channel, 7);
  EXPECT_EQ(rec.ended[0].digits, "out:2");
  EXPECT_EQ(rec.ended[0].end_reason, EndReason::Restart);
  EXPECT_EQ(tracker.stats().inband_without_call, 1u);
}

// A RELEASE for a call reference nobody uses, and the RELEASE COMPLETE answering it, say
// nothing about a call: counted, no record. A DISCONNECT still opens a partial call (see
// CallSeenFirstMidSessionIsPartial), and so does a RELEASE that names a channel.
TEST_F(TrackerTest, LoneReleaseAndItsAnswerAreNoCall) {
  tracker.on_message(with_cause(make(msg::kRelease, 0x55, false), 81), Side::Pbx, t0);
  tracker.on_message(make(msg::kReleaseComplete, 0x55, true), Side::Carrier, t0 + 20ms);
  tracker.on_message(make(msg::kReleaseComplete, 0x56, true), Side::Pbx, t0 + 1s);
  EXPECT_EQ(tracker.active_calls(), 0u);
  tracker.close_all(t0 + 2s, EndReason::CaptureEnd);
  EXPECT_TRUE(rec.ended.empty());
  EXPECT_TRUE(rec.events.empty());
  EXPECT_EQ(tracker.stats().stray_clearing, 3u);
  EXPECT_EQ(tracker.stats().late_messages, 0u);
  EXPECT_EQ(tracker.stats().calls, 0u);

  tracker.on_message(with_channel(make(msg::kRelease, 0x57, false), 9), Side::Pbx, t0 + 3s);
  tracker.on_message(make(msg::kReleaseComplete, 0x57, true), Side::Carrier, t0 + 3020ms);
  ASSERT_EQ(rec.ended.size(), 1u);
  EXPECT_TRUE(rec.ended[0].partial);
  EXPECT_EQ(rec.ended[0].call_ref, 0x57);
  EXPECT_EQ(tracker.stats().stray_clearing, 3u);
}

q931::Message info_digits(std::uint16_t cref, std::string_view called, std::string_view keypad) {
  auto info = make(msg::kInformation, cref, false);
  if (!called.empty()) {
    info.called.present = true;
    info.called.digits.append(called);
  }
  info.keypad.append(keypad);
  return info;
}

// '#' at the end of overlap (or en-bloc) dialing is the end-of-dialing mark (Q.931 5.1.3), as
// the Sending Complete IE is: not a digit of the called number.
TEST_F(TrackerTest, HashEndingDialingClosesItAndStaysOutOfTheNumber) {
  auto sent = [&](std::uint16_t cref) {
    tracker.on_message(make(msg::kReleaseComplete, cref, true), Side::Carrier, t0 + 1s);
    return rec.ended.back();
  };
  // Overlap dialing ended by '#' in the last called party number.
  tracker.on_message(setup(0x31, "4420794600", "2", 3), Side::Pbx, t0);
  tracker.on_message(info_digits(0x31, "12555014", ""), Side::Pbx, t0 + 100ms);
  tracker.on_message(info_digits(0x31, "2#", ""), Side::Pbx, t0 + 200ms);
  CallRecord r = sent(0x31);
  EXPECT_EQ(r.called, "2125550142");
  EXPECT_TRUE(r.dialing_complete);
  // ... or by a keypad '#'.
  tracker.on_message(setup(0x32, "4420794600", "212", 4), Side::Pbx, t0);
  tracker.on_message(info_digits(0x32, "", "5550142"), Side::Pbx, t0 + 100ms);
  tracker.on_message(info_digits(0x32, "", "#"), Side::Pbx, t0 + 200ms);
  r = sent(0x32);
  EXPECT_EQ(r.called, "2125550142");
  EXPECT_TRUE(r.dialing_complete);
  // En bloc with '#'.
  tracker.on_message(setup(0x33, "4420794600", "3125559999#", 6), Side::Pbx, t0);
  r = sent(0x33);
  EXPECT_EQ(r.called, "3125559999");
  EXPECT_TRUE(r.dialing_complete);
  // En bloc with the Sending Complete IE.
  auto complete = setup(0x34, "4420794600", "3125559999", 7);
  complete.sending_complete = true;
  tracker.on_message(complete, Side::Pbx, t0);
  r = sent(0x34);
  EXPECT_EQ(r.called, "3125559999");
  EXPECT_TRUE(r.dialing_complete);
  // Overlap dialing ended by a Sending Complete IE in the last INFORMATION.
  tracker.on_message(setup(0x35, "4420794600", "31", 8), Side::Pbx, t0);
  auto last = info_digits(0x35, "25559999", "");
  last.sending_complete = true;
  tracker.on_message(last, Side::Pbx, t0 + 100ms);
  r = sent(0x35);
  EXPECT_EQ(r.called, "3125559999");
  EXPECT_TRUE(r.dialing_complete);
  // No mark: dialing was never closed (the network decided by a timer or the digit count).
  tracker.on_message(setup(0x36, "4420794600", "31", 10), Side::Pbx, t0);
  tracker.on_message(info_digits(0x36, "25559999", ""), Side::Pbx, t0 + 100ms);
  r = sent(0x36);
  EXPECT_EQ(r.called, "3125559999");
  EXPECT_FALSE(r.dialing_complete);
  // A '#' followed by more digits was one of them: it stays, dialing is not closed by it.
  tracker.on_message(setup(0x37, "4420794600", "*31#", 11), Side::Pbx, t0);
  tracker.on_message(info_digits(0x37, "2125550142", ""), Side::Pbx, t0 + 100ms);
  r = sent(0x37);
  EXPECT_EQ(r.called, "*31#2125550142");
  EXPECT_FALSE(r.dialing_complete);
  // After answer keypad digits are not dialing: a '#' there stays in `keypad`.
  tracker.on_message(setup(0x38, "4420794600", "3125559999", 12), Side::Pbx, t0);
  tracker.on_message(make(msg::kConnect, 0x38, true), Side::Carrier, t0 + 100ms);
  tracker.on_message(info_digits(0x38, "", "12#"), Side::Pbx, t0 + 200ms);
  r = sent(0x38);
  EXPECT_EQ(r.called, "3125559999");
  EXPECT_EQ(r.keypad, "12#");
  EXPECT_FALSE(r.dialing_complete);
}

// Alarm lines and modems stay up for days: a 25-hour call is one record of 25 hours, however
// often the tracker ticks in between.
TEST_F(TrackerTest, AnsweredCallLastsAsLongAsItLasts) {
  tracker.on_message(setup(0x81, "2125550100", "3125550000", 4), Side::Pbx, t0);
  tracker.on_message(with_channel(make(msg::kCallProceeding, 0x81, true), 4), Side::Carrier,
                     t0 + 20ms);
  tracker.on_message(make(msg::kConnect, 0x81, true), Side::Carrier, t0 + 5s);
  tracker.on_message(make(msg::kConnectAck, 0x81, false), Side::Pbx, t0 + 5010ms);
  for (auto t = t0 + 6s; t < t0 + 25h + 5s; t += 10min) tracker.on_tick(t);
  EXPECT_TRUE(rec.ended.empty());
  tracker.on_message(with_cause(make(msg::kDisconnect, 0x81, false), 16), Side::Pbx,
                     t0 + 5s + 90000s);
  tracker.on_message(make(msg::kRelease, 0x81, true), Side::Carrier, t0 + 5s + 90000s + 20ms);
  tracker.on_message(make(msg::kReleaseComplete, 0x81, false), Side::Pbx, t0 + 5s + 90000s + 40ms);
  ASSERT_EQ(rec.ended.size(), 1u);
  const CallRecord& r = rec.ended[0];
  EXPECT_FALSE(r.partial);
  EXPECT_EQ(r.answer, t0 + 5s);
  EXPECT_EQ(r.end, t0 + 5s + 90000s);
  EXPECT_DOUBLE_EQ(r.duration_s, 90000.0);
  EXPECT_EQ(r.end_reason, EndReason::Released);
  EXPECT_EQ(r.cause, 16);
  EXPECT_EQ(tracker.stats().partial_calls, 0u);
}

// The guard for a lost clearing closes an answered call only after a week without messages,
// audio or in-band detections, with its end when it was last seen alive; its clearing, should
// it come after all, is a late message, not a second call.
TEST_F(TrackerTest, GuardClosesASilentCallWhenLastSeenAliveAndSwallowsItsLateClearing) {
  const auto week = std::chrono::days(7);
  tracker.on_message(setup(0x82, "4420794600", "2125550199", 9), Side::Carrier, t0);
  tracker.on_message(make(msg::kConnect, 0x82, true), Side::Pbx, t0 + 1s);
  tracker.on_audio(9, t0 + 2h);
  tracker.on_audio(10, t0 + 4h);                              // another channel: not this call
  tracker.on_inband(9, tone(t0 + 3h, Side::Carrier, "ans"));  // a modem answering
  tracker.on_tick(t0 + 1s + week + 1s);                       // alive since the CONNECT
  tracker.on_audio(9, t0 + 3h + 30min);
  tracker.on_tick(t0 + 3h + week);
  tracker.on_tick(t0 + 3h + 30min + week);
  EXPECT_TRUE(rec.ended.empty());
  tracker.on_tick(t0 + 3h + 30min + week + 1s);
  ASSERT_EQ(rec.ended.size(), 1u);
  CallRecord r = rec.ended[0];
  EXPECT_EQ(r.end, t0 + 3h + 30min);
  EXPECT_DOUBLE_EQ(r.duration_s, 3 * 3600 + 30 * 60 - 1);
  EXPECT_EQ(r.end_reason, EndReason::Timeout);
  EXPECT_EQ(tracker.active_calls(), 0u);
  // Its clearing, days later: late, not a partial call.
  const Timestamp late = t0 + 9 * 24h;
  tracker.on_message(with_cause(make(msg::kDisconnect, 0x82, false), 16), Side::Carrier, late);
  tracker.on_message(make(msg::kRelease, 0x82, true), Side::Pbx, late + 20ms);
  tracker.on_message(make(msg::kReleaseComplete, 0x82, false), Side::Carrier, late + 40ms);
  tracker.on_tick(late + 1h);
  EXPECT_EQ(rec.ended.size(), 1u);
  EXPECT_EQ(tracker.active_calls(), 0u);
  EXPECT_EQ(tracker.stats().late_messages, 3u);
  EXPECT_EQ(tracker.stats().partial_calls, 0u);
  // A SETUP reuses the call reference: a new call like any other.
  tracker.on_message(setup(0x82, "4420794600", "2125550199", 9), Side::Carrier, late + 2h);
  tracker.on_message(make(msg::kReleaseComplete, 0x82, true), Side::Pbx, late + 2h + 1s);
  ASSERT_EQ(rec.ended.size(), 2u);
  EXPECT_FALSE(rec.ended[1].partial);
  EXPECT_EQ(rec.ended[1].start, late + 2h);
  EXPECT_EQ(tracker.remembered_calls(), 1u);
}

// A call whose end was missed and whose channel a new call took ends when it was last seen
// alive, not at its answer.
TEST_F(TrackerTest, ReusedChannelEndsTheOldCallWhenLastHeard) {
  tracker.on_message(setup(0x83, "1", "2", 8), Side::Pbx, t0);
  tracker.on_message(make(msg::kConnect, 0x83, true), Side::Carrier, t0 + 2s);
  tracker.on_audio(8, t0 + 30h);
  tracker.on_tick(t0 + 31h);
  tracker.on_message(setup(0x84, "5", "6", 8), Side::Carrier, t0 + 31h);
  tracker.on_audio(8, t0 + 31h + 1s);  // the new call's audio
  tracker.on_message(with_channel(make(msg::kCallProceeding, 0x84, true), 8), Side::Pbx,
                     t0 + 31h + 2s);
  ASSERT_EQ(rec.ended.size(), 1u);
  EXPECT_EQ(rec.ended[0].end_reason, EndReason::ChannelReused);
  EXPECT_EQ(rec.ended[0].end, t0 + 30h);
  EXPECT_DOUBLE_EQ(rec.ended[0].duration_s, 30 * 3600 - 2);
}

TEST(CallRecordTime, FormatsAndParsesRfc3339Milliseconds) {
  const Timestamp t = t0 + 14min + 3s + 125678us;
  EXPECT_EQ(format_time(t), "2027-01-05T09:14:03.125Z");
  EXPECT_EQ(parse_time("2027-01-05T09:14:03.125Z"), t0 + 14min + 3s + 125ms);
  EXPECT_EQ(parse_time("2027-01-05T09:14:03Z"), t0 + 14min + 3s);
  EXPECT_FALSE(parse_time("2027-01-05T09:14:03").has_value());
  EXPECT_FALSE(parse_time("2027-13-05T09:14:03Z").has_value());
  EXPECT_FALSE(parse_time("garbage").has_value());
}

}  // namespace
}  // namespace tw::calls
