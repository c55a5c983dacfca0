// Q.921 frame parsing and the retransmission filter, on hand-built frames.
#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "monitor/q921/lapd.hpp"
#include "monitor/q921/passive_link.hpp"

namespace {

using tw::hal::Side;
using tw::q921::FrameKind;
using tw::q921::FrameUse;
using tw::q921::LinkStep;
using tw::q921::ParseError;
using tw::q921::PassiveLink;
using tw::q921::RetransmissionFilter;
using tw::q921::SType;
using tw::q921::UType;
using Bytes = std::vector<std::uint8_t>;

// The frame's info views into `b`: only look at it while `b` lives.
tw::q921::Frame parse_ok(const Bytes& b) {
  tw::q921::Frame f;
  EXPECT_EQ(tw::q921::parse(b, f), ParseError::None);
  return f;
}

ParseError parse_err(const Bytes& b) {
  tw::q921::Frame f;
  return tw::q921::parse(b, f);
}

// An I-frame on SAPI 0 / TEI 0 with the given N(S) and payload.
Bytes iframe(std::uint8_t ns, const Bytes& payload, std::uint8_t tei = 0, std::uint8_t nr = 0) {
  // Sized up front: g++ 12 misreads an insert after a 4-byte list as out of bounds.
  Bytes b(4 + payload.size());
  b[0] = 0x00;
  b[1] = static_cast<std::uint8_t>(tei << 1 | 1);
  b[2] = static_cast<std::uint8_t>(ns << 1);
  b[3] = static_cast<std::uint8_t>(nr << 1);
  std::copy(payload.begin(), payload.end(), b.begin() + 4);
  return b;
}

// The filter as PassiveLink::on_frame() drives it, with every frame taken as decoded: classify,
// remember a New frame; true for a retransmission.
bool is_retransmission(RetransmissionFilter& filter, int direction, const tw::q921::Frame& frame) {
  const auto verdict = filter.classify(direction, frame);
  if (verdict == tw::q921::IFrameVerdict::New) filter.remember(direction, frame);
  return verdict == tw::q921::IFrameVerdict::Retransmission;
}

// ---------------------------------------------------------------------------------------------
// Address field

TEST(Lapd, AddressFields) {
  // SAPI 63, C/R 1, TEI 127: 111111 1 0 / 1111111 1
  const auto f = parse_ok({0xfe, 0xff, 0x03, 0x0f, 0x12});
  EXPECT_EQ(f.sapi, 63);
  EXPECT_TRUE(f.cr);
  EXPECT_EQ(f.tei, 127);
  // SAPI 0, C/R 0, TEI 64
  const auto g = parse_ok({0x00, 0x81, 0x03});
  EXPECT_EQ(g.sapi, 0);
  EXPECT_FALSE(g.cr);
  EXPECT_EQ(g.tei, 64);
  // SAPI 16 (X.25), C/R 1, TEI 3
  const auto h = parse_ok({0x42, 0x07, 0x03});
  EXPECT_EQ(h.sapi, 16);
  EXPECT_TRUE(h.cr);
  EXPECT_EQ(h.tei, 3);
}

TEST(Lapd, BadEaBits) {
  EXPECT_EQ(parse_err({0x01, 0x01, 0x03}), ParseError::BadAddressEa);  // octet 1 EA = 1
  EXPECT_EQ(parse_err({0x00, 0x00, 0x03}), ParseError::BadAddressEa);  // octet 2 EA = 0
  EXPECT_EQ(parse_err({0x01, 0x00, 0x03}), ParseError::BadAddressEa);  // both wrong
  EXPECT_EQ(parse_err({0x03, 0x01, 0x00, 0x00}), ParseError::BadAddressEa);
}

TEST(Lapd, TooShort) {
  EXPECT_EQ(parse_err({}), ParseError::TooShort);
  EXPECT_EQ(parse_err({0x00}), ParseError::TooShort);
  EXPECT_EQ(parse_err({0x00, 0x01}), ParseError::TooShort);
  EXPECT_EQ(parse_err({0x00, 0x01, 0x00}), ParseError::TooShort);  // I frame, 1 control octet
  EXPECT_EQ(parse_err({0x00, 0x01, 0x01}), ParseError::TooShort);  // RR, 1 control octet
}

// ---------------------------------------------------------------------------------------------
// I frames

TEST(Lapd, IFrame) {
  const Bytes b = {0x00, 0x01, 0x0a, 0x07, 0x08, 0x02, 0x00, 0x01, 0x05};
  const auto f = parse_ok(b);
  EXPECT_EQ(f.kind, FrameKind::I);
  EXPECT_EQ(f.ns, 5);
  EXPECT_EQ(f.nr, 3);
  EXPECT_TRUE(f.poll_final);
  ASSERT_EQ(f.info.size(), 5u);
  EXPECT_EQ(f.info.data(), b.data() + 4);  // a view, not a copy
  EXPECT_EQ(f.info[0], 0x08);
  EXPECT_EQ(f.info[4], 0x05);
}

TEST(Lapd, IFrameExtremesAndEmptyInfo) {
  const auto f = parse_ok({0x02, 0x01, 0xfe, 0xfe});  // N(S) 127, N(R) 127, P 0, C/R 1
  EXPECT_EQ(f.kind, FrameKind::I);
  EXPECT_EQ(f.ns, 127);
  EXPECT_EQ(f.nr, 127);
  EXPECT_FALSE(f.poll_final);
  EXPECT_TRUE(f.cr);
  EXPECT_TRUE(f.info.empty());
}

// ---------------------------------------------------------------------------------------------
// S frames

TEST(Lapd, SFrames) {
  auto rr = parse_ok({0x00, 0x01, 0x01, 0x0b});
  EXPECT_EQ(rr.kind, FrameKind::S);
  EXPECT_EQ(rr.s_type, SType::RR);
  EXPECT_EQ(rr.nr, 5);
  EXPECT_TRUE(rr.poll_final);
  EXPECT_TRUE(rr.info.empty());

  auto rnr = parse_ok({0x00, 0x01, 0x05, 0x10});
  EXPECT_EQ(rnr.s_type, SType::RNR);
  EXPECT_EQ(rnr.nr, 8);
  EXPECT_FALSE(rnr.poll_final);

  auto rej = parse_ok({0x02, 0x01, 0x09, 0xff});
  EXPECT_EQ(rej.s_type, SType::REJ);
  EXPECT_EQ(rej.nr, 127);
  EXPECT_TRUE(rej.poll_final);
}

TEST(Lapd, SFrameErrors) {
  EXPECT_EQ(parse_err({0x00, 0x01, 0x0d, 0x00}), ParseError::BadControl);        // SS = 11 reserved
  EXPECT_EQ(parse_err({0x00, 0x01, 0x11, 0x00}), ParseError::BadControl);        // bits 8-5 not 0
  EXPECT_EQ(parse_err({0x00, 0x01, 0x01, 0x00, 0x08}), ParseError::BadControl);  // payload
  EXPECT_EQ(parse_err({0x00, 0x01, 0x09, 0x02, 0x08, 0x01}), ParseError::BadControl);
}

// ---------------------------------------------------------------------------------------------
// U frames

struct UCase {
  std::uint8_t control;
  UType type;
  bool pf;
};

TEST(Lapd, UFramesWithAndWithoutPf) {
  const UCase cases[] = {
      {0x6f, UType::SABME, false}, {0x7f, UType::SABME, true}, {0x0f, UType::DM, false},
      {0x1f, UType::DM, true},     {0x03, UType::UI, false},   {0x13, UType::UI, true},
      {0x43, UType::DISC, false},  {0x53, UType::DISC, true},  {0x63, UType::UA, false},
      {0x73, UType::UA, true},     {0x87, UType::FRMR, false}, {0x97, UType::FRMR, true},
      {0xaf, UType::XID, false},   {0xbf, UType::XID, true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::Message() << "control 0x" << std::hex << int(c.control));
    const auto f = parse_ok({0x00, 0x01, c.control});
    EXPECT_EQ(f.kind, FrameKind::U);
    EXPECT_EQ(f.u_type, c.type);
    EXPECT_EQ(f.poll_final, c.pf);
    EXPECT_TRUE(f.info.empty());
  }
}

TEST(Lapd, UFramePayloads) {
  // UI carrying a TEI request on SAPI 63, group TEI 127.
  const Bytes ui = {0xfc, 0xff, 0x03, 0x0f, 0x12, 0x34, 0x01, 0xff};
  const auto f = parse_ok(ui);
  EXPECT_EQ(f.u_type, UType::UI);
  ASSERT_EQ(f.info.size(), 5u);
  EXPECT_EQ(f.info[0], 0x0f);
  EXPECT_EQ(f.info[4], 0xff);

  const Bytes frmr_bytes = {0x02, 0x01, 0x97, 0x01, 0x02, 0x03};
  const auto frmr = parse_ok(frmr_bytes);
  EXPECT_EQ(frmr.u_type, UType::FRMR);
  ASSERT_EQ(frmr.info.size(), 3u);
  EXPECT_EQ(frmr.info[2], 0x03);

  const Bytes xid_bytes = {0x00, 0x01, 0xaf, 0x82, 0x80};
  const auto xid = parse_ok(xid_bytes);
  EXPECT_EQ(xid.u_type, UType::XID);
  EXPECT_EQ(xid.info.size(), 2u);
}

TEST(Lapd, UFrameErrors) {
  EXPECT_EQ(parse_err({0x00, 0x01, 0x23}), ParseError::BadControl);  // undefined modifier
  EXPECT_EQ(parse_err({0x00, 0x01, 0xe3}), ParseError::BadControl);
  // SABME / DM / DISC / UA never carry an information field.
  EXPECT_EQ(parse_err({0x00, 0x01, 0x7f, 0x00}), ParseError::BadControl);
  EXPECT_EQ(parse_err({0x00, 0x01, 0x1f, 0x00}), ParseError::BadControl);
  EXPECT_EQ(parse_err({0x00, 0x01, 0x53, 0x00}), ParseError::BadControl);
  EXPECT_EQ(parse_err({0x00, 0x01, 0x73, 0x00}), ParseError::BadControl);
}

TEST(Lapd, ErrorStrings) {
  EXPECT_STREQ(tw::q921::to_string(ParseError::None), "none");
  EXPECT_STREQ(tw::q921::to_string(ParseError::TooShort), "too short");
  EXPECT_STREQ(tw::q921::to_string(ParseError::BadAddressEa), "bad address EA bits");
  EXPECT_STREQ(tw::q921::to_string(ParseError::BadControl), "bad control field");
}

// ---------------------------------------------------------------------------------------------
// Retransmission filter

// Owns the bytes of every frame it parses, so the frames' info views stay valid for the test.
class Frames {
 public:
  const tw::q921::Frame& operator()(Bytes b) {
    bytes_.push_back(std::move(b));
    frames_.emplace_back();
    EXPECT_EQ(tw::q921::parse(bytes_.back(), frames_.back()), ParseError::None);
    return frames_.back();
  }

