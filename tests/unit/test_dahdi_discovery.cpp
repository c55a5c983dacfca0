// DAHDI span discovery from sysfs, on a tree laid out as dahdi-sysfs.c writes it (the real
// driver is exercised in the VM tests, tests/vm/).
#include <dahdi/user.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "hal/dahdi/dahdi_source.hpp"
#include "monitor/pipeline.hpp"
#include "tests/support/cli_harness.hpp"
#include "tests/support/sim_harness.hpp"

namespace tw::hal::dahdi {
namespace {

namespace fs = std::filesystem;

void span_dir(const fs::path& root, int n, const std::string& type, int base, int channels,
              const std::string& alarms) {
  const fs::path d = root / ("span-" + std::to_string(n));
  fs::create_directories(d);
  test::write_file(d / "name", "DYN/loc/1:" + std::to_string(n - 1) + "\n");
  test::write_file(d / "desc", "Dynamic 'loc' span at '1:" + std::to_string(n - 1) + "'\n");
  test::write_file(d / "spantype", type + "\n");
  test::write_file(d / "basechan", std::to_string(base) + "\n");
  test::write_file(d / "channels", std::to_string(channels) + "\n");
  test::write_file(d / "alarms", alarms + "\n");
}

TEST(DahdiDiscovery, ReadsEverySpanInOrder) {
  const fs::path root = test::temp_dir("dahdi-sysfs") / "spans";
  fs::remove_all(root);
  span_dir(root, 2, "DYNAMIC", 25, 24, "OK");
  span_dir(root, 1, "T1", 1, 24, "OK");
  span_dir(root, 10, "E1", 49, 31, "RED");
  fs::create_directories(root / "not-a-span");
  std::string error;
  const auto spans = discover_spans(root.string(), error);
  ASSERT_EQ(error, "");
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(spans[0].number, 1);
  EXPECT_EQ(spans[1].number, 2);
  EXPECT_EQ(spans[2].number, 10);
  EXPECT_EQ(spans[1].basechan, 25);
  EXPECT_EQ(spans[1].name, "DYN/loc/1:1");
  EXPECT_EQ(span_type_of(spans[0]), SpanType::T1);
  EXPECT_EQ(span_type_of(spans[1]), SpanType::T1) << "24 channels";
  EXPECT_EQ(span_type_of(spans[2]), SpanType::E1);
  EXPECT_EQ(spans[0].alarms, 0u);
  EXPECT_EQ(spans[2].alarms, alarm::kRed);
}

TEST(DahdiDiscovery, NoDriverIsAClearError) {
  std::string error;
  EXPECT_TRUE(discover_spans("/nonexistent/dahdi_spans", error).empty());
  EXPECT_NE(error.find("is the dahdi module loaded?"), std::string::npos) << error;
  DahdiOptions o;
  o.sysfs_spans = "/nonexistent/dahdi_spans";
  DahdiSource source(o);
  EXPECT_NE(source.open(), "");
}

TEST(DahdiDiscovery, MissingDevicesAreReportedWithThePath) {
  const fs::path root = test::temp_dir("dahdi-nodev");
  fs::remove_all(root);
  span_dir(root / "spans", 1, "T1", 1, 24, "OK");
  span_dir(root / "spans", 2, "T1", 25, 24, "OK");
  DahdiOptions o;
  o.sysfs_spans = (root / "spans").string();
  o.dev_root = (root / "dev").string();
  DahdiSource source(o);
  const std::string err = source.open();
  EXPECT_NE(err.find((root / "dev" / "ctl").string()), std::string::npos) << err;
}

// DAHDI_SPANSTAT's lineconfig as status shows it (bits from the driver's own header).
TEST(DahdiLine, ConfigTextNamesFramingAndLineCode) {
  EXPECT_EQ(line_config_text(DAHDI_CONFIG_ESF | DAHDI_CONFIG_B8ZS), "esf/b8zs");
  EXPECT_EQ(line_config_text(DAHDI_CONFIG_D4 | DAHDI_CONFIG_AMI), "d4/ami");
  EXPECT_EQ(line_config_text(DAHDI_CONFIG_CCS | DAHDI_CONFIG_HDB3 | DAHDI_CONFIG_CRC4),
            "ccs/hdb3/crc4");
  EXPECT_EQ(line_config_text(DAHDI_CONFIG_CCS | DAHDI_CONFIG_HDB3), "ccs/hdb3");
  EXPECT_EQ(line_config_text(0), "") << "a software span, or not configured";
}

TEST(DahdiLine, CounterIncreaseSurvivesAReset) {
  const LineErrors before{10, 4, 0, 7};
  const LineErrors up = counter_increase(before, LineErrors{12, 4, 3, 7});
  EXPECT_EQ(up.bpv, 2u);
  EXPECT_EQ(up.crc, 0u);
  EXPECT_EQ(up.ebit, 3u);
  EXPECT_EQ(up.fas, 0u);
  EXPECT_TRUE(up.any());
  EXPECT_FALSE(counter_increase(before, before).any());
  // The span was configured again: its counters restarted from zero.
  const LineErrors reset = counter_increase(before, LineErrors{1, 0, 0, 2});
  EXPECT_EQ(reset.bpv, 1u);
  EXPECT_EQ(reset.fas, 2u);
}

// Both receivers of a tap pair report into the logical span's counters; another span's stay.
TEST(DahdiLine, LineErrorEventsAddUpPerSpan) {
  test::EndedCalls calls;
  PipelineOptions po;
  SpanInfo a, b;
  a.id = 2;
  b.id = 6;
  po.spans = {a, b};
  Pipeline pipeline(po, calls);
  LineEvent e{2, Timestamp{}, LineEventType::LineErrors, Side::Pbx, 0};
  e.errors = LineErrors{3, 1, 0, 0};
  pipeline.on_line_event(e);
  e.side = Side::Carrier;
  e.errors = LineErrors{0, 2, 5, 1};
  pipeline.on_line_event(e);
  for (const auto& s : pipeline.spans()) {
    const LineErrors& k = s.stats.line_errors;
    if (s.info.id == 2) {
      EXPECT_EQ(k.bpv, 3u);
      EXPECT_EQ(k.crc, 3u);
      EXPECT_EQ(k.ebit, 5u);
      EXPECT_EQ(k.fas, 1u);
    } else {
      EXPECT_FALSE(k.any());
    }
  }
}

}  // namespace
}  // namespace tw::hal::dahdi
