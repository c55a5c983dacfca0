#include "dsp/units/short_answer_tone.hpp"

#include <algorithm>
#include <cmath>
#include <span>

#include "dsp/answer_tone.hpp"

namespace tw::dsp::detail {

namespace {

constexpr std::int64_t kShortMin = 2000;
constexpr std::int64_t kShortMax = 6400;
constexpr std::int64_t kShortSettle = 2 * kScreenBlock;  // SpanDSP's filters see the end

}  // namespace

// The stretch ended at `at`: if it was an answer tone, it is reported at `at` plus the
// settling time, unless the unit's detector has reported it by then.
void ShortAnswerTone::end_stretch(std::int64_t at, const AudioRing& ring) {
  const std::int64_t from = start_, to = last_;
  start_ = -1;
  missed_ = 0;
  if (pending_ || to - from < kShortMin || to - from > kShortMax || from < ring.oldest()) return;
  std::span<std::int16_t> x(scratch().data(), static_cast<std::size_t>(to - from));
  ring.copy(from, x);
  const AnswerToneMeasurement m = measure_answer_tone(x, hz_);
  if (!m.ok) return;
  pending_ = true;
  from_ = from;
  due_ = at + kShortSettle;
  name_ = bell_ ? ToneName::bell_ans : m.am ? ToneName::ansam : ToneName::ans;
  level_ = static_cast<float>(std::round(m.dbm0 * 10.0) / 10.0);
}

bool ShortAnswerTone::take(std::int64_t at, Report& out) {
  pending_ = false;
  if (spandsp_at_ >= from_) return false;  // SpanDSP's detector heard it: reported already
  out = Report{name_, level_, at};
  return true;
}

bool ShortAnswerTone::due(std::int64_t end, Report& out) {
  return pending_ && end >= due_ && take(due_, out);
}

bool ShortAnswerTone::flush(std::int64_t end, const AudioRing& ring, Report& out) {
  if (start_ >= 0) end_stretch(end, ring);
  return pending_ && take(std::min(due_, end), out);
}

}  // namespace tw::dsp::detail
