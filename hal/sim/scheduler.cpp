#include "hal/sim/scheduler.hpp"

#include <thread>

namespace tw::sim::detail {

namespace {
constexpr auto kMaxSleepSlice = std::chrono::milliseconds(100);
}  // namespace

void Scheduler::start(hal::Timestamp origin, hal::Timestamp first_tick) {
  now_ = origin;
  last_stamp_ = origin - Micros(1);
  next_tick_ = first_tick;
  virtual_origin_ = origin;
  wall_origin_ = std::chrono::steady_clock::now();
}

void Scheduler::pace(hal::Timestamp t, hal::SpanSink& sink) const {
  if (speed_ <= 0) return;
  const auto offset = std::chrono::duration<double>(to_seconds(t - virtual_origin_) / speed_);
  const auto target =
      wall_origin_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(offset);
  while (!state_.stop_requested) {
    const auto left = target - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(left, kMaxSleepSlice));
    if (left > kMaxSleepSlice && !state_.stop_requested) sink.on_tick(now_);
  }
}

}  // namespace tw::sim::detail
