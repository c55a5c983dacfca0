// Recent audio of one channel, addressed by absolute sample index since the stream start.
// Gated detectors are woken late and replay the pre-roll from here, and the DTMF verifier
// re-reads a digit's samples; a power-of-two capacity keeps indexing to a mask.
#pragma once

#include <algorithm>
#include <array>
#include <cassert>
#include <cstdint>
#include <span>

namespace tw::dsp::detail {

template <std::size_t Capacity>
class SampleRing {
  static_assert((Capacity & (Capacity - 1)) == 0, "capacity must be a power of two");

 public:
  static constexpr std::int64_t kCapacity = static_cast<std::int64_t>(Capacity);

  void clear() { end_ = 0; }
  std::int64_t end() const { return end_; }  // one past the newest sample
  std::int64_t oldest() const { return std::max<std::int64_t>(0, end_ - kCapacity); }

  void push(std::span<const std::int16_t> in) {
    assert(static_cast<std::int64_t>(in.size()) <= kCapacity);
    for (std::int16_t s : in) buf_[static_cast<std::size_t>(end_++) & (Capacity - 1)] = s;
  }

  // Copies [from, from + out.size()); the range must still be held.
  void copy(std::int64_t from, std::span<std::int16_t> out) const {
    assert(from >= oldest() && from + static_cast<std::int64_t>(out.size()) <= end_);
    std::size_t pos = static_cast<std::size_t>(from) & (Capacity - 1);
    std::size_t first = std::min(out.size(), Capacity - pos);
    std::copy_n(buf_.data() + pos, first, out.data());
    std::copy_n(buf_.data(), out.size() - first, out.data() + first);
  }

  std::int16_t at(std::int64_t i) const {
    return buf_[static_cast<std::size_t>(i) & (Capacity - 1)];
  }

 private:
  std::array<std::int16_t, Capacity> buf_{};
  std::int64_t end_ = 0;
};

}  // namespace tw::dsp::detail
