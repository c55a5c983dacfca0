// The capture files: pcapng as trunkwatch writes it (one interface per span, the direction in
// epb_flags), pcapng as other writers may write it (big-endian, nanoseconds, several sections,
// blocks trunkwatch does not know), damaged pcapng, and the times each format holds.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "hal/replay/pcap_io.hpp"
#include "hal/replay/pcapng.hpp"
#include "tests/support/temp_dir.hpp"

namespace tw {
namespace {

namespace fs = std::filesystem;

fs::path temp_path(const std::string& name) {
  return test::temp_dir("pcapng") / name;
}

hal::Timestamp at(int y, int mo, int d, int h, int mi, int s, long long us = 0) {
  return *hal::make_time(y, mo, d, h, mi, s, us, 0);
}

const std::vector<std::uint8_t> kSetupFrame = {0x00, 0x01, 0x00, 0x00, 0x08,
                                               0x02, 0x00, 0x01, 0x05};

struct Read {
  std::vector<hal::CapturedFrame> frames;
  std::vector<std::vector<std::uint8_t>> bytes;
  std::size_t skipped = 0;
  std::string error;
};

Read read_all(const fs::path& path) {
  Read r;
  hal::PcapReader reader;
  if (std::string err = reader.open(path.string()); !err.empty()) {
    r.error = err;
    return r;
  }
  hal::CapturedFrame cf;
  for (;;) {
    const hal::ReadStatus s = reader.next(cf);
    if (s == hal::ReadStatus::End) break;
    if (s == hal::ReadStatus::Error) {
      r.error = reader.error();
      break;
    }
    if (s == hal::ReadStatus::Skipped) {
      ++r.skipped;
      continue;
    }
    r.frames.push_back(cf);
    r.bytes.emplace_back(cf.bytes.begin(), cf.bytes.end());
  }
  return r;
}

TEST(Pcapng, WriterKeepsEachSpanAsAnInterfaceWithDirectionAndTime) {
  const fs::path path = temp_path("site.pcapng");
  hal::PcapWriter w;
  ASSERT_EQ(w.open(path.string()), "");
  const hal::Timestamp t2040 = at(2040, 1, 5, 9, 0, 0, 123456);
  const hal::Timestamp t2107 = at(2107, 3, 1, 12, 0, 0, 1);
  EXPECT_EQ(w.write_raw(2, hal::Side::Pbx, t2040, hal::Role::User, kSetupFrame), "");
  EXPECT_EQ(w.write_raw(1, hal::Side::Carrier, t2040 + std::chrono::microseconds(1),
                        hal::Role::Network, kSetupFrame),
            "");
  EXPECT_EQ(w.write_raw(2, hal::Side::Carrier, t2107, hal::Role::User, kSetupFrame), "");
  EXPECT_EQ(w.close(), "");

  const Read r = read_all(path);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.frames.size(), 3u);
  EXPECT_EQ(r.frames[0].span, 2);
  EXPECT_EQ(r.frames[0].from, hal::Side::Pbx);
  EXPECT_EQ(r.frames[0].time, t2040);
  EXPECT_EQ(r.frames[0].pbx_role, hal::Role::User);
  EXPECT_EQ(r.frames[1].span, 1);
  EXPECT_EQ(r.frames[1].from, hal::Side::Carrier);
  EXPECT_EQ(r.frames[1].pbx_role, hal::Role::Network);
  EXPECT_EQ(hal::format_time(r.frames[2].time), "2107-03-01T12:00:00.000Z");
  EXPECT_EQ(r.frames[2].time, t2107);
  EXPECT_EQ(r.bytes[2], kSetupFrame);