 private:
  std::deque<Bytes> bytes_;
  std::deque<tw::q921::Frame> frames_;
};

TEST(RetransmissionFilter, RepeatedIFrameIsRetransmission) {
  Frames frame;
  RetransmissionFilter filter;
  const Bytes payload = {0x08, 0x02, 0x00, 0x01, 0x05, 0x04, 0x03, 0x80, 0x90, 0xa2};
  const auto a = frame(iframe(0, payload));
  EXPECT_FALSE(is_retransmission(filter, 0, a));
  EXPECT_TRUE(is_retransmission(filter, 0, a));
  EXPECT_TRUE(is_retransmission(filter, 0, a));  // a third copy too
  // N(R) and P differ in a resent frame when the sender got acks meanwhile: still the same.
  const auto resent = frame(iframe(0, payload, 0, 9));
  EXPECT_TRUE(is_retransmission(filter, 0, resent));
}

TEST(RetransmissionFilter, DirectionsAndLinksAreSeparate) {
  Frames frame;
  RetransmissionFilter filter;
  const Bytes payload = {0x08, 0x02, 0x00, 0x01, 0x7d};
  const auto a = frame(iframe(3, payload));
  EXPECT_FALSE(is_retransmission(filter, 0, a));
  EXPECT_FALSE(is_retransmission(filter, 1, a));  // the other end sent the same bytes
  const auto other_tei = frame(iframe(3, payload, 5));
  EXPECT_FALSE(is_retransmission(filter, 0, other_tei));
  Bytes sapi16 = iframe(3, payload);
  sapi16[0] = 0x40;
  EXPECT_FALSE(is_retransmission(filter, 0, parse_ok(sapi16)));
  EXPECT_TRUE(is_retransmission(filter, 0, a));
  EXPECT_TRUE(is_retransmission(filter, 1, a));
  EXPECT_TRUE(is_retransmission(filter, 0, other_tei));
}

TEST(RetransmissionFilter, SameNsDifferentPayloadIsASequenceConflict) {
  using tw::q921::IFrameVerdict;
  Frames frame;
  RetransmissionFilter filter;
  const auto real = frame(iframe(4, {0x08, 0x02, 0x00, 0x01, 0x05}));
  EXPECT_EQ(filter.classify(0, real), IFrameVerdict::New);
  EXPECT_EQ(filter.classify(0, real), IFrameVerdict::New);  // classify alone remembers nothing
  filter.remember(0, real);
  // A damaged or forged copy with the same N(S) is discarded, and does not displace the real
  // frame: the real one resent is still a retransmission.
  EXPECT_EQ(filter.classify(0, frame(iframe(4, {0x08, 0x02, 0x00, 0x02, 0x05}))),
            IFrameVerdict::SequenceConflict);
  EXPECT_EQ(filter.classify(0, frame(iframe(4, {0x08, 0x02, 0x00}))),
            IFrameVerdict::SequenceConflict);
  EXPECT_EQ(filter.classify(0, real), IFrameVerdict::Retransmission);
  // The other direction and the next N(S) are unaffected.
  EXPECT_EQ(filter.classify(1, frame(iframe(4, {0x08, 0x02, 0x80, 0x02, 0x05}))),
            IFrameVerdict::New);
  EXPECT_EQ(filter.classify(0, frame(iframe(5, {0x08, 0x02, 0x00, 0x02, 0x05}))),
            IFrameVerdict::New);
}

TEST(RetransmissionFilter, MidSessionStart) {
  Frames frame;
  // The capture starts with N(S) = 77: nothing before it is known, the first copy is new.
  RetransmissionFilter filter;
  const auto f77 = frame(iframe(77, {0x08, 0x02, 0x12, 0x34, 0x45, 0x08, 0x02, 0x82, 0x90}));
  const auto f78 = frame(iframe(78, {0x08, 0x02, 0x92, 0x34, 0x4d}));
  EXPECT_FALSE(is_retransmission(filter, 1, f77));
  EXPECT_FALSE(is_retransmission(filter, 1, f78));
  EXPECT_TRUE(is_retransmission(filter, 1, f77));
  EXPECT_TRUE(is_retransmission(filter, 1, f78));
}

TEST(RetransmissionFilter, WholeWindowResent) {
  Frames frame;
  // After REJ or T200 a sender may resend its whole window (k = 7).
  RetransmissionFilter filter;
  std::vector<tw::q921::Frame> frames;
  for (std::uint8_t i = 0; i < 7; ++i)
    frames.push_back(frame(iframe(120 + i, {0x08, 0x01, i, 0x7b})));
  for (const auto& f : frames) EXPECT_FALSE(is_retransmission(filter, 0, f));
  for (const auto& f : frames) EXPECT_TRUE(is_retransmission(filter, 0, f));
}

TEST(RetransmissionFilter, NsWrapsAt128) {
  Frames frame;
  RetransmissionFilter filter;
  // 300 frames, N(S) = i mod 128, each with its own payload: none is a retransmission, even
  // where N(S) comes back to a value seen before.
  const tw::q921::Frame* last = nullptr;
  for (int i = 0; i < 300; ++i) {
    last = &frame(iframe(
        static_cast<std::uint8_t>(i % 128),
        {0x08, 0x02, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i), 0x7b}));
    EXPECT_FALSE(is_retransmission(filter, 0, *last));
  }
  // The last one, resent, is.
  EXPECT_TRUE(is_retransmission(filter, 0, *last));

