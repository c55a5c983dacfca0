#include <set>

#include "rules/detectors/common.hpp"

namespace tw::rules::detail {

namespace {

using namespace std::chrono_literals;

// ---- fax or modem on a voice-only line -----------------------------------------------

class FaxModemDetector final : public Detector {
 public:
  void on_update(CallState& c, Context& ctx) override {
    const Config& cfg = ctx.config();
    const std::string& type = c.record.call_type;
    if (!cfg.detectors.fax_modem.enabled || (type != "fax" && type != "modem")) return;
    if (!cfg.voice_only_line(c.record.span, c.record.channel) || !done_.insert(c.key).second)
      return;
    Detection d;
    d.time = ctx.now();
    d.category = type == "fax" ? Category::FaxOnVoiceLine : Category::ModemOnVoiceLine;
    d.severity = Severity::Warning;
    d.identifier = std::string(to_string(d.category)) + ":span" + std::to_string(c.record.span) +
                   ":" + (c.record.channel ? std::to_string(*c.record.channel) : "?");
    d.message = type + " call on voice-only line " + span_text(c.record) + ": " +
                describe_call(c.record) + " to " + c.record.called;
    d.call = &c;
    ctx.raise(std::move(d));
  }
  void on_end(CallState& c, Context&) override { done_.erase(c.key); }

 private:
  std::set<CallKey> done_;
};

}  // namespace

std::unique_ptr<Detector> make_fax_modem_detector() {
  return std::make_unique<FaxModemDetector>();
}

}  // namespace tw::rules::detail
