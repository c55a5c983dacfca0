// The raw-bit D-channel receiver (hal/dahdi/soft_hdlc) against an HDLC encoder written here
// from the rules (ISO/IEC 13239, Q.921 section 2), not SpanDSP's: flags 0x7E, each octet sent
// least significant bit first, a 0 stuffed after five 1s, the FCS (CRC-16/X.25) sent low
// octet first, and the line bits packed into channel bytes most significant bit first, as
// DAHDI's soft HDLC does (docs/vm-tests.md).
#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <vector>

#include "hal/dahdi/soft_hdlc.hpp"

namespace tw::hal::dahdi {
namespace {

using Bytes = std::vector<std::uint8_t>;

std::uint16_t fcs16(std::span<const std::uint8_t> frame) {
  std::uint16_t crc = 0xFFFF;
  for (std::uint8_t b : frame) {
    crc ^= b;
    for (int i = 0; i < 8; ++i) crc = (crc & 1) ? (crc >> 1) ^ 0x8408 : crc >> 1;
  }
  return static_cast<std::uint16_t>(~crc);
}

class LineEncoder {
 public:
  void flags(int n) {
    for (int k = 0; k < n; ++k)
      for (int b : {0, 1, 1, 1, 1, 1, 1, 0}) bit(b);
  }
  void frame(const Bytes& f, bool corrupt_fcs = false) {
    Bytes all = f;
    std::uint16_t fcs = fcs16(f);
    if (corrupt_fcs) fcs ^= 0x0100;
    all.push_back(static_cast<std::uint8_t>(fcs & 0xFF));
    all.push_back(static_cast<std::uint8_t>(fcs >> 8));
    int ones = 0;
    for (std::uint8_t o : all)
      for (int i = 0; i < 8; ++i) {
        const int b = (o >> i) & 1;
        bit(b);
        ones = b ? ones + 1 : 0;
        if (ones == 5) {
          bit(0);
          ones = 0;
        }
      }
  }
  void ones(int n) {
    for (int k = 0; k < n; ++k) bit(1);
  }
  void octets(const Bytes& raw) {  // unstuffed, for a frame cut short
    for (std::uint8_t o : raw)
      for (int i = 0; i < 8; ++i) bit((o >> i) & 1);
  }
  Bytes bytes() {
    Bytes out = out_;
    if (n_) out.push_back(static_cast<std::uint8_t>(cur_ << (8 - n_) | ((1 << (8 - n_)) - 1)));
    return out;
  }