  // Identical payloads (a periodic STATUS ENQUIRY) 128 frames apart: not a retransmission.
  RetransmissionFilter f2;
  const Bytes enquiry = {0x08, 0x02, 0x00, 0x01, 0x75};
  EXPECT_FALSE(is_retransmission(f2, 0, frame(iframe(10, enquiry))));
  for (int i = 11; i < 138; ++i) {
    EXPECT_FALSE(
        is_retransmission(f2, 0,
                          frame(iframe(static_cast<std::uint8_t>(i % 128),
                                       {0x08, 0x02, 0x00, static_cast<std::uint8_t>(i), 0x7b}))));
  }
  EXPECT_FALSE(is_retransmission(f2, 0, frame(iframe(10, enquiry))));
}

TEST(RetransmissionFilter, LinkResetForgetsTheLink) {
  Frames frame;
  RetransmissionFilter filter;
  const auto a0 = frame(iframe(0, {0x08, 0x02, 0x00, 0x01, 0x05}));
  const auto b0 = frame(iframe(0, {0x08, 0x02, 0x80, 0x01, 0x02}));
  const auto other_link = frame(iframe(0, {0x08, 0x02, 0x00, 0x01, 0x05}, 9));
  EXPECT_FALSE(is_retransmission(filter, 0, a0));
  EXPECT_FALSE(is_retransmission(filter, 1, b0));
  EXPECT_FALSE(is_retransmission(filter, 0, other_link));

  // SABME from direction 1 on TEI 0: both ends restart at N(S) 0, the same first message
  // (e.g. a RESTART after re-establishment) is new again, in both directions.
  const auto sabme = frame({0x02, 0x01, 0x7f});
  filter.reset_link(1, sabme);
  EXPECT_FALSE(is_retransmission(filter, 0, a0));
  EXPECT_FALSE(is_retransmission(filter, 1, b0));
  // Other links keep their history.
  EXPECT_TRUE(is_retransmission(filter, 0, other_link));
  // And the new history works as before.
  EXPECT_TRUE(is_retransmission(filter, 0, a0));

  const auto disc = frame({0x00, 0x13, 0x53});  // DISC on TEI 9
  filter.reset_link(0, disc);
  EXPECT_FALSE(is_retransmission(filter, 0, other_link));
}

