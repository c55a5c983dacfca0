#include "hal/replay/link_check.hpp"

#include <algorithm>

namespace tw::hal {

void LinkMixCheck::on_frame(int span, Side from, std::span<const std::uint8_t> lapd) {
  // Address: SAPI, C/R, EA = 0; TEI, EA = 1. An I-frame has control bit 0 clear and two
  // control octets, N(S) in the first.
  if (lapd.size() < 4 || (lapd[0] & 1) != 0 || (lapd[1] & 1) != 1 || (lapd[2] & 1) != 0) return;
  if ((lapd[0] >> 2) != 0) return;  // SAPI 0: call control, the sequence that carries Q.931
  const int tei = lapd[1] >> 1;
  const auto ns = static_cast<std::uint8_t>(lapd[2] >> 1);
  Stream& s = streams_[{span, static_cast<int>(from), tei}];
  ++s.i_frames;
  // The next number of a sequence first (the current one before the others), then a
  // retransmission: two sequences that come close must not swap frames.
  auto find = [&](bool retransmission) {
    auto matches = [&](int i) {
      const Sequence& q = s.sequences[static_cast<std::size_t>(i)];
      return q.frames > 0 && ns == (retransmission ? q.last_ns : ((q.last_ns + 1) & 0x7f));
    };
    if (s.current >= 0 && matches(s.current)) return s.current;
    for (int i = 0; i < static_cast<int>(s.sequences.size()); ++i)
      if (matches(i)) return i;
    return -1;
  };
  int hit = find(false);
  if (hit < 0) hit = find(true);
  if (hit < 0) {  // a new sequence, in a free slot or the one used longest ago
    const auto oldest = std::min_element(
        s.sequences.begin(), s.sequences.end(),
        [](const Sequence& a, const Sequence& b) { return a.last_used < b.last_used; });
    *oldest = Sequence{};
    hit = static_cast<int>(oldest - s.sequences.begin());
  }
  Sequence& q = s.sequences[static_cast<std::size_t>(hit)];
  q.last_ns = ns;
  ++q.frames;
  q.last_used = s.i_frames;
  if (s.current >= 0 && s.current != hit && q.frames >= kEstablished &&
      s.sequences[static_cast<std::size_t>(s.current)].frames >= kEstablished) {
    ++s.alternations;
    // Established sequences still in use (a sequence left behind by a reset is not).
    const auto parallel =
        std::count_if(s.sequences.begin(), s.sequences.end(), [&](const Sequence& x) {
          return x.frames >= kEstablished && s.i_frames - x.last_used < kRecent;
        });
    s.most_parallel = std::max(s.most_parallel, static_cast<int>(parallel));
  }
  s.current = hit;
}

std::vector<MixedLinks> LinkMixCheck::findings() const {
  std::vector<MixedLinks> out;
  for (const auto& [key, s] : streams_) {
    if (s.alternations < kMinAlternations) continue;
    out.push_back(MixedLinks{.span = std::get<0>(key),
                             .from = static_cast<Side>(std::get<1>(key)),
                             .tei = std::get<2>(key),
                             .sequences = s.most_parallel,
                             .alternations = s.alternations,
                             .i_frames = s.i_frames});
  }
  return out;
}

std::string LinkMixCheck::describe() const {
  std::string out;
  for (const MixedLinks& m : findings()) {
    out += out.empty() ? "" : "; ";
    out += "span " + std::to_string(m.span) + ": the " +
           (m.from == Side::Pbx ? std::string("PBX's") : std::string("carrier's")) +
           " I-frames (TEI " + std::to_string(m.tei) + ") ran in " + std::to_string(m.sequences) +
           " interleaved sequences, " + std::to_string(m.alternations) + " alternations in " +
           std::to_string(m.i_frames) + " I-frames";
  }
  return out;
}

}  // namespace tw::hal
