// The detector banks on worker threads give exactly the records of the inline banks: the
// same busy mixed T1/E1 site (speech, keyed digits both ways, DISA dial tones, fax, modems)
// fed to an inline pipeline and to pooled ones at once; and the same again with the chunks
// as the card source hands them over (with the G.711 codes the samples were expanded from).
#include <gtest/gtest.h>

#include <map>

#include "dsp/g711.hpp"
#include "hal/sim/scenario.hpp"
#include "hal/sim/simulator.hpp"
#include "monitor/pipeline.hpp"
#include "monitor/store/json_store.hpp"
#include "tests/support/sim_harness.hpp"

namespace tw {
namespace {

std::vector<std::string> lines(const test::EndedCalls& calls) {
  std::vector<std::string> out;
  for (const auto& r : calls.ended) out.push_back(store::to_json_line(store::to_json(r)));
  return out;
}

// Adds to each chunk the G.711 codes of its samples, in its span's law, as the card source
// does with the bytes it read (the simulator's samples are G.711 values: counted if not).
struct WithG711 final : hal::SpanSink {
  WithG711(hal::SpanSink& next, const std::vector<hal::SpanInfo>& spans) : next(next) {
    for (const auto& s : spans)
      law[s.id] = s.type == hal::SpanType::E1 ? dsp::Law::alaw : dsp::Law::ulaw;
  }
  void on_frame(const hal::DFrame& f) override { next.on_frame(f); }
  void on_line_event(const hal::LineEvent& e) override { next.on_line_event(e); }
  void on_tick(hal::Timestamp t) override { next.on_tick(t); }
  void on_audio(const hal::AudioChunk& a) override {
    const dsp::Law l = law.at(a.span);
    codes.resize(a.samples.size());
    for (std::size_t i = 0; i < codes.size(); ++i) {
      codes[i] = dsp::g711_encode(l, a.samples[i]);
      not_g711 += dsp::g711_decode(l, codes[i]) != a.samples[i];
    }
    hal::AudioChunk coded = a;
    coded.g711 = codes;
    next.on_audio(coded);
  }
  hal::SpanSink& next;
  std::map<int, dsp::Law> law;
  std::vector<std::uint8_t> codes;
  std::size_t not_g711 = 0;
};

TEST(DspPool, SameRecordsAsInline) {
  std::string error;
  const auto s = sim::parse_scenario(R"(
[scenario]
seed = 5
[[span]]
id = 1
type = "t1"
[[span]]
id = 2
type = "e1"
[[span]]
id = 3
type = "t1"
[audio]
enabled = true
[traffic]
calls = 120
duration_s = 600
mean_talk_s = 40
max_talk_s = 90
answer_rate = 0.9
fax_share = 0.1
modem_share = 0.1
silence_share = 0.05
dtmf_share = 0.4
disa_share = 0.2
)",
                                     "pool.toml", error);
  ASSERT_TRUE(s) << error;
  sim::Simulator simulator(*s, sim::SimOptions{.speed = 0, .pcap_path = {}, .audio = true});
  PipelineOptions po;
  po.spans = simulator.spans();
  po.span_defaults = po.spans.front();
  test::EndedCalls inline_calls, one_calls, three_calls;
  Pipeline inline_pipeline(po, inline_calls);
  po.dsp_threads = 1;
  Pipeline one(po, one_calls);
  po.dsp_threads = 3;
  Pipeline three(po, three_calls);
  test::EndedCalls coded_inline_calls, coded_two_calls;
  po.dsp_threads = 0;
  Pipeline coded_inline(po, coded_inline_calls);
  po.dsp_threads = 2;
  Pipeline coded_two(po, coded_two_calls);
  test::Tee coded_tee;
  coded_tee.sinks = {&coded_inline, &coded_two};
  WithG711 card(coded_tee, simulator.spans());
  test::Tee tee;
  tee.sinks = {&inline_pipeline, &one, &three, &card};
  ASSERT_FALSE(simulator.run(tee));
  EXPECT_EQ(card.not_g711, 0u);

  const auto expected = lines(inline_calls);
  ASSERT_EQ(expected.size(), simulator.truth().size());
  std::size_t with_digits = 0, with_tones = 0;
  for (const auto& r : inline_calls.ended) {
    if (!r.digits.empty()) ++with_digits;
    for (const auto& e : r.inband) with_tones += e.kind == calls::InbandEvent::Kind::Tone;
  }
  EXPECT_GT(with_digits, 20u);
  EXPECT_GT(with_tones, 50u);
  EXPECT_EQ(lines(one_calls), expected);
  EXPECT_EQ(lines(three_calls), expected);
  EXPECT_EQ(lines(coded_inline_calls), expected) << "chunks with their codes, inline";
  EXPECT_EQ(lines(coded_two_calls), expected) << "chunks with their codes, on 2 threads";
  EXPECT_EQ(three.totals().inband_events, inline_pipeline.totals().inband_events);
  EXPECT_EQ(three.totals().audio_chunks, inline_pipeline.totals().audio_chunks);
}

}  // namespace
}  // namespace tw
