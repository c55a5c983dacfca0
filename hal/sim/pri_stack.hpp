// Thin RAII layer over libpri 1.6 for the simulator. Internal to hal/sim.
#pragma once

// libpri.h has no extern "C" guard of its own.
extern "C" {
#include <libpri.h>
}

#include <memory>
#include <utility>

#include "trunkwatch/hal/types.hpp"

namespace tw::sim::detail {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  void reset();

 private:
  int fd_ = -1;
};

// Owns one libpri D-channel controller. libpri 1.6 has no call to free a `struct pri`
// (no pri_destroy; pri_link_destroy is internal and frees only a Q.921 link), so the
// controller is abandoned on destruction: its userdata is cleared so no callback can reach a
// dead object and, under AddressSanitizer, it is marked as an intentional leak. libpri only
// runs when called, so an abandoned controller stays inert. Owners destroy its calls first.
class PriHandle {
 public:
  PriHandle() = default;
  explicit PriHandle(pri* p) : p_(p) {}
  PriHandle(PriHandle&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  PriHandle& operator=(PriHandle&& o) noexcept {
    if (this != &o) {
      abandon();
      p_ = std::exchange(o.p_, nullptr);
    }
    return *this;
  }
  PriHandle(const PriHandle&) = delete;
  PriHandle& operator=(const PriHandle&) = delete;
  ~PriHandle() { abandon(); }
  pri* get() const { return p_; }
  explicit operator bool() const { return p_ != nullptr; }

 private:
  void abandon();
  pri* p_ = nullptr;
};

struct SrFree {
  void operator()(pri_sr* sr) const { pri_sr_free(sr); }
};
using UniqueSr = std::unique_ptr<pri_sr, SrFree>;

// libpri reports through two process-wide callbacks with no user pointer; the simulator
// keeps them quiet (idempotent, safe to call from every Simulator).
void silence_libpri();

// PRI_SWITCH_* for a span (EuroISDN has separate T1 and E1 variants in libpri).
int libpri_switch_type(hal::SwitchType t, hal::SpanType span_type);

}  // namespace tw::sim::detail