  // The interfaces: one per span, named for it, in the order their first frames came.
  std::ifstream in(path, std::ios::binary);
  hal::pcapng::Reader raw;
  ASSERT_EQ(raw.open(in), "");
  hal::pcapng::Packet p;
  while (raw.next(p) == hal::pcapng::ReadStatus::Packet) {
  }
  ASSERT_EQ(raw.error(), "");
  ASSERT_EQ(raw.interfaces().size(), 2u);
  EXPECT_EQ(raw.interfaces()[0].name, "span2");
  EXPECT_EQ(raw.interfaces()[1].name, "span1");
  EXPECT_EQ(raw.interfaces()[0].linktype, hal::kLinktypeLinuxLapd);
  EXPECT_NE(raw.interfaces()[1].description.find("span 1"), std::string::npos);
  EXPECT_NE(raw.interfaces()[1].description.find("network side"), std::string::npos);
}

// The reader takes the file in chunks and reads each block where it lies: blocks that cross a
// chunk's end and a block larger than a chunk come back whole, byte for byte.
TEST(Pcapng, BlocksAcrossAndLargerThanTheReadChunkComeBackWhole) {
  hal::pcapng::Writer w;
  w.section_header("test");
  w.interface(hal::kLinktypeLinuxLapd, "span1", "");
  std::vector<std::vector<std::uint8_t>> sent;
  for (std::size_t i = 0; i < 12000; ++i) {
    // 1..397 bytes, then one of 600 KiB (larger than the chunk) in the middle.
    const std::size_t size = i == 6000 ? 600 * 1024 : 1 + (i * 7919) % 397;
    std::vector<std::uint8_t> data(size);
    for (std::size_t k = 0; k < size; ++k) data[k] = static_cast<std::uint8_t>(i * 31 + k);
    w.enhanced_packet(0, 1'000'000 + i, 0, data);
    sent.push_back(std::move(data));
  }
  const fs::path path = temp_path("chunks.pcapng");
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(w.bytes().data()),
              static_cast<std::streamsize>(w.bytes().size()));
  }
  ASSERT_GT(fs::file_size(path), 3u << 20);
  std::ifstream in(path, std::ios::binary);
  hal::pcapng::Reader reader;
  ASSERT_EQ(reader.open(in), "");
  hal::pcapng::Packet p;
  std::size_t i = 0;
  while (reader.next(p) == hal::pcapng::ReadStatus::Packet) {
    ASSERT_LT(i, sent.size());
    ASSERT_TRUE(std::equal(p.data.begin(), p.data.end(), sent[i].begin(), sent[i].end()))
        << "packet " << i << " of " << sent[i].size() << " bytes";
    EXPECT_EQ(p.time_us, static_cast<std::int64_t>(1'000'000 + i));
    ++i;
  }
  EXPECT_EQ(reader.error(), "");
  EXPECT_EQ(i, sent.size());
}

TEST(Pcapng, ClassicPcapHoldsTimesTo2106AndRefusesLater) {
  const fs::path path = temp_path("classic.pcap");
  hal::PcapWriter w;
  ASSERT_EQ(w.open(path.string(), hal::CaptureFormat::Pcap), "");
  const hal::Timestamp t2040 = at(2040, 1, 5, 9, 0, 0, 250000);
  const hal::Timestamp t2105 = at(2105, 12, 31, 23, 59, 59, 999999);
  const hal::Timestamp last = at(2106, 2, 7, 6, 28, 15, 999999);
  EXPECT_EQ(w.write_raw(1, hal::Side::Pbx, t2040, hal::Role::User, kSetupFrame), "");
  EXPECT_EQ(w.write_raw(3, hal::Side::Carrier, t2105, hal::Role::User, kSetupFrame), "");
  EXPECT_EQ(w.write_raw(1, hal::Side::Pbx, last, hal::Role::User, kSetupFrame), "");
  const std::string err = w.write_raw(1, hal::Side::Pbx, last + std::chrono::microseconds(1),
                                      hal::Role::User, kSetupFrame);
  EXPECT_EQ(err,
            "a frame at 2106-02-07T06:28:16.000Z cannot be stored: pcap holds times from "
            "1970-01-01 to 2106-02-07T06:28:15.999Z (32-bit seconds); write pcapng, which holds "
            "64-bit times");
  // Nothing more goes out after a refusal: the file ends with the last frame it could hold.
  EXPECT_EQ(w.write_raw(1, hal::Side::Pbx, t2040, hal::Role::User, kSetupFrame), err);
  EXPECT_EQ(w.close(), err);

  const Read r = read_all(path);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.frames.size(), 3u);
  EXPECT_EQ(hal::format_time(r.frames[0].time), "2040-01-05T09:00:00.250Z");
  EXPECT_EQ(r.frames[0].time, t2040);
  EXPECT_EQ(r.frames[1].time, t2105);
  EXPECT_EQ(r.frames[1].span, 3);
  EXPECT_EQ(r.frames[2].time, last);

  // pcapng: nothing before 1970 either (its times are unsigned).
  hal::PcapWriter ng;
  ASSERT_EQ(ng.open(temp_path("early.pcapng").string()), "");
  EXPECT_EQ(
      ng.write_raw(1, hal::Side::Pbx, at(1969, 12, 31, 23, 59, 59), hal::Role::User, kSetupFrame),
      "a frame at 1969-12-31T23:59:59.000Z cannot be stored: pcapng holds times from "
      "1970-01-01 to 9999-12-31T23:59:59.999Z");
}

