// The process-wide side of the detector banks: the per-thread pools of parked SpanDSP states
// and the counts the scale benchmark reads. Internal: includes <spandsp.h>.
//
// SpanDSP states of the fax/modem tone and FSK detectors are parked while their gate sleeps,
// one pool per thread (a bank always runs on one thread). A bank holds a state only while its
// detector is awake or could resume with it; most of a call they sleep, so a big box needs a
// few dozen states instead of 1,920 x 9 (~20 KB a bank). A pool grows to the high-water mark
// and is reused from then on: no allocation on the per-chunk path in steady state.
#pragma once

#include <atomic>
#include <cstddef>
#include <vector>

#include "dsp/spandsp_ptr.hpp"

namespace tw::dsp::detail {

class StatePool {
 public:
  // This thread's pool.
  static StatePool& local();
  // States parked in all threads' pools, and banks alive in the process.
  static std::size_t parked_total();
  static std::atomic<std::size_t>& live_banks();

  StatePool(const StatePool&) = delete;
  StatePool& operator=(const StatePool&) = delete;
  ~StatePool();

  // Moves a parked state into `state`; false when the pool has none.
  bool take(ModemTonesRxPtr& state) { return take(tones_, state); }
  bool take(FskRxPtr& state) { return take(fsk_, state); }
  // Parks `state` (left empty).
  void put(ModemTonesRxPtr& state) { put(tones_, state); }
  void put(FskRxPtr& state) { put(fsk_, state); }

 private:
  StatePool();
  static std::atomic<std::size_t>& parked_count();

  template <class Ptr>
  static void put(std::vector<Ptr>& pool, Ptr& state) {
    pool.push_back(std::move(state));
    parked_count().fetch_add(1, std::memory_order_relaxed);
  }
  template <class Ptr>
  static bool take(std::vector<Ptr>& pool, Ptr& state) {
    if (pool.empty()) return false;
    state = std::move(pool.back());
    pool.pop_back();
    parked_count().fetch_sub(1, std::memory_order_relaxed);
    return true;
  }

  std::vector<ModemTonesRxPtr> tones_;
  std::vector<FskRxPtr> fsk_;
};

}  // namespace tw::dsp::detail