TEST(RetransmissionFilter, IgnoresNonIFramesAndBadDirections) {
  Frames frame;
  RetransmissionFilter filter;
  const auto ui = frame({0x00, 0x01, 0x03, 0x08, 0x01, 0x01, 0x05});
  EXPECT_FALSE(is_retransmission(filter, 0, ui));
  EXPECT_FALSE(is_retransmission(filter, 0, ui));
  const auto rr = frame({0x00, 0x01, 0x01, 0x01});
  EXPECT_FALSE(is_retransmission(filter, 0, rr));
  EXPECT_FALSE(is_retransmission(filter, 0, rr));
  const auto i = frame(iframe(1, {0x08}));
  EXPECT_FALSE(is_retransmission(filter, 2, i));
  EXPECT_FALSE(is_retransmission(filter, -1, i));
  EXPECT_FALSE(is_retransmission(filter, 2, i));
  filter.reset_link(5, i);  // ignored, must not crash
  EXPECT_FALSE(is_retransmission(filter, 0, i));
  EXPECT_TRUE(is_retransmission(filter, 0, i));
}

// ---------------------------------------------------------------------------------------------
// The passive link: one frame in, what it is to the decoder and the link state out

// Feeds frames to a link; `decodes` says whether the decoder would take the payload. Keeps
// the bytes, so the steps' frame.info views stay valid for the test.
struct LinkFeed {
  PassiveLink link;
  int decoder_calls = 0;
  std::deque<Bytes> bytes;
  LinkStep operator()(Side from, Bytes b, bool decodes = true) {
    bytes.push_back(std::move(b));
    return link.on_frame(from, bytes.back(), [&](std::span<const std::uint8_t>) {
      ++decoder_calls;
      return decodes;
    });
  }
};

