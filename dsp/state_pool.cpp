#include "dsp/state_pool.hpp"

namespace tw::dsp::detail {

StatePool::StatePool() {
  tones_.reserve(64);
  fsk_.reserve(64);
}

StatePool::~StatePool() {
  parked_count() -= tones_.size() + fsk_.size();
}

StatePool& StatePool::local() {
  thread_local StatePool pool;
  return pool;
}

std::atomic<std::size_t>& StatePool::parked_count() {
  static std::atomic<std::size_t> count{0};
  return count;
}

std::size_t StatePool::parked_total() {
  return parked_count().load(std::memory_order_relaxed);
}

std::atomic<std::size_t>& StatePool::live_banks() {
  static std::atomic<std::size_t> count{0};
  return count;
}

}  // namespace tw::dsp::detail