// Builds pcapng by hand, in either byte order, as other writers may.
struct Blocks {
  bool big = false;
  std::vector<std::uint8_t> v;
  void u8(std::uint8_t x) { v.push_back(x); }
  void u16(std::uint16_t x) {
    if (big) {
      u8(static_cast<std::uint8_t>(x >> 8));
      u8(static_cast<std::uint8_t>(x));
    } else {
      u8(static_cast<std::uint8_t>(x));
      u8(static_cast<std::uint8_t>(x >> 8));
    }
  }
  void u32(std::uint32_t x) {
    if (big) {
      u16(static_cast<std::uint16_t>(x >> 16));
      u16(static_cast<std::uint16_t>(x));
    } else {
      u16(static_cast<std::uint16_t>(x));
      u16(static_cast<std::uint16_t>(x >> 16));
    }
  }
  void bytes(const std::vector<std::uint8_t>& b) {
    v.insert(v.end(), b.begin(), b.end());
    while (v.size() % 4) u8(0);
  }
  void option(std::uint16_t code, const std::vector<std::uint8_t>& value) {
    u16(code);
    u16(static_cast<std::uint16_t>(value.size()));
    bytes(value);
  }
  // A block: type, length, body (a function that appends it), length.
  template <typename Body>
  void block(std::uint32_t type, Body body) {
    const std::size_t start = v.size();
    u32(type);
    u32(0);
    body();
    u32(0);
    const auto length = static_cast<std::uint32_t>(v.size() - start);
    Blocks l{big, {}};
    l.u32(length);
    std::copy(l.v.begin(), l.v.end(), v.begin() + static_cast<std::ptrdiff_t>(start + 4));
    std::copy(l.v.begin(), l.v.end(), v.end() - 4);
  }
  void section() {
    block(hal::pcapng::kSectionHeader, [&] {
      u32(hal::pcapng::kByteOrderMagic);
      u16(1);
      u16(0);
      u32(0xffffffff);
      u32(0xffffffff);
    });
  }
  void interface(int linktype, const std::vector<std::vector<std::uint8_t>>& options) {
    block(hal::pcapng::kInterfaceDescription, [&] {
      u16(static_cast<std::uint16_t>(linktype));
      u16(0);
      u32(0);
      for (std::size_t i = 0; i + 1 < options.size(); i += 2)
        option(static_cast<std::uint16_t>(options[i][0]), options[i + 1]);
      u32(0);
    });
  }
  void packet(std::uint32_t iface, std::uint64_t units, const std::vector<std::uint8_t>& data,
              std::optional<std::uint32_t> flags) {
    block(hal::pcapng::kEnhancedPacket, [&] {
      u32(iface);
      u32(static_cast<std::uint32_t>(units >> 32));
      u32(static_cast<std::uint32_t>(units));
      u32(static_cast<std::uint32_t>(data.size()));
      u32(static_cast<std::uint32_t>(data.size()));
      bytes(data);
      if (flags) {
        Blocks f{big, {}};
        f.u32(*flags);
        option(2, f.v);
      }
      u32(0);
    });
  }
  void save(const fs::path& p) const {
    std::ofstream(p, std::ios::binary)
        .write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size()));
  }
};

std::vector<std::uint8_t> name(const std::string& s) {
  return {s.begin(), s.end()};
}

