#include "dsp/units/dtmf.hpp"

namespace tw::dsp::detail {

DtmfUnit::DtmfUnit(int id, const DtmfConfig& cfg, const UnitHost& host)
    : Unit(id), host_(host), detector_(cfg, host.ring, &DtmfUnit::emit, this) {
  set_whole_blocks(kDtmfBlock);
}

void DtmfUnit::emit(void* user, const Event& e) {
  Event out = e;
  out.onset_s = e.t_s;  // a digit's time is already its start
  static_cast<DtmfUnit*>(user)->host_.sink(out);
}

}  // namespace tw::dsp::detail