const Bytes kSetup = {0x08, 0x02, 0x00, 0x01, 0x05, 0x04, 0x03, 0x80, 0x90, 0xa2};
const Bytes kAlerting = {0x08, 0x02, 0x80, 0x01, 0x01};

TEST(PassiveLink, RetransmissionIsDroppedBeforeTheDecoder) {
  LinkFeed feed;
  const auto first = feed(Side::Pbx, iframe(5, kSetup));
  EXPECT_EQ(first.use, FrameUse::Payload);
  EXPECT_TRUE(first.delivered);
  EXPECT_EQ(first.frame.ns, 5);
  EXPECT_EQ(Bytes(first.frame.info.begin(), first.frame.info.end()), kSetup);
  EXPECT_EQ(feed.decoder_calls, 1);
  // T200 expired: the same frame again, with a newer N(R). Not decoded a second time.
  const auto again = feed(Side::Pbx, iframe(5, kSetup, 0, 3));
  EXPECT_EQ(again.use, FrameUse::Retransmission);
  EXPECT_FALSE(again.delivered);
  EXPECT_EQ(feed.decoder_calls, 1);
  // The other direction sending the same bytes is its own frame.
  EXPECT_EQ(feed(Side::Carrier, iframe(5, kSetup)).use, FrameUse::Payload);
  EXPECT_EQ(feed.decoder_calls, 2);
}

