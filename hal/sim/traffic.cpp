// The [traffic] generator: a reproducible random mix of calls, dialled the way a PBX on a
// North American T1 or a European E1 would dial them.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "hal/sim/scenario.hpp"

namespace tw::sim {

namespace {

using Rng = std::mt19937_64;

double uniform(Rng& rng, double lo, double hi) {
  return std::uniform_real_distribution<double>(lo, hi)(rng);
}
int uniform_int(Rng& rng, int lo, int hi) {
  return std::uniform_int_distribution<int>(lo, hi)(rng);
}
double round_ms(double s) {
  return std::round(s * 1000.0) / 1000.0;
}

// Index drawn with probability proportional to `weights`.
std::size_t weighted(Rng& rng, std::initializer_list<double> weights) {
  double total = 0;
  for (double w : weights) total += w;
  double x = uniform(rng, 0, total);
  std::size_t i = 0;
  for (double w : weights) {
    if (x < w) return i;
    x -= w;
    ++i;
  }
  return weights.size() - 1;
}

struct Country {
  const char* code;
  int digits;  // national significant number length
};

class Numbers {
 public:
  Numbers(Rng& rng, hal::SpanType type, const std::string& did_base, int did_count)
      : rng_(rng), nanp_(type == hal::SpanType::T1), did_count_(did_count) {
    did_base_ = !did_base.empty() ? did_base : (nanp_ ? "2125550100" : "3012345600");
  }

  // One of the PBX's direct-dial numbers.
  std::string did() {
    const std::size_t keep = std::min<std::size_t>(did_base_.size(), 6);
    const std::string head = did_base_.substr(0, did_base_.size() - keep);
    const unsigned long long tail =
        std::stoull(did_base_.substr(did_base_.size() - keep)) +
        static_cast<unsigned long long>(uniform_int(rng_, 0, did_count_ - 1));
    std::string t = std::to_string(tail);
    if (t.size() < keep) t.insert(0, keep - t.size(), '0');
    return head + t.substr(t.size() - keep);
  }

  enum class Dest { International, National, Local, TollFree };

  std::string outbound(Dest d) {
    if (nanp_) {
      switch (d) {
        case Dest::International: {
          static constexpr Country kTo[] = {{"44", 10}, {"49", 10}, {"33", 9}, {"52", 10},
                                            {"81", 10}, {"91", 10}, {"61", 9}, {"39", 10}};
          const Country& c = kTo[uniform_int(rng_, 0, 7)];
          return "011" + std::string(c.code) + digits(c.digits, '1');
        }
        case Dest::National:
          return "1" + other_npa() + subscriber();
        case Dest::Local:
          return site_npa() + subscriber();
        case Dest::TollFree: {
          static constexpr const char* kTf[] = {"800", "888", "877", "866", "855", "844"};
          return std::string("1") + kTf[uniform_int(rng_, 0, 5)] + subscriber();
        }
      }
    }
    switch (d) {
      case Dest::International: {
        static constexpr Country kTo[] = {{"44", 10}, {"33", 9}, {"1", 10},  {"39", 10},
                                          {"34", 9},  {"31", 9}, {"43", 10}, {"41", 9}};
        const Country& c = kTo[uniform_int(rng_, 0, 7)];
        return "00" + std::string(c.code) + digits(c.digits, '1');
      }
      case Dest::National:
        return "0" + other_area() + digits(7, '2');
      case Dest::Local:
        return digits(8, '2');
      case Dest::TollFree:
        return "0800" + digits(7, '1');
    }
    return digits(8, '2');
  }

  // Who calls the PBX; now and then the number is withheld.
  std::string inbound_caller() {
    if (uniform(rng_, 0, 1) < 0.05) return {};
    if (nanp_) return (uniform(rng_, 0, 1) < 0.3 ? site_npa() : other_npa()) + subscriber();
    if (uniform(rng_, 0, 1) < 0.3) {
      static constexpr const char* kMobile[] = {"151", "152", "160", "170", "171", "176"};
      return std::string("0") + kMobile[uniform_int(rng_, 0, 5)] + digits(8, '1');
    }
    return "0" + other_area() + digits(7, '2');
  }

