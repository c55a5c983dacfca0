#include "hal/sim/pri_stack.hpp"

#include <unistd.h>

#include <mutex>

// GCC says __SANITIZE_ADDRESS__, clang __has_feature(address_sanitizer).
#if defined(__SANITIZE_ADDRESS__)
#define TW_SIM_WITH_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TW_SIM_WITH_LSAN 1
#endif
#endif
#ifdef TW_SIM_WITH_LSAN
#include <sanitizer/lsan_interface.h>
#endif

namespace tw::sim::detail {

void UniqueFd::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void PriHandle::abandon() {
  if (!p_) return;
  pri_set_userdata(p_, nullptr);
#ifdef TW_SIM_WITH_LSAN
  // Everything libpri allocated for this controller hangs off it.
  __lsan_ignore_object(p_);
#endif
  p_ = nullptr;
}

namespace {
void quiet(struct pri*, char*) {}
}  // namespace

void silence_libpri() {
  // The callbacks are process-wide; set them once even with several simulators around.
  static std::once_flag once;
  std::call_once(once, [] {
    pri_set_message(quiet);
    pri_set_error(quiet);
  });
}

int libpri_switch_type(hal::SwitchType t, hal::SpanType span_type) {
  switch (t) {
    case hal::SwitchType::Ni2:
      return PRI_SWITCH_NI2;
    case hal::SwitchType::Att4ess:
      return PRI_SWITCH_ATT4ESS;
    case hal::SwitchType::Att5ess:
      return PRI_SWITCH_LUCENT5E;
    case hal::SwitchType::Dms100:
      return PRI_SWITCH_DMS100;
    case hal::SwitchType::EuroIsdn:
      return span_type == hal::SpanType::E1 ? PRI_SWITCH_EUROISDN_E1 : PRI_SWITCH_EUROISDN_T1;
    case hal::SwitchType::Qsig:
      return PRI_SWITCH_QSIG;
  }
  return PRI_SWITCH_NI2;
}

}  // namespace tw::sim::detail