TEST(PassiveLink, SameNsOtherContentIsAConflictAndTheRealFrameWins) {
  LinkFeed feed;
  EXPECT_TRUE(feed(Side::Pbx, iframe(7, kSetup)).delivered);
  Bytes forged = kSetup;
  forged[3] = 0x02;  // another call reference
  const auto conflict = feed(Side::Pbx, iframe(7, forged));
  EXPECT_EQ(conflict.use, FrameUse::SequenceConflict);
  EXPECT_FALSE(conflict.delivered);
  EXPECT_EQ(feed.decoder_calls, 1);
  EXPECT_EQ(feed(Side::Pbx, iframe(7, kSetup)).use, FrameUse::Retransmission);
}

TEST(PassiveLink, AFrameTheDecoderRefusedIsNotRemembered) {
  LinkFeed feed;
  // Garbage carrying N(S) 9 arrives first; the real frame 9 must still be decoded.
  const auto garbage = feed(Side::Carrier, iframe(9, {0x08, 0x02, 0x00}), false);
  EXPECT_EQ(garbage.use, FrameUse::Payload);
  EXPECT_FALSE(garbage.delivered);
  const auto real = feed(Side::Carrier, iframe(9, kAlerting));
  EXPECT_EQ(real.use, FrameUse::Payload);
  EXPECT_TRUE(real.delivered);
  EXPECT_EQ(feed.decoder_calls, 2);
}