 private:
  std::string digits(int n, char first_min) {
    std::string s;
    s += static_cast<char>(uniform_int(rng_, first_min, '9'));
    for (int i = 1; i < n; ++i) s += static_cast<char>(uniform_int(rng_, '0', '9'));
    return s;
  }
  std::string subscriber() { return digits(3, '2') + digits(4, '0'); }  // NXX-XXXX
  std::string site_npa() const { return did_base_.substr(0, 3); }
  std::string other_npa() {
    static constexpr const char* kNpa[] = {"312", "415", "617", "713", "305", "206",
                                           "404", "602", "303", "214", "503", "702"};
    return kNpa[uniform_int(rng_, 0, 11)];
  }
  std::string other_area() {
    static constexpr const char* kArea[] = {"89", "40", "221", "69", "711", "211", "351", "511"};
    return kArea[uniform_int(rng_, 0, 7)];
  }

  Rng& rng_;
  bool nanp_;
  std::string did_base_;
  int did_count_;
};

struct SpanLoad {
  const hal::SpanInfo* info;
  std::vector<double> ends;  // estimated end of every call placed on the span
  int capacity() const { return info->type == hal::SpanType::E1 ? 30 : 23; }
  int busy_at(double t) const {
    return static_cast<int>(
        std::count_if(ends.begin(), ends.end(), [t](double e) { return e > t; }));
  }
};

// Keyed digits take at most 200 ms each; the digits start ~1 s after the answer (4 s with a
// second dial tone) and want a little audio after them.
bool digits_fit(const CallSpec& c, std::size_t digits, bool dial_tone) {
  return (dial_tone ? 4.2 : 1.3) + 0.2 * static_cast<double>(digits) + 0.5 <= c.talk_s;
}

void choose_audio(Rng& rng, const TrafficSpec& spec, const hal::SpanInfo& span, CallSpec& c) {
  const double kind = uniform(rng, 0, 1);
  if (kind < spec.fax_share) {
    c.audio = AudioContent::Fax;
  } else if (kind < spec.fax_share + spec.modem_share) {
    c.audio = AudioContent::Modem;
  } else if (kind < spec.fax_share + spec.modem_share + spec.silence_share) {
    c.audio = AudioContent::Silence;
  }
  if (c.audio == AudioContent::Fax || c.audio == AudioContent::Modem) return;
  const bool inbound = c.caller == hal::Side::Carrier;
  if (inbound && c.audio == AudioContent::Speech && uniform(rng, 0, 1) < spec.disa_share) {
    // Through-dialing: an access code, then an international number, each ended by '#'.
    Numbers numbers(rng, span.type, spec.did_base, spec.did_count);
    std::string code;
    for (int i = 0; i < 4; ++i) code += static_cast<char>(uniform_int(rng, '0', '9'));
    const std::string keyed = code + "#" + numbers.outbound(Numbers::Dest::International) + "#";
    if (keyed.size() <= 64 && digits_fit(c, keyed.size(), true)) {
      c.dial_tone_after_answer = true;
      c.dtmf_in = keyed;
      return;
    }
  }
  if (uniform(rng, 0, 1) < spec.dtmf_share) {
    // A PIN, an extension or a menu choice, usually ended by '#'.
    std::string keyed;
    for (int i = uniform_int(rng, 3, 10); i > 0; --i)
      keyed += "0123456789*#"[uniform_int(rng, 0, 11)];
    keyed += '#';
    while (keyed.size() > 1 && !digits_fit(c, keyed.size(), false)) keyed.erase(0, 1);
    if (digits_fit(c, keyed.size(), false)) (inbound ? c.dtmf_in : c.dtmf_out) = keyed;
  }
}

}  // namespace

void generate_traffic(Scenario& sc, const TrafficSpec& spec, unsigned seed) {
  Rng rng(seed);
  std::vector<SpanLoad> loads;
  for (const hal::SpanInfo& s : sc.spans) {
    if (spec.spans.empty() ||
        std::find(spec.spans.begin(), spec.spans.end(), s.id) != spec.spans.end())
      loads.push_back(SpanLoad{&s, {}});
  }
  if (loads.empty() || spec.calls <= 0) return;

  // A Poisson process with a known count: uniform arrival times, sorted.
  std::vector<double> arrivals;
  for (int i = 0; i < spec.calls; ++i)
    arrivals.push_back(round_ms(spec.start_at_s + uniform(rng, 0, spec.duration_s)));
  std::sort(arrivals.begin(), arrivals.end());

  std::exponential_distribution<double> talk_dist(1.0 / std::max(spec.mean_talk_s, 1.0));
  // Audio choices come from a generator of their own: the frames do not depend on them.
  Rng audio_rng(static_cast<std::uint64_t>(seed) * 0x9e3779b97f4a7c15ull + 0xa0d10ull);
  for (double at : arrivals) {
    // The least busy span with a free B-channel; if all are full, wait for the next clearing
    // (the estimate has a margin, so the simulator never finds a span full).
    SpanLoad* load = nullptr;
    for (;;) {
      int best = 1 << 30;
      for (SpanLoad& l : loads) {
        const int busy = l.busy_at(at);
        if (busy < l.capacity() && busy < best) {
          best = busy;
          load = &l;
        }
      }
      if (load) break;
      double next = 1e18;
      for (const SpanLoad& l : loads)
        for (double e : l.ends)
          if (e > at) next = std::min(next, e);
      at = round_ms(next + 0.5);
    }

    Numbers numbers(rng, load->info->type, spec.did_base, spec.did_count);
    CallSpec c;
    c.at_s = at;
    c.span = load->info->id;
    c.caller = uniform(rng, 0, 1) < spec.outbound_share ? hal::Side::Pbx : hal::Side::Carrier;
    if (c.caller == hal::Side::Pbx) {
      c.calling = numbers.did();
      const auto dest = static_cast<Numbers::Dest>(
          weighted(rng, {spec.international, spec.national, spec.local, spec.toll_free}));
      c.called = numbers.outbound(dest);
    } else {
      c.calling = numbers.inbound_caller();
      c.called = numbers.did();
    }
    c.overlap = uniform(rng, 0, 1) < spec.overlap_share;
    const hal::Side called_side = hal::other(c.caller);
    // Upper bound of the dialling time (the simulator spaces overlap digits 150-450 ms).
    const double dial = c.overlap ? 0.1 + 0.45 * static_cast<double>(c.called.size()) : 0.1;
    double busy_for = 0;
    if (uniform(rng, 0, 1) < spec.answer_rate) {
      c.ring_s = round_ms(uniform(rng, 0.5, 3.0));
      c.answer_after_s = round_ms(c.ring_s + uniform(rng, 2.0, 18.0));
      c.talk_s = round_ms(std::clamp(talk_dist(rng), 3.0, std::max(3.0, spec.max_talk_s)));
      c.cause = 16;
      c.clearer = uniform(rng, 0, 1) < 0.55 ? c.caller : called_side;
      if (uniform(rng, 0, 1) < spec.keypad_share) {
        const int n = uniform_int(rng, 4, 8);
        for (int i = 0; i < n; ++i) c.keypad += static_cast<char>(uniform_int(rng, '0', '9'));
        c.keypad += '#';
      }
      busy_for = *c.answer_after_s + c.talk_s;
    } else {
      c.clearer = called_side;
      switch (weighted(rng, {spec.busy, spec.no_answer, spec.rejected})) {
        case 0:
          c.cause = 17;
          c.ring_s = round_ms(uniform(rng, 0.3, 1.5));
          c.talk_s = 0;
          break;
        case 1:
          c.cause = 19;
          c.ring_s = round_ms(uniform(rng, 0.5, 3.0));
          c.talk_s = round_ms(uniform(rng, 15.0, 40.0));
          break;
        default:
          c.cause = 21;
          c.ring_s = round_ms(uniform(rng, 0.2, 1.0));
          c.talk_s = 0;
          break;
      }
      busy_for = c.ring_s + c.talk_s;
    }
    load->ends.push_back(at + dial + busy_for + 1.0);
    if (c.answer_after_s) choose_audio(audio_rng, spec, *load->info, c);
    sc.calls.push_back(std::move(c));
  }
}

}  // namespace tw::sim
