// The deleter that makes a SpanDSP state an RAII value: unique_ptr<X_state_t,
// SpanFree<&X_free>>. Lives in hal, the first stage, so the simulator's generators (hal/sim)
// and the detectors (dsp) share it. Include <spandsp.h> before using it.
#pragma once

namespace tw::spandsp {

template <auto FreeFn>
struct SpanFree {
  template <class T>
  void operator()(T* p) const noexcept {
    if (p != nullptr) FreeFn(p);
  }
};

}  // namespace tw::spandsp
