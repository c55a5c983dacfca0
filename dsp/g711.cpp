#include "dsp/g711.hpp"

#include <cassert>

extern "C" {
#include <spandsp.h>
}

namespace tw::dsp {

std::string_view to_string(Law law) {
  return law == Law::alaw ? "alaw" : "ulaw";
}

std::optional<Law> parse_law(std::string_view text) {
  if (text == "ulaw" || text == "mulaw" || text == "u-law" || text == "mu-law") return Law::ulaw;
  if (text == "alaw" || text == "a-law") return Law::alaw;
  return std::nullopt;
}

std::int16_t g711_decode(Law law, std::uint8_t code) {
  return law == Law::alaw ? alaw_to_linear(code) : ulaw_to_linear(code);
}

std::uint8_t g711_encode(Law law, std::int16_t linear) {
  return law == Law::alaw ? linear_to_alaw(linear) : linear_to_ulaw(linear);
}

std::size_t g711_encode_exact(Law law, std::span<const std::int16_t> in, std::uint8_t* out) {
  const G711Decoder& back = G711Decoder::shared(law);
  std::size_t i = 0;
  if (law == Law::alaw) {
    for (; i < in.size(); ++i) {
      const std::uint8_t c = linear_to_alaw(in[i]);
      if (back(c) != in[i]) break;
      out[i] = c;
    }
  } else {
    for (; i < in.size(); ++i) {
      const std::uint8_t c = linear_to_ulaw(in[i]);
      if (back(c) != in[i]) break;
      out[i] = c;
    }
  }
  return i;
}

const G711Decoder& G711Decoder::shared(Law law) {
  static const G711Decoder ulaw(Law::ulaw), alaw(Law::alaw);
  return law == Law::alaw ? alaw : ulaw;
}

G711Decoder::G711Decoder(Law law) : law_(law) {
  for (int c = 0; c < 256; ++c) table_[c] = g711_decode(law, static_cast<std::uint8_t>(c));
}

void G711Decoder::decode(std::span<const std::uint8_t> in, std::span<std::int16_t> out) const {
  assert(out.size() >= in.size());
  for (std::size_t i = 0; i < in.size(); ++i) out[i] = table_[in[i]];
}

}  // namespace tw::dsp