 private:
  void bit(int b) {
    cur_ = static_cast<std::uint8_t>(cur_ << 1 | b);
    if (++n_ == 8) {
      out_.push_back(cur_);
      cur_ = 0;
      n_ = 0;
    }
  }
  Bytes out_;
  std::uint8_t cur_ = 0;
  int n_ = 0;
};

struct Received {
  std::vector<Bytes> frames;
  SoftHdlcReceiver rx{
      [this](std::span<const std::uint8_t> f) { frames.emplace_back(f.begin(), f.end()); }};
  void feed(const Bytes& line, std::size_t chunk) {
    for (std::size_t i = 0; i < line.size(); i += chunk)
      rx.put(std::span(line).subspan(i, std::min(chunk, line.size() - i)));
  }
};

const Bytes kSabme = {0x02, 0x01, 0x7F};

// An I-frame of the maximum size whose information needs stuffing all over (runs of 1s).
Bytes long_iframe() {
  Bytes f = {0x00, 0x01, 0x00, 0x00};
  for (int i = 0; i < 260; ++i) f.push_back(i % 3 ? 0xFF : static_cast<std::uint8_t>(i));
  return f;
}

TEST(SoftHdlc, TheEncoderHereGivesTheFcsTheDriverSent) {
  // A SABME written in HDLC-FCS mode came back from DAHDI as 02 01 7f dc e1.
  const std::uint16_t fcs = fcs16(kSabme);
  EXPECT_EQ(fcs & 0xFF, 0xDC);
  EXPECT_EQ(fcs >> 8, 0xE1);
}

TEST(SoftHdlc, FramesComeOutWithoutTheirFcsWhateverTheReadSize) {
  LineEncoder line;
  line.ones(80);  // an idle clear channel (0xFF) before the link comes up
  line.flags(4);
  line.frame(kSabme);
  line.flags(1);
  line.frame(long_iframe());
  line.flags(3);
  line.frame({0x02, 0x01, 0x01, 0x05});  // RR
  line.flags(2);
  const Bytes bits = line.bytes();
  for (std::size_t chunk : {1u, 7u, 160u, 1024u}) {
    SCOPED_TRACE(chunk);
    Received r;
    r.feed(bits, chunk);
    ASSERT_EQ(r.frames.size(), 3u);
    EXPECT_EQ(r.frames[0], kSabme);
    EXPECT_EQ(r.frames[1], long_iframe());
    EXPECT_EQ(r.frames[2], (Bytes{0x02, 0x01, 0x01, 0x05}));
    const auto c = r.rx.counters();
    EXPECT_EQ(c.frames, 3u);
    EXPECT_EQ(c.bad_fcs, 0u);
  }
}

TEST(SoftHdlc, BadFcsAndAbortsAreCountedAndTheNextFrameStillDecodes) {
  LineEncoder line;
  line.flags(2);
  line.frame(kSabme, /*corrupt_fcs=*/true);
  line.flags(1);
  line.octets({0x00, 0x01, 0x00, 0x00, 0x08});  // a frame cut by an abort
  line.ones(8);
  line.flags(2);
  line.frame(kSabme);
  line.flags(2);
  Received r;
  r.feed(line.bytes(), 160);
  ASSERT_EQ(r.frames.size(), 1u);
  EXPECT_EQ(r.frames[0], kSabme);
  const auto c = r.rx.counters();
  EXPECT_EQ(c.frames, 1u);
  EXPECT_EQ(c.bad_fcs, 1u);
  EXPECT_EQ(c.aborts, 1u);
}

TEST(SoftHdlc, LeastSignificantBitFirstBytesAreNotFrames) {
  // The same line with each channel byte mirrored: what a receiver with the wrong bit order
  // would be fed. Nothing may come out of it.
  LineEncoder line;
  line.flags(2);
  line.frame(kSabme);
  line.flags(1);
  line.frame(long_iframe());
  line.flags(2);
  Bytes mirrored = line.bytes();
  for (std::uint8_t& b : mirrored) {
    std::uint8_t m = 0;
    for (int i = 0; i < 8; ++i) m = static_cast<std::uint8_t>(m | ((b >> i) & 1) << (7 - i));
    b = m;
  }
  Received r;
  r.feed(mirrored, 160);
  EXPECT_TRUE(r.frames.empty());
  EXPECT_EQ(r.rx.counters().frames, 0u);
}

TEST(SoftHdlc, IdleBetweenFramesIsNotAnError) {
  // Between frames a line idles with flags (a PRI, and DAHDI's own HDLC) or with all ones
  // (mark idle, after a closing flag): neither is a bad frame, which the card source reports
  // as a line error. SpanDSP counts the ones as an abort: the card source counts aborts but
  // does not report them as line errors for that reason.
  LineEncoder line;
  line.flags(3);
  line.frame(kSabme);
  line.flags(40);
  line.frame(kSabme);
  line.flags(1);
  line.ones(400);
  line.flags(2);
  line.frame(kSabme);
  line.flags(2);
  Received r;
  r.feed(line.bytes(), 64);
  EXPECT_EQ(r.frames.size(), 3u);
  const auto c = r.rx.counters();
  EXPECT_EQ(c.bad_fcs, 0u);
  EXPECT_EQ(c.length_errors, 0u);
  EXPECT_EQ(c.aborts, 1u);  // the mark idle
}

}  // namespace
}  // namespace tw::hal::dahdi
