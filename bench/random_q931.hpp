// Random but well-formed Q.931 on LAPD I-frames, the traffic a hostile or broken far end can
// put on a tapped D-channel: every frame decodes (valid address, control and N(S)/N(R)
// counting per span and direction, so the retransmission filter passes it; a known message
// type; well-formed IEs), but message types, call references, channels and numbers are
// random, across up to 255 spans. Used by `trunkwatch bench decode --random` and by the
// hostile-input test (tests/integration/test_hostile_traffic.cpp). Deterministic per seed.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "trunkwatch/hal/types.hpp"

namespace tw::bench {

struct RandomQ931Options {
  int spans = 255;  // spans 1..spans (a capture stores the span in one byte)
  std::uint64_t seed = 1;
  hal::Timestamp start = hal::Timestamp(std::chrono::seconds(1'799'107'200));  // 2027-01-05
  // Source time between two frames, over all spans: a flat rate.
  std::chrono::microseconds interval{1000};
  // Share of messages that reuse one of the span's recently used call references (so calls
  // go through states), the rest pick a fresh random one.
  double reuse_share = 0.6;
};

// Frames one at a time; next()'s bytes stay valid until the next call.
class RandomQ931Generator {
 public:
  explicit RandomQ931Generator(RandomQ931Options options = {});
  hal::DFrame next();
  std::vector<hal::SpanInfo> spans() const;

 private:
  struct CallRef {
    std::uint16_t value = 0;
    bool pbx_allocated = true;
  };
  struct Link {
    std::uint8_t sent[2] = {0, 0};  // N(S) of the next I-frame, per direction (PBX, carrier)
    std::vector<CallRef> recent;    // ring of call references used lately
    std::size_t next_recent = 0;
  };
  int uniform(int lo, int hi);
  bool chance(double p);
  void digits(std::size_t n);
  void number_ie(std::uint8_t id, bool with_octet3a);
  std::uint8_t pick_type();

  RandomQ931Options options_;
  std::mt19937_64 rng_;
  std::vector<Link> links_;
  std::vector<std::uint8_t> buf_;
  hal::Timestamp now_;
};

// n frames in one buffer (frames[i].bytes points into bytes).
struct FrameBatch {
  std::vector<std::uint8_t> bytes;
  std::vector<hal::DFrame> frames;
};
FrameBatch generate_random_q931(std::size_t n, const RandomQ931Options& options);

}  // namespace tw::bench