TEST(PassiveLink, NsGapCountsTheFramesMissed) {
  LinkFeed feed;
  // Mid-session start: the first N(S) is whatever it is.
  EXPECT_EQ(feed(Side::Pbx, iframe(40, {0x08, 0x01, 0x01, 0x7b})).missed, 0);
  EXPECT_EQ(feed(Side::Pbx, iframe(41, {0x08, 0x01, 0x02, 0x7b})).missed, 0);
  // 42, 43, 44 never reached the tap.
  const auto after_gap = feed(Side::Pbx, iframe(45, {0x08, 0x01, 0x03, 0x7b}));
  EXPECT_TRUE(after_gap.delivered);
  EXPECT_EQ(after_gap.missed, 3);
  EXPECT_EQ(feed(Side::Pbx, iframe(46, {0x08, 0x01, 0x04, 0x7b})).missed, 0);
  // A retransmission is no gap, and the next frame is still in sequence after it.
  EXPECT_EQ(feed(Side::Pbx, iframe(46, {0x08, 0x01, 0x04, 0x7b})).missed, 0);
  EXPECT_EQ(feed(Side::Pbx, iframe(47, {0x08, 0x01, 0x05, 0x7b})).missed, 0);
  // Across the wrap: 127 -> 0 is in sequence, 127 -> 2 missed two.
  EXPECT_EQ(feed(Side::Carrier, iframe(127, {0x08, 0x01, 0x06, 0x7b})).missed, 0);
  EXPECT_EQ(feed(Side::Carrier, iframe(0, {0x08, 0x01, 0x07, 0x7b})).missed, 0);
  EXPECT_EQ(feed(Side::Carrier, iframe(3, {0x08, 0x01, 0x08, 0x7b})).missed, 2);
  // Each direction and TEI keeps its own sequence.
  EXPECT_EQ(feed(Side::Pbx, iframe(48, {0x08, 0x01, 0x09, 0x7b})).missed, 0);
  EXPECT_EQ(feed(Side::Pbx, iframe(90, {0x08, 0x01, 0x0a, 0x7b}, 5)).missed, 0);
  EXPECT_EQ(feed(Side::Pbx, iframe(49, {0x08, 0x01, 0x0b, 0x7b})).missed, 0);
  // A frame the decoder refused is told as no gap, but it moved the sequence on: the tap saw
  // it, so the next one is in sequence.
  const auto refused = feed(Side::Pbx, iframe(60, {0x08, 0x01, 0x0c, 0x7b}), false);
  EXPECT_EQ(refused.missed, 0);
  EXPECT_EQ(feed(Side::Pbx, iframe(61, {0x08, 0x01, 0x0d, 0x7b})).missed, 0);
  // SABME restarts the numbering: the first frame after it is no gap whatever its N(S).
  feed(Side::Carrier, {0x02, 0x01, 0x7f});
  EXPECT_EQ(feed(Side::Pbx, iframe(0, {0x08, 0x01, 0x0e, 0x7b})).missed, 0);
}

