// decode_anomaly_burst: a span whose D-channel suddenly sends a burst of frames the decoder
// cannot take (Zeek's "weird" log, turned into one notice per burst; docs/rules.md).
#pragma once

#include <memory>

#include "rules/detectors.hpp"

namespace tw::rules::detail {

std::unique_ptr<Detector> make_decode_anomaly_detector();

}  // namespace tw::rules::detail
