// RAII owners for SpanDSP states: unique_ptr with the matching X_free() as deleter.
// Internal header: it pulls in <spandsp.h>, whose macros (lrint, ...) must not leak into users.
#pragma once

#include <memory>

extern "C" {
#include <spandsp.h>
}

#include "hal/spandsp_free.hpp"

namespace tw::dsp::detail {

using spandsp::SpanFree;

using DtmfRxPtr = std::unique_ptr<dtmf_rx_state_t, SpanFree<&dtmf_rx_free>>;
using ModemTonesRxPtr =
    std::unique_ptr<modem_connect_tones_rx_state_t, SpanFree<&modem_connect_tones_rx_free>>;
using FskRxPtr = std::unique_ptr<fsk_rx_state_t, SpanFree<&fsk_rx_free>>;
using SuperToneRxPtr = std::unique_ptr<super_tone_rx_state_t, SpanFree<&super_tone_rx_free>>;
using SuperToneDescPtr =
    std::unique_ptr<super_tone_rx_descriptor_t, SpanFree<&super_tone_rx_free_descriptor>>;
using BellMfRxPtr = std::unique_ptr<bell_mf_rx_state_t, SpanFree<&bell_mf_rx_free>>;
using R2MfRxPtr = std::unique_ptr<r2_mf_rx_state_t, SpanFree<&r2_mf_rx_free>>;
using DtmfTxPtr = std::unique_ptr<dtmf_tx_state_t, SpanFree<&dtmf_tx_free>>;
using ModemTonesTxPtr =
    std::unique_ptr<modem_connect_tones_tx_state_t, SpanFree<&modem_connect_tones_tx_free>>;
using ToneGenDescPtr = std::unique_ptr<tone_gen_descriptor_t, SpanFree<&tone_gen_descriptor_free>>;
using ToneGenPtr = std::unique_ptr<tone_gen_state_t, SpanFree<&tone_gen_free>>;
using FskTxPtr = std::unique_ptr<fsk_tx_state_t, SpanFree<&fsk_tx_free>>;
using BellMfTxPtr = std::unique_ptr<bell_mf_tx_state_t, SpanFree<&bell_mf_tx_free>>;
using R2MfTxPtr = std::unique_ptr<r2_mf_tx_state_t, SpanFree<&r2_mf_tx_free>>;

}  // namespace tw::dsp::detail
