#include "bench/random_q931.hpp"

#include <algorithm>
#include <array>

namespace tw::bench {

namespace {

constexpr std::uint8_t kIFrameTei = 0;
constexpr std::size_t kRecentRefs = 32;

// Message types and how often each comes (out of the sum): calls are opened, answered,
// dialed and cleared at random, with a few channel RESTARTs.
struct TypeWeight {
  std::uint8_t type;
  int weight;
};
constexpr std::array<TypeWeight, 14> kTypes = {{
    {0x05, 200},  // SETUP
    {0x0d, 20},   // SETUP ACKNOWLEDGE
    {0x02, 80},   // CALL PROCEEDING
    {0x01, 80},   // ALERTING
    {0x03, 40},   // PROGRESS
    {0x07, 120},  // CONNECT
    {0x0f, 50},   // CONNECT ACKNOWLEDGE
    {0x7b, 60},   // INFORMATION
    {0x45, 100},  // DISCONNECT
    {0x4d, 100},  // RELEASE
    {0x5a, 100},  // RELEASE COMPLETE
    {0x7d, 30},   // STATUS
    {0x6e, 19},   // NOTIFY
    {0x46, 1},    // RESTART (one channel, global call reference)
}};

}  // namespace

RandomQ931Generator::RandomQ931Generator(RandomQ931Options options)
    : options_(options),
      rng_(options.seed),
      links_(static_cast<std::size_t>(std::clamp(options.spans, 1, 255))),
      now_(options.start) {
  options_.spans = static_cast<int>(links_.size());
  buf_.reserve(256);
}

std::vector<hal::SpanInfo> RandomQ931Generator::spans() const {
  std::vector<hal::SpanInfo> out;
  for (int s = 1; s <= options_.spans; ++s) {
    hal::SpanInfo info;
    info.id = s;
    info.name = "random Q.931";
    out.push_back(info);
  }
  return out;
}

int RandomQ931Generator::uniform(int lo, int hi) {
  return std::uniform_int_distribution<int>(lo, hi)(rng_);
}

bool RandomQ931Generator::chance(double p) {
  return std::uniform_real_distribution<double>(0, 1)(rng_) < p;
}

std::uint8_t RandomQ931Generator::pick_type() {
  static constexpr int total = [] {
    int t = 0;
    for (const auto& w : kTypes) t += w.weight;
    return t;
  }();
  int r = uniform(0, total - 1);
  for (const auto& w : kTypes) {
    if (r < w.weight) return w.type;
    r -= w.weight;
  }
  return kTypes[0].type;
}

void RandomQ931Generator::digits(std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    buf_.push_back(static_cast<std::uint8_t>('0' + uniform(0, 9)));
}

// A party number IE: type/plan octet, (calling, connected, redirecting) a presentation octet,
// then IA5 digits; a share of them international (011...) or premium (900...).
void RandomQ931Generator::number_ie(std::uint8_t id, bool with_octet3a) {
  buf_.push_back(id);
  const std::size_t len_at = buf_.size();
  buf_.push_back(0);
  const std::size_t start = buf_.size();
  buf_.push_back(with_octet3a ? 0x21 : 0xa1);  // national, ISDN plan; ext bit ends octet 3
  if (with_octet3a)
    buf_.push_back(static_cast<std::uint8_t>(0x80 | uniform(0, 1) << 5 | uniform(0, 3)));
  const int kind = uniform(0, 9);
  if (kind == 0) {
    buf_.insert(buf_.end(), {'0', '1', '1'});
    digits(static_cast<std::size_t>(uniform(7, 12)));
  } else if (kind == 1) {
    buf_.insert(buf_.end(), {'9', '0', '0'});
    digits(7);
  } else {
    digits(static_cast<std::size_t>(uniform(3, 11)));
  }
  buf_[len_at] = static_cast<std::uint8_t>(buf_.size() - start);
}

hal::DFrame RandomQ931Generator::next() {
  const int span = uniform(1, options_.spans);
  Link& link = links_[static_cast<std::size_t>(span - 1)];
  const hal::Side from = chance(0.5) ? hal::Side::Pbx : hal::Side::Carrier;
  const int dir = from == hal::Side::Pbx ? 0 : 1;
  const std::uint8_t type = pick_type();

  // Call reference: one of the span's recent ones, or a fresh one.
  CallRef ref;
  if (!link.recent.empty() && chance(options_.reuse_share)) {
    ref =
        link.recent[static_cast<std::size_t>(uniform(0, static_cast<int>(link.recent.size()) - 1))];
  } else {
    ref.value = static_cast<std::uint16_t>(uniform(1, 0x7fff));
    ref.pbx_allocated = chance(0.5);
    if (link.recent.size() < kRecentRefs) {
      link.recent.push_back(ref);
    } else {
      link.recent[link.next_recent] = ref;
      link.next_recent = (link.next_recent + 1) % kRecentRefs;
    }
  }
  const bool from_allocator = (from == hal::Side::Pbx) == ref.pbx_allocated;
  // A SETUP comes from the side that allocated the reference; other messages from either.
  const hal::Side sender =
      type == 0x05 ? (ref.pbx_allocated ? hal::Side::Pbx : hal::Side::Carrier) : from;
  const int sdir = sender == hal::Side::Pbx ? 0 : 1;
  const bool flag = type == 0x05 ? false : !from_allocator;

  buf_.clear();
  // LAPD: SAPI 0, C/R (a command: 1 from the network side, the carrier), TEI 0; I-frame
  // control with this direction's N(S) and N(R) = the other direction's count.
  buf_.push_back(static_cast<std::uint8_t>(sdir == 1 ? 0x02 : 0x00));
  buf_.push_back(static_cast<std::uint8_t>(kIFrameTei << 1 | 1));
  buf_.push_back(static_cast<std::uint8_t>(link.sent[sdir] << 1));
  buf_.push_back(static_cast<std::uint8_t>(link.sent[1 - sdir] << 1));
  link.sent[sdir] = static_cast<std::uint8_t>((link.sent[sdir] + 1) & 0x7f);
  (void)dir;

  // Q.931 header: discriminator, 2-octet call reference, message type.
  buf_.push_back(0x08);
  buf_.push_back(0x02);
  const int channel = uniform(1, 23);
  if (type == 0x46) {  // RESTART: global call reference, one channel, class 0
    buf_.insert(buf_.end(), {0x00, 0x00, 0x46});
    buf_.insert(buf_.end(), {0x18, 0x03, 0xa9, 0x83, static_cast<std::uint8_t>(0x80 | channel)});
    buf_.insert(buf_.end(), {0x79, 0x01, 0x80});
  } else {
    buf_.push_back(static_cast<std::uint8_t>((flag ? 0x80 : 0) | ref.value >> 8));
    buf_.push_back(static_cast<std::uint8_t>(ref.value & 0xff));
    buf_.push_back(type);
    const bool setup = type == 0x05;
    const bool clearing = type == 0x45 || type == 0x4d || type == 0x5a;
    if (setup) buf_.insert(buf_.end(), {0x04, 0x03, 0x80, 0x90, 0xa2});  // speech, 64k, mu-law
    if (clearing && chance(0.8)) {
      buf_.insert(buf_.end(), {0x08, 0x02, static_cast<std::uint8_t>(0x80 | uniform(0, 4)),
                               static_cast<std::uint8_t>(0x80 | uniform(1, 127))});
    }
    if ((setup || type == 0x02 || type == 0x01 || type == 0x07 || type == 0x0d) && chance(0.9)) {
      buf_.insert(buf_.end(), {0x18, 0x03, 0xa9, 0x83, static_cast<std::uint8_t>(0x80 | channel)});
    }
    if (setup && chance(0.3)) {  // display: printable text, now and then a control byte
      buf_.push_back(0x28);
      const int n = uniform(1, 15);
      buf_.push_back(static_cast<std::uint8_t>(n));
      for (int i = 0; i < n; ++i)
        buf_.push_back(
            static_cast<std::uint8_t>(chance(0.05) ? uniform(0, 255) : uniform(0x20, 0x7e)));
    }
    if (type == 0x7b && chance(0.5)) {  // keypad facility
      buf_.push_back(0x2c);
      const int n = uniform(1, 12);
      buf_.push_back(static_cast<std::uint8_t>(n));
      for (int i = 0; i < n; ++i)
        buf_.push_back(static_cast<std::uint8_t>("0123456789*#"[uniform(0, 11)]));
    }
    if (type == 0x07 && chance(0.5)) number_ie(0x4c, true);
    if (setup && chance(0.9)) number_ie(0x6c, true);
    if (setup || (type == 0x7b && chance(0.5))) number_ie(0x70, false);
    if (setup && chance(0.05)) number_ie(0x74, true);
  }

  now_ += options_.interval;
  return hal::DFrame{.span = span, .from = sender, .time = now_, .bytes = buf_};
}

FrameBatch generate_random_q931(std::size_t n, const RandomQ931Options& options) {
  RandomQ931Generator gen(options);
  FrameBatch batch;
  std::vector<std::size_t> offsets;
  batch.frames.reserve(n);
  offsets.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    hal::DFrame f = gen.next();
    offsets.push_back(batch.bytes.size());
    batch.bytes.insert(batch.bytes.end(), f.bytes.begin(), f.bytes.end());
    f.bytes = {};
    batch.frames.push_back(f);
  }
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t end = i + 1 < n ? offsets[i + 1] : batch.bytes.size();
    batch.frames[i].bytes = {batch.bytes.data() + offsets[i], end - offsets[i]};
  }
  return batch;
}

}  // namespace tw::bench
