// Cross-check against an independent decoder: tshark (Wireshark's dissectors) and trunkwatch
// decode the same simulator capture, as pcapng and as classic pcap; per frame, message type,
// call reference, numbers, cause and channel must agree, and in pcapng the span (the interface
// name) and the direction (the packet flags) too.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "hal/replay/pcap_io.hpp"
#include "hal/sim/scenario.hpp"
#include "hal/sim/simulator.hpp"
#include "monitor/q921/lapd.hpp"
#include "monitor/q931/message.hpp"
#include "tests/support/temp_dir.hpp"

namespace tw {
namespace {

struct NullSink : hal::SpanSink {
  void on_frame(const hal::DFrame&) override {}
  void on_line_event(const hal::LineEvent&) override {}
};

// The fields compared, as text, in tshark's formatting.
struct Row {
  std::string type, flag, cref, calling, called, cause, channel;
  std::string interface, direction;  // pcapng: "span2", "outbound"/"inbound"
  std::string str() const {
    return "type=" + type + " flag=" + flag + " cref=" + cref + " calling=" + calling +
           " called=" + called + " cause=" + cause + " channel=" + channel;
  }
  std::string where() const { return interface + " " + direction; }
};

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : line) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

std::string hex2(unsigned v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", v);
  return buf;
}

// tshark prints the call reference as its bytes in hex ("001c"); ours is a number.
std::string call_ref_from_hex(const std::string& s) {
  if (s.empty()) return s;
  try {
    return std::to_string(std::stoul(s, nullptr, 16));
  } catch (...) {
    return "unparsable:" + s;
  }
}

class TsharkCrossCheck : public testing::TestWithParam<hal::CaptureFormat> {};

TEST_P(TsharkCrossCheck, EveryQ931FrameDecodesTheSame) {
  const hal::CaptureFormat format = GetParam();
  const bool pcapng = format == hal::CaptureFormat::Pcapng;
  if (std::system("command -v tshark >/dev/null 2>&1") != 0)
    GTEST_FAIL() << "tshark not installed: scripts/setup.sh installs it";
  std::string error;
  auto scenario = sim::parse_scenario(R"(
[scenario]
name = "tshark"
start = "2027-01-05T08:00:00Z"
seed = 77
[[span]]
id = 1
type = "t1"
switchtype = "ni2"
[[span]]
id = 2
type = "e1"
switchtype = "euroisdn"
[traffic]
calls = 200
duration_s = 1200
overlap_share = 0.3
keypad_share = 0.2
)",
                                      "tshark", error);
  ASSERT_TRUE(scenario) << error;
  const auto dir = test::temp_dir("tshark");
  const std::string pcap = (dir / ("cross." + std::string(hal::to_string(format)))).string();
  sim::Simulator simulator(*scenario,
                           sim::SimOptions{.speed = 0, .pcap_path = pcap, .pcap_format = format});
  NullSink sink;
  ASSERT_FALSE(simulator.run(sink));

  // Theirs.
  const std::string fields = (dir / "tshark.tsv").string();
  const std::string cmd =
      "tshark -n -r " + pcap +
      " -T fields -E separator=/t -E occurrence=f -e frame.number -e q931.message_type"
      " -e q931.call_ref_flag -e q931.call_ref -e q931.calling_party_number.digits"
      " -e q931.called_party_number.digits -e q931.cause_value -e q931.channel.number"
      " -e frame.interface_name -e frame.packet_flags_direction > " +
      fields + " 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::vector<Row> theirs;
  {
    std::ifstream in(fields);
    for (std::string line; std::getline(in, line);) {
      auto f = split(line, '\t');
      f.resize(10);
      const std::string direction = f[9] == "0x00000001"   ? "inbound"
                                    : f[9] == "0x00000002" ? "outbound"
                                                           : f[9];
      theirs.push_back({f[1].empty() ? "" : hex2(std::stoul(f[1], nullptr, 0)),
                        f[2] == "True"    ? "1"
                        : f[2] == "False" ? "0"
                                          : f[2],
                        call_ref_from_hex(f[3]), f[4], f[5], f[6], f[7], f[8], direction});
    }
  }

  // Ours.
  hal::PcapReader reader;
  ASSERT_EQ(reader.open(pcap), "");
  EXPECT_EQ(reader.format(), format);
  std::vector<Row> ours;
  hal::CapturedFrame cf;
  q931::Message m;
  while (reader.next(cf) == hal::ReadStatus::Frame) {
    Row row;
    if (pcapng) {
      row.interface = "span" + std::to_string(cf.span);
      row.direction = cf.from == hal::Side::Pbx ? "outbound" : "inbound";
    }
    q921::Frame l2;
    const bool q931_frame = q921::parse(cf.bytes, l2) == q921::ParseError::None && l2.sapi == 0 &&
                            (l2.kind == q921::FrameKind::I ||
                             (l2.kind == q921::FrameKind::U && l2.u_type == q921::UType::UI));
    // E1 spans speak EuroISDN; this capture's span 2 is the E1.
    const auto variant = cf.span == 2 ? hal::SwitchType::EuroIsdn : hal::SwitchType::Ni2;
    if (q931_frame && q931::decode(l2.info, variant, m) == q931::DecodeError::None) {
      row.type = hex2(m.type);
      row.flag = m.call_ref_flag ? "1" : "0";
      row.cref = std::to_string(m.call_ref);
      row.calling = m.calling.present ? std::string(m.calling.digits.view()) : "";
      row.called = m.called.present ? std::string(m.called.digits.view()) : "";
      row.cause = m.cause.present ? std::to_string(m.cause.value) : "";
      row.channel = m.channel.present && m.channel.channel ? std::to_string(m.channel.channel) : "";
    }
    ours.push_back(row);
  }

  ASSERT_EQ(ours.size(), theirs.size());
  std::size_t compared = 0;
  std::set<std::string> interfaces;
  for (std::size_t i = 0; i < ours.size(); ++i) {
    EXPECT_EQ(ours[i].where(), theirs[i].where()) << "frame " << i + 1;
    interfaces.insert(theirs[i].interface);
    if (theirs[i].type.empty() && ours[i].type.empty()) continue;  // link control
    EXPECT_EQ(ours[i].str(), theirs[i].str()) << "frame " << i + 1;
    ++compared;
  }
  EXPECT_GT(compared, 1500u);
  const std::set<std::string> expected =
      pcapng ? std::set<std::string>{"span1", "span2"} : std::set<std::string>{""};
  EXPECT_EQ(interfaces, expected);
}

INSTANTIATE_TEST_SUITE_P(Formats, TsharkCrossCheck,
                         testing::Values(hal::CaptureFormat::Pcapng, hal::CaptureFormat::Pcap),
                         [](const testing::TestParamInfo<hal::CaptureFormat>& i) {
                           return std::string(hal::to_string(i.param));
                         });

}  // namespace
}  // namespace tw
