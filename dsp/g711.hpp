// G.711 companding laws and the expansion table the detector bank decodes trunk audio with.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace tw::dsp {

// mu-law on T1 spans, A-law on E1 spans.
enum class Law : std::uint8_t { ulaw, alaw };

std::string_view to_string(Law law);
std::optional<Law> parse_law(std::string_view text);

// One companded byte <-> 16-bit linear (SpanDSP's ulaw/alaw functions, not a table of our own).
std::int16_t g711_decode(Law law, std::uint8_t code);
std::uint8_t g711_encode(Law law, std::int16_t linear);
// Encodes `in` into `out` for as long as each sample is a value of the law (it decodes back
// to itself: audio that came off a trunk); returns how many samples were encoded.
std::size_t g711_encode_exact(Law law, std::span<const std::int16_t> in, std::uint8_t* out);

// A 256-entry expansion table filled once from SpanDSP: per-chunk decoding is one load per sample.
class G711Decoder {
 public:
  explicit G711Decoder(Law law);
  // One table per law for the whole process (built on first use, thread-safe).
  static const G711Decoder& shared(Law law);
  Law law() const { return law_; }
  std::int16_t operator()(std::uint8_t code) const { return table_[code]; }
  // out.size() must be >= in.size().
  void decode(std::span<const std::uint8_t> in, std::span<std::int16_t> out) const;

 private:
  Law law_;
  std::array<std::int16_t, 256> table_{};
};

}  // namespace tw::dsp
