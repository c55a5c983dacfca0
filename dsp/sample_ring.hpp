// Recent audio of one channel, addressed by absolute sample index since the stream start.
// Gated detectors are woken late and replay the pre-roll from here, and the DTMF verifier
// re-reads a digit's samples; a power-of-two capacity keeps indexing to a mask.
//
// Trunk audio is G.711, so the ring keeps the codes (one byte a sample, half the memory of
// 16-bit samples: a big box has 1,920 rings) and expands them on the way out. A sample that
// is not a G.711 value of the ring's law (linear test audio) switches the ring to 16-bit
// storage for the rest of its life, so what comes out is always exactly what went in.
#pragma once

#include <algorithm>
#include <array>
#include <cassert>
#include <cstdint>
#include <memory>
#include <span>

#include "dsp/g711.hpp"

namespace tw::dsp::detail {

template <std::size_t Capacity>
class SampleRing {
  static_assert((Capacity & (Capacity - 1)) == 0, "capacity must be a power of two");

 public:
  static constexpr std::int64_t kCapacity = static_cast<std::int64_t>(Capacity);

  explicit SampleRing(Law law) : law_(law), expand_(&G711Decoder::shared(law)) {}

  void clear() { end_ = 0; }
  std::int64_t end() const { return end_; }  // one past the newest sample
  std::int64_t oldest() const { return std::max<std::int64_t>(0, end_ - kCapacity); }
  // True while every sample so far was a G.711 value (one byte a sample).
  bool coded() const { return !wide_; }

  void push(std::span<const std::int16_t> in) {
    assert(static_cast<std::int64_t>(in.size()) <= kCapacity);
    while (!in.empty() && !wide_) {
      const std::size_t pos = index(end_);
      const std::size_t n = std::min(in.size(), Capacity - pos);
      const std::size_t done = g711_encode_exact(law_, in.first(n), codes_.data() + pos);
      end_ += static_cast<std::int64_t>(done);
      in = in.subspan(done);
      if (done < n) widen();
    }
    for (std::int16_t s : in) wide_[index(end_++)] = s;
  }

  // The same samples as their codes (`linear` decoded from `codes`), as rx_g711() has them.
  void push(std::span<const std::uint8_t> codes, std::span<const std::int16_t> linear) {
    assert(codes.size() == linear.size() && static_cast<std::int64_t>(codes.size()) <= kCapacity);
    if (wide_) {
      for (std::int16_t s : linear) wide_[index(end_++)] = s;
      return;
    }
    for (std::uint8_t c : codes) codes_[index(end_++)] = c;
  }

  // Copies [from, from + out.size()); the range must still be held.
  void copy(std::int64_t from, std::span<std::int16_t> out) const {
    assert(from >= oldest() && from + static_cast<std::int64_t>(out.size()) <= end_);
    const std::size_t pos = index(from);
    const std::size_t first = std::min(out.size(), Capacity - pos);
    if (wide_) {
      std::copy_n(wide_.get() + pos, first, out.data());
      std::copy_n(wide_.get(), out.size() - first, out.data() + first);
      return;
    }
    const G711Decoder& x = *expand_;
    for (std::size_t i = 0; i < first; ++i) out[i] = x(codes_[pos + i]);
    for (std::size_t i = first; i < out.size(); ++i) out[i] = x(codes_[i - first]);
  }

  std::int16_t at(std::int64_t i) const {
    return wide_ ? wide_[index(i)] : (*expand_)(codes_[index(i)]);
  }

 private:
  static std::size_t index(std::int64_t i) { return static_cast<std::size_t>(i) & (Capacity - 1); }

  // Linear input that G.711 cannot carry: from now on 16 bits a sample (allocates once).
  void widen() {
    wide_ = std::make_unique<std::int16_t[]>(Capacity);
    for (std::size_t i = 0; i < Capacity; ++i) wide_[i] = (*expand_)(codes_[i]);
  }

  Law law_;
  const G711Decoder* expand_;
  std::array<std::uint8_t, Capacity> codes_{};
  std::unique_ptr<std::int16_t[]> wide_;
  std::int64_t end_ = 0;
};

}  // namespace tw::dsp::detail