// The LINUX_LAPD pseudo-header as Wireshark re-writes it: direction and role kept, span gone.
std::vector<std::uint8_t> lapd_record(std::uint16_t pkttype, std::uint8_t span) {
  std::vector<std::uint8_t> r = {static_cast<std::uint8_t>(pkttype >> 8),
                                 static_cast<std::uint8_t>(pkttype),
                                 0,
                                 0,
                                 0,
                                 1,
                                 0,
                                 span,
                                 0,
                                 0,
                                 0,
                                 0,
                                 0,
                                 0,
                                 0,
                                 0x30};
  r.insert(r.end(), kSetupFrame.begin(), kSetupFrame.end());
  return r;
}

TEST(Pcapng, ReadsBothByteOrdersSectionsResolutionsAndSkipsUnknownBlocks) {
  Blocks b{.big = true, .v = {}};
  b.section();
  b.block(0x00000BAD, [&] { b.u32(12345); });  // a block type trunkwatch does not know
  // Nanoseconds, an offset of 10 s, named as trunkwatch names spans.
  b.interface(hal::kLinktypeLinuxLapd,
              {{2}, name("span7"), {9}, {9}, {14}, {0, 0, 0, 0, 0, 0, 0, 10}});
  // 2040-01-05T09:00:00.123456789Z minus the 10 s offset, in nanoseconds.
  const std::uint64_t ns = 2209366790'123456789ULL;
  b.packet(0, ns, lapd_record(4, 0), 1u);  // the flags say inbound: they win
  b.block(4, [&] { b.u32(0); });           // a name resolution block: skipped
  // A second section, little-endian: interface numbers start again.
  Blocks l{.big = false, .v = {}};
  l.section();
  l.interface(hal::kLinktypeLinuxLapd, {{2}, name("eth0")});  // another writer's interface
  l.interface(hal::kLinktypeLinuxLapd, {});
  l.packet(1, 2209366800'000000ULL, lapd_record(0, 0), std::nullopt);  // span: interface 2
  l.packet(0, 2209366800'000001ULL, lapd_record(4, 5), 0u);  // span 5 from the pseudo-header
  l.interface(1, {});                                        // Ethernet: not a D-channel
  l.packet(2, 2209366800'000002ULL, lapd_record(4, 0), std::nullopt);
  b.v.insert(b.v.end(), l.v.begin(), l.v.end());
  const fs::path path = temp_path("foreign.pcapng");
  b.save(path);

  const Read r = read_all(path);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.frames.size(), 3u);
  EXPECT_EQ(r.skipped, 1u);
  EXPECT_EQ(hal::format_time(r.frames[0].time), "2040-01-05T09:00:00.123Z");
  EXPECT_EQ(r.frames[0].time, at(2040, 1, 5, 9, 0, 0, 123456));
  EXPECT_EQ(r.frames[0].span, 7);
  EXPECT_EQ(r.frames[0].from, hal::Side::Carrier);
  EXPECT_EQ(r.bytes[0], kSetupFrame);
  EXPECT_EQ(r.frames[1].span, 2);
  EXPECT_EQ(r.frames[1].from, hal::Side::Carrier);
  EXPECT_EQ(r.frames[2].span, 5);
  EXPECT_EQ(r.frames[2].from, hal::Side::Pbx);  // flags without a direction: the pseudo-header
  EXPECT_EQ(r.frames[2].time, at(2040, 1, 5, 9, 0, 0, 1));
}

TEST(Pcapng, DamagedFilesAreErrorsThatSayWhere) {
  // A good file to damage.
  Blocks good{.big = false, .v = {}};
  good.section();
  good.interface(hal::kLinktypeLinuxLapd, {{2}, name("span1")});
  good.packet(0, 1, lapd_record(4, 0), 2u);
  good.packet(0, 2, lapd_record(0, 0), 1u);
  const fs::path path = temp_path("damaged.pcapng");

  // Every truncation: an error saying so (or, at a block boundary, a clean end), never more
  // frames than were whole.
  for (std::size_t cut = 4; cut < good.v.size(); ++cut) {
    SCOPED_TRACE(cut);
    Blocks b = good;
    b.v.resize(cut);
    b.save(path);
    const Read r = read_all(path);
    if (!r.error.empty()) {
      EXPECT_NE(r.error.find("truncated"), std::string::npos) << r.error;
    }
    EXPECT_LE(r.frames.size(), 2u);
  }

  const std::size_t shb = 28;  // the section header: 28 bytes, no options
  ASSERT_EQ(good.v[shb], 1);   // the interface block starts there
  const std::size_t idb_len = good.v[shb + 4];
  const std::size_t epb = shb + idb_len;
  ASSERT_EQ(good.v[epb], 6);
  struct Damage {
    const char* what;
    std::size_t at;
    std::vector<std::uint8_t> bytes;
    std::string error;
  };
  const std::string at_epb = "pcapng block at byte " + std::to_string(epb) + ": ";
  const Damage damages[] = {
      {"length not a multiple of 4",
       epb + 4,
       {0x3e, 0, 0, 0},
       at_epb + "block length 62 (must be a multiple of 4"},
      {"length past the limit", epb + 4, {0, 0, 0, 0x40}, at_epb + "block length 1073741824"},
      {"length too short", epb + 4, {8, 0, 0, 0}, at_epb + "block length 8"},
      {"trailer differs", epb + 4, {0x40, 0, 0, 0}, at_epb + "block length 64 at its start but"},
      {"captured length past the block",
       epb + 20,
       {0xff, 0, 0, 0},
       at_epb + "enhanced packet: captured length 255 runs past the block"},
      {"undescribed interface",
       epb + 8,
       {3, 0, 0, 0},
       at_epb + "enhanced packet: a packet of interface 3, which the section "
                "has not described (it describes 1)"},
      {"option past the block",
       epb + 28 + 28,
       {2, 0, 0x40, 0},
       at_epb + "enhanced packet: option 2 of 64 bytes runs past the block"},
      {"flags of the wrong size",
       epb + 28 + 28,
       {2, 0, 3, 0},
       at_epb + "enhanced packet: flags option of 3 bytes"},
      {"unknown version", 12, {2, 0}, "pcapng block at byte 0: section header: pcapng version 2.0"},
      {"bad byte-order magic",
       8,
       {0x4d, 0x3c, 0x2b, 0x1b},
       "pcapng block at byte 0: section header with an unknown byte-order magic"},
      {"time resolution",
       shb + 16 + 12 + 4,
       {0x7f},
       "pcapng block at byte 28: interface description: if_tsresol: a time resolution finer"},
  };
  for (const Damage& d : damages) {
    SCOPED_TRACE(d.what);
    Blocks b = good;
    // The interface gets an if_tsresol option to damage (before its end of options).
    if (std::string(d.what) == "time resolution") {
      b = Blocks{.big = false, .v = {}};
      b.section();
      b.interface(hal::kLinktypeLinuxLapd, {{2}, name("span1"), {9}, {6}});
    }
    ASSERT_LE(d.at + d.bytes.size(), b.v.size());
    std::copy(d.bytes.begin(), d.bytes.end(), b.v.begin() + static_cast<std::ptrdiff_t>(d.at));
    b.save(path);
    const Read r = read_all(path);
    EXPECT_EQ(r.error.substr(0, d.error.size()), d.error) << r.error;
  }
}

TEST(Pcapng, OtherLinkTypesAreRefusedAndAnEmptyCaptureIsEmpty) {
  Blocks eth{.big = false, .v = {}};
  eth.section();
  eth.interface(1, {{2}, name("eth0")});
  eth.packet(0, 1, std::vector<std::uint8_t>(60, 0), std::nullopt);
  eth.save(temp_path("ethernet.pcapng"));
  EXPECT_EQ(read_all(temp_path("ethernet.pcapng")).error,
            "link type 1 (EN10MB) is not a D-channel capture; expected LINUX_LAPD (177) or LAPD "
            "(203)");
  Blocks empty{.big = true, .v = {}};
  empty.section();
  empty.save(temp_path("empty.pcapng"));
  const Read r = read_all(temp_path("empty.pcapng"));
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.frames.size(), 0u);
}

}  // namespace
}  // namespace tw
