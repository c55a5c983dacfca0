// What the traffic simulator plays: spans, calls, restarts, and how the tap sees it.
// Scenarios come from TOML files (docs/scenarios.md), from the [traffic] generator or from
// demo_scenario().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "trunkwatch/hal/types.hpp"

namespace tw::sim {

// What a call's B-channel carries once answered (only when the run has audio; see
// docs/scenarios.md): recorded speech and music, line noise, a fax or a modem.
enum class AudioContent : std::uint8_t { Speech, Silence, Fax, Modem };
// Which modem an AudioContent::Modem call is: V.8 ANSam then V.21 carriers, or a 2225 Hz
// answer then Bell 103 carriers. Any: picked per call from the scenario seed.
enum class ModemKind : std::uint8_t { Any, V21, Bell103 };

// One call. Times are seconds from the scenario start; "dialled" below means the moment the
// called side holds the complete number (the SETUP, or the last INFORMATION with overlap).
struct CallSpec {
  double at_s = 0;  // SETUP
  int span = 1;
  hal::Side caller = hal::Side::Pbx;  // Pbx = outbound call, Carrier = inbound
  std::string calling, called;
  // The SETUP carries the first digit only; the rest follow one per INFORMATION message
  // after SETUP ACKNOWLEDGE.
  bool overlap = false;
  // Sent by the caller as a keypad facility INFORMATION shortly after CONNECT.
  std::string keypad;
  std::optional<double> answer_after_s;  // after dialled; nullopt = never answered
  double ring_s = 2;                     // ALERTING this long after dialled
  // Answered: CONNECT to the first clearing message. Unanswered: how long it rings after
  // ALERTING before `clearer` gives up (ignored for a rejection, see docs/scenarios.md).
  double talk_s = 30;
  int cause = 16;  // in the first clearing message
  hal::Side clearer = hal::Side::Pbx;
  int channel = 0;  // 0 = the simulator picks a free one
  // B-channel audio, used only when the run has audio enabled.
  std::string dtmf_in;   // DTMF keyed by the outside party (heard from the carrier side)
  std::string dtmf_out;  // DTMF keyed on the PBX side
  AudioContent audio = AudioContent::Speech;
  ModemKind modem = ModemKind::Any;
  // Inbound only: the PBX plays a dial tone to the caller after answering (DISA).
  bool dial_tone_after_answer = false;
};

// A RESTART for one B-channel, sent by `side`; a call on that channel is gone with it.
struct RestartSpec {
  double at_s = 0;
  int span = 1;
  int channel = 1;
  hal::Side side = hal::Side::Carrier;
};

struct Scenario {
  std::string name;
  hal::Timestamp start{};
  std::vector<hal::SpanInfo> spans;
  std::vector<CallSpec> calls;
  std::vector<RestartSpec> restarts;
  // The tap drops every frame before start + capture_from_s: the capture starts mid-session.
  // 0 keeps everything, including the Q.921 link set-up just before start.
  double capture_from_s = 0;
  // After every Nth tapped frame, also hand the tap (never the stacks) a garbage frame.
  int malformed_every = 0;
  unsigned seed = 1;
  // [audio] enabled: the B-channels carry audio (as SimOptions::audio does).
  bool audio = false;
};

// Knobs of the [traffic] generator; see docs/scenarios.md for what each one means.
struct TrafficSpec {
  int calls = 100;
  double duration_s = 3600;
  double start_at_s = 0;
  std::vector<int> spans;  // empty = every span of the scenario
  double outbound_share = 0.6;
  double answer_rate = 0.75;
  double overlap_share = 0.1;
  double keypad_share = 0.0;
  // Destination mix of outbound calls (normalised): international, national, local, toll-free.
  double international = 0.05, national = 0.35, local = 0.45, toll_free = 0.15;
  double mean_talk_s = 150;  // exponential, clipped to [3 s, max_talk_s]
  double max_talk_s = 3600;
  // How unanswered calls end (normalised): user busy 17, no answer 19, call rejected 21.
  double busy = 0.4, no_answer = 0.5, rejected = 0.1;
  // The PBX's DID block: outbound calling numbers and inbound called numbers. Empty = a
  // default block per span type (NANP on T1, European on E1).
  std::string did_base;
  int did_count = 100;
  // B-channel audio of answered calls (drawn from a generator of their own, so frames stay
  // the same whatever these are). Shares of answered calls: fax, modem and silence instead of
  // speech (they add up to at most 1); DTMF keyed by the outside party on inbound calls and on
  // the PBX side on outbound ones; DISA (inbound only): a second dial tone, then an access code
  // and an international number keyed from outside. Calls too short to carry digits get none.
  double fax_share = 0, modem_share = 0, silence_share = 0;
  double dtmf_share = 0, disa_share = 0;
};

// Appends `spec.calls` generated calls to `scenario.calls`, reproducibly from `seed`. Calls are
// spread over the spans so that no span ever needs more B-channels than it has.
void generate_traffic(Scenario& scenario, const TrafficSpec& spec, unsigned seed);

// The longest a scenario may run: every time (`at`, `start_at`, `start_after_s`) and every
// duration in it is at most this, and so is the end of each call and of the [traffic] window.
inline constexpr double kMaxScenarioSeconds = 31 * 86400.0;

// Every error of the file comes back, in file order, one "source:line:column: message" per
// line (a TOML syntax error stops reading: then it is the only one).
std::optional<Scenario> parse_scenario(std::string_view text, std::string_view source_name,
                                       std::string& error);
std::optional<Scenario> load_scenario(const std::string& path, std::string& error);

// A site with two NI-2 T1 PRI spans (PBX on the user side): about ten minutes of a busy
// working-day morning, ~60 calls, mostly domestic with a few international ones, and one
// toll-fraud attack five minutes in: an outsider calls the DISA number kDemoDisaNumber,
// keys a PIN and an international number in-band (DTMF, with audio), and the PBX dials that
// number out on the other span while the inbound call is up ("through-dialing").
Scenario demo_scenario();
inline constexpr const char* kDemoDisaNumber = "2125550199";
inline constexpr const char* kDemoFraudDestination = "0112526123456";  // Somalia

}  // namespace tw::sim
