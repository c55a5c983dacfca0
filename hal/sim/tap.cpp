#include "hal/sim/tap.hpp"

namespace tw::sim::detail {

Tap::Tap(const std::vector<hal::SpanInfo>& spans, int malformed_every, unsigned seed,
         Scheduler& clock, RunState& state)
    : spans_(spans), malformed_every_(malformed_every), clock_(clock), state_(state) {
  garbage_rng_.seed(static_cast<std::uint64_t>(seed) * 0x9e3779b97f4a7c15ull + 1);
}

void Tap::open_pcap(const std::string& path, hal::CaptureFormat format) {
  pcap_path_ = path;
  if (std::string err = pcap_.open(path, format); !err.empty()) state_.fail(path + ": " + err);
}

hal::Timestamp Tap::record(int span_id, hal::Side from, std::span<const std::uint8_t> bytes) {
  const hal::Timestamp t = clock_.stamp();
  if (t < capture_start_) return t;
  pending_.push_back(TappedFrame{span_id, from, t, {bytes.begin(), bytes.end()}});
  ++tapped_;
  if (malformed_every_ > 0 && tapped_ % static_cast<std::size_t>(malformed_every_) == 0) {
    std::vector<std::uint8_t> junk = garbage(bytes);
    pending_.push_back(TappedFrame{span_id, from, clock_.stamp(), std::move(junk)});
    ++injected_;
  }
  return t;
}

void Tap::deliver(const TappedFrame& f, hal::SpanSink& sink) {
  hal::DFrame d;
  d.span = f.span;
  d.from = f.from;
  d.time = f.time;
  d.bytes = f.bytes;
  sink.on_frame(d);
  if (pcap_.is_open() && !state_.failed()) {
    if (std::string err = pcap_.write(d, role_of_span(f.span)); !err.empty())
      state_.fail(pcap_path_ + ": " + err);
  }
}

void Tap::close_pcap() {
  if (!pcap_.is_open()) return;
  if (std::string err = pcap_.close(); !err.empty() && !state_.failed())
    state_.fail(pcap_path_ + ": " + err);
}

hal::Role Tap::role_of_span(int id) const {
  for (const hal::SpanInfo& s : spans_)
    if (s.id == id) return s.pbx_role;
  return hal::Role::User;
}

// A frame a decoder must survive, shaped after the real one just tapped.
std::vector<std::uint8_t> Tap::garbage(std::span<const std::uint8_t> real) {
  auto& g = garbage_rng_;
  auto pick = [&g](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g); };
  auto byte = [&] { return static_cast<std::uint8_t>(pick(0, 255)); };
  const bool real_q931 = real.size() >= 8 && (real[2] & 1) == 0 && real[4] == 0x08;
  std::vector<std::uint8_t> out;
  // An I-frame header: the real address if there is one, a plausible N(S)/N(R).
  auto i_header = [&] {
    out.push_back(real.size() >= 2 ? real[0] : 0x00);
    out.push_back(real.size() >= 2 ? real[1] : 0x01);
    out.push_back(static_cast<std::uint8_t>(pick(0, 127) << 1));
    out.push_back(static_cast<std::uint8_t>(pick(0, 127) << 1));
  };
  switch (pick(0, 3)) {
    case 0: {  // random bytes
      const int n = pick(1, 48);
      for (int i = 0; i < n; ++i) out.push_back(byte());
      break;
    }
    case 1: {  // the real frame, cut short
      if (real.size() >= 2) {
        const auto n = static_cast<std::size_t>(pick(1, static_cast<int>(real.size()) - 1));
        out.assign(real.begin(), real.begin() + static_cast<std::ptrdiff_t>(n));
      } else {
        out = {byte()};
      }
      break;
    }
    case 2: {  // Q.931 with an IE whose length runs past the end of the frame
      const std::size_t cr_len = real_q931 ? (real[5] & 0x0f) : 0;
      if (real_q931 && real.size() >= 7 + cr_len) {
        out.assign(real.begin(), real.begin() + static_cast<std::ptrdiff_t>(7 + cr_len));
      } else {
        i_header();
        const std::uint8_t types[] = {0x05, 0x07, 0x0f, 0x45, 0x4d, 0x5a, 0x7b};
        out.insert(out.end(), {0x08, 0x02, byte(), byte(), types[pick(0, 6)]});
      }
      const std::uint8_t ies[] = {0x04, 0x08, 0x18, 0x1e, 0x2c, 0x6c, 0x70};
      out.push_back(ies[pick(0, 6)]);
      out.push_back(static_cast<std::uint8_t>(pick(16, 255)));
      for (int i = pick(0, 3); i > 0; --i) out.push_back(byte());
      break;
    }
    default: {  // unknown protocol discriminator
      const std::uint8_t pds[] = {0x02, 0x09, 0x10, 0x2a, 0x55, 0xaa, 0xfe};
      if (real_q931) {
        out.assign(real.begin(), real.end());
      } else {
        i_header();
        out.insert(out.end(), {0x08, 0x02, byte(), byte(), 0x05, 0x04, 0x03, 0x80, 0x90, 0xa2});
      }
      out[4] = pds[pick(0, 6)];
      break;
    }
  }
  return out;
}

}  // namespace tw::sim::detail