TEST(PassiveLink, LinkStateFollowsSabmeUaDiscDm) {
  LinkFeed feed;
  EXPECT_FALSE(feed.link.up());
  const Bytes sabme = {0x02, 0x01, 0x7f};  // SAPI 0, command from the network side, P
  const Bytes ua = {0x02, 0x01, 0x73};
  const Bytes disc = {0x02, 0x01, 0x53};
  const Bytes dm = {0x02, 0x01, 0x1f};
  const auto s = feed(Side::Carrier, sabme);
  EXPECT_EQ(s.use, FrameUse::LinkControl);
  EXPECT_EQ(s.frame.u_type, tw::q921::UType::SABME);
  EXPECT_FALSE(s.shows_up.has_value());  // not up until answered
  EXPECT_FALSE(feed.link.up());
  const auto up = feed(Side::Pbx, ua);
  EXPECT_EQ(up.shows_up, std::optional<bool>(true));
  EXPECT_TRUE(up.link_changed);
  EXPECT_TRUE(feed.link.up());
  // A UA nothing asked for says nothing.
  const auto stray_ua = feed(Side::Pbx, ua);
  EXPECT_FALSE(stray_ua.shows_up.has_value());
  EXPECT_FALSE(stray_ua.link_changed);
  EXPECT_TRUE(feed.link.up());
  // An RR on an up link: up, no change.
  const auto rr = feed(Side::Pbx, {0x00, 0x01, 0x01, 0x01});
  EXPECT_EQ(rr.use, FrameUse::LinkControl);
  EXPECT_EQ(rr.shows_up, std::optional<bool>(true));
  EXPECT_FALSE(rr.link_changed);
  feed(Side::Pbx, disc);
  EXPECT_TRUE(feed.link.up());
  const auto down = feed(Side::Carrier, ua);
  EXPECT_EQ(down.shows_up, std::optional<bool>(false));
  EXPECT_TRUE(down.link_changed);
  EXPECT_FALSE(feed.link.up());
  // Mid-session: an I-frame shows the link up.
  const auto i = feed(Side::Pbx, iframe(3, kSetup));
  EXPECT_EQ(i.shows_up, std::optional<bool>(true));
  EXPECT_TRUE(i.link_changed);
  // DM: down.
  const auto refused = feed(Side::Carrier, dm);
  EXPECT_EQ(refused.shows_up, std::optional<bool>(false));
  EXPECT_TRUE(refused.link_changed);
  EXPECT_FALSE(feed.link.up());
  // Layer 2 management (SAPI 63) says nothing about the call-control link.
  const auto tei_mgmt = feed(Side::Pbx, {0xfc, 0xff, 0x03, 0x0f, 0x12, 0x34, 0x01, 0xff});
  EXPECT_EQ(tei_mgmt.use, FrameUse::OtherSapi);
  EXPECT_FALSE(tei_mgmt.shows_up.has_value());
  EXPECT_EQ(feed.decoder_calls, 1);
}

TEST(PassiveLink, LinkResetMakesTheFirstMessageNewAgain) {
  LinkFeed feed;
  const Bytes restart = {0x08, 0x02, 0x00, 0x00, 0x46, 0x79, 0x01, 0x87};
  EXPECT_TRUE(feed(Side::Pbx, iframe(0, restart)).delivered);
  EXPECT_EQ(feed(Side::Pbx, iframe(0, restart)).use, FrameUse::Retransmission);
  // DISC, then SABME: both ends restart at N(S) 0 and send the same RESTART again.
  EXPECT_EQ(feed(Side::Carrier, {0x02, 0x01, 0x53}).use, FrameUse::LinkControl);
  EXPECT_TRUE(feed(Side::Pbx, iframe(0, restart)).delivered);
  EXPECT_EQ(feed(Side::Carrier, {0x02, 0x01, 0x7f}).use, FrameUse::LinkControl);
  EXPECT_TRUE(feed(Side::Pbx, iframe(0, restart)).delivered);
  EXPECT_EQ(feed.decoder_calls, 3);
}

TEST(PassiveLink, MalformedFramesSayWhy) {
  LinkFeed feed;
  const auto short_frame = feed(Side::Pbx, {0x00, 0x01});
  EXPECT_EQ(short_frame.use, FrameUse::Malformed);
  EXPECT_EQ(short_frame.error, ParseError::TooShort);
  EXPECT_EQ(feed(Side::Pbx, {0x01, 0x01, 0x03}).error, ParseError::BadAddressEa);
  EXPECT_EQ(feed(Side::Pbx, {0x00, 0x01, 0x0d, 0x00}).error, ParseError::BadControl);
  EXPECT_FALSE(feed(Side::Pbx, {0x00, 0x01}).shows_up.has_value());
  EXPECT_FALSE(feed.link.up());
  EXPECT_EQ(feed.decoder_calls, 0);
  // UI on SAPI 0 is a payload (no sequence number, so never a retransmission).
  const Bytes ui = {0x00, 0x01, 0x03, 0x08, 0x01, 0x01, 0x05};
  EXPECT_EQ(feed(Side::Pbx, ui).use, FrameUse::Payload);
  EXPECT_EQ(feed(Side::Pbx, ui).use, FrameUse::Payload);
  EXPECT_EQ(feed.decoder_calls, 2);
}

}  // namespace
