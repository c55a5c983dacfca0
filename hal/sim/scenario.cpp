// Scenario files (TOML, docs/scenarios.md), time formatting and the built-in demo site.
#include "hal/sim/scenario.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <sstream>

namespace tw::sim {

namespace {

using namespace std::string_view_literals;

// ---- errors with positions -------------------------------------------------------------

// Collects every error of a file (a user fixes them all in one go, as check-config lets them
// do for configurations): a bad value is recorded and reading goes on with the next key, the
// value left at its default.
class Reader {
 public:
  explicit Reader(std::string_view source) : source_(source) {}

  void error(const toml::source_region& where, const std::string& msg) const {
    errors_.push_back({where.begin.line, where.begin.column,
                       std::string(source_) + ":" + std::to_string(where.begin.line) + ":" +
                           std::to_string(where.begin.column) + ": " + msg});
  }
  void error(const toml::node& n, const std::string& msg) const { error(n.source(), msg); }
  bool has_errors() const { return !errors_.empty(); }
  // Every error in file order, one per line.
  std::string errors() const {
    auto sorted = errors_;
    std::stable_sort(sorted.begin(), sorted.end(), [](const Error& a, const Error& b) {
      return a.line != b.line ? a.line < b.line : a.column < b.column;
    });
    std::string out;
    for (const Error& e : sorted) out += (out.empty() ? "" : "\n") + e.message;
    return out;
  }

  // Rejects keys this table does not know: a typo must not silently fall back to a default.
  void only_keys(const toml::table& t, std::string_view what,
                 std::initializer_list<std::string_view> known) const {
    for (auto&& [key, node] : t) {
      if (std::find(known.begin(), known.end(), key.str()) == known.end())
        error(key.source(), "unknown key '" + std::string(key.str()) + "' in " + std::string(what));
    }
  }

  const toml::table* table(const toml::table& parent, std::string_view key) const {
    const toml::node* n = parent.get(key);
    if (!n) return nullptr;
    if (!n->is_table())
      error(*n, "'" + std::string(key) + "' must be a table ([" + std::string(key) + "])");
    return n->as_table();
  }

  // [[key]] entries; a single [key] table is accepted as one entry.
  std::vector<const toml::table*> tables(const toml::table& parent, std::string_view key) const {
    std::vector<const toml::table*> out;
    const toml::node* n = parent.get(key);
    if (!n) return out;
    if (const toml::table* t = n->as_table()) {
      out.push_back(t);
      return out;
    }
    const toml::array* a = n->as_array();
    if (!a) {
      error(*n,
            "'" + std::string(key) + "' must be an array of tables ([[" + std::string(key) + "]])");
      return out;
    }
    for (const toml::node& e : *a) {
      if (e.is_table())
        out.push_back(e.as_table());
      else
        error(e, "each '" + std::string(key) + "' entry must be a table");
    }
    return out;
  }

  // `max_why`: what the maximum is, said after it in the error (then printed as an integer).
  std::optional<double> number(const toml::table& t, std::string_view key, double min,
                               double max = 1e12, std::string_view max_why = {}) const {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    double v = 0;
    if (const auto* i = n->as_integer()) {
      v = static_cast<double>(i->get());
    } else if (const auto* f = n->as_floating_point()) {
      v = f->get();
    } else {
      error(*n, "'" + std::string(key) + "' must be a number");
      return std::nullopt;
    }
    if (!std::isfinite(v) || v < min || v > max) {
      std::ostringstream msg;
      msg << "'" << key << "' must be ";
      if (max >= 1e12) {
        msg << "at least " << min;
      } else if (!max_why.empty()) {
        msg << "between " << min << " and " << static_cast<long long>(max) << " " << max_why;
      } else {
        msg << "between " << min << " and " << max;
      }
      error(*n, msg.str());
      return std::nullopt;
    }
    return v;
  }

  // A time or duration in seconds, within the longest a scenario may run (a scenario with
  // `at = 1e12` would otherwise simulate for ever).
  std::optional<double> seconds(const toml::table& t, std::string_view key, double min) const {
    return number(t, key, min, kMaxScenarioSeconds,
                  "seconds (31 days, the longest a scenario runs)");
  }

  std::optional<long long> integer(const toml::table& t, std::string_view key, long long min,
                                   long long max) const {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    const auto* i = n->as_integer();
    if (!i) {
      error(*n, "'" + std::string(key) + "' must be an integer");
      return std::nullopt;
    }
    const long long v = i->get();
    if (v < min || v > max) {
      error(*n, "'" + std::string(key) + "' must be between " + std::to_string(min) + " and " +
                    std::to_string(max));
      return std::nullopt;
    }
    return v;
  }

  std::optional<bool> boolean(const toml::table& t, std::string_view key) const {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    const auto* b = n->as_boolean();
    if (!b) {
      error(*n, "'" + std::string(key) + "' must be true or false");
      return std::nullopt;
    }
    return b->get();
  }

  std::optional<std::string> string(const toml::table& t, std::string_view key) const {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    const auto* s = n->as_string();
    if (!s) {
      error(*n, "'" + std::string(key) + "' must be a string");
      return std::nullopt;
    }
    return s->get();
  }

  // A dialled number: a string of 0-9, * and # (a TOML integer would lose leading zeros).
  std::optional<std::string> digits(const toml::table& t, std::string_view key,
                                    bool allow_empty) const {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    const auto* s = n->as_string();
    if (!s) {
      error(*n, "'" + std::string(key) + "' must be a string of digits (quote it: \"0114420...\")");
      return std::nullopt;
    }
    const std::string& v = s->get();
    std::string problem;
    if (v.empty() && !allow_empty) problem = "must not be empty";
    if (v.size() > 31) problem = "is longer than 31 digits";
    for (char c : v) {
      if (!std::isdigit(static_cast<unsigned char>(c)) && c != '*' && c != '#')
        problem = "may hold only 0-9, * and #";
    }
    if (!problem.empty()) {
      error(*n, "'" + std::string(key) + "' " + problem);
      return std::nullopt;
    }
    return v;
  }

  // DTMF keyed in-band: 0-9, *, # and A-D, up to 64 of them.
  std::optional<std::string> dtmf(const toml::table& t, std::string_view key) const {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    const auto* s = n->as_string();
    if (!s) {
      error(*n, "'" + std::string(key) + "' must be a string of DTMF digits");
      return std::nullopt;
    }
    const std::string& v = s->get();
    std::string problem;
    if (v.size() > 64) problem = "is longer than 64 digits";
    for (char c : v) {
      if (!std::isdigit(static_cast<unsigned char>(c)) && c != '*' && c != '#' &&
          (c < 'A' || c > 'D'))
        problem = "may hold only 0-9, *, # and A-D";
    }
    if (!problem.empty()) {
      error(*n, "'" + std::string(key) + "' " + problem);
      return std::nullopt;
    }
    return v;
  }

  template <typename T>
  std::optional<T> choice(const toml::table& t, std::string_view key,
                          std::initializer_list<std::pair<std::string_view, T>> options) const {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    const auto* s = n->as_string();
    std::string names;
    for (const auto& [name, value] : options) {
      if (s && s->get() == name) return value;
      names += (names.empty() ? "\"" : ", \"") + std::string(name) + "\"";
    }
    error(*n, "'" + std::string(key) + "' must be one of " + names);
    return std::nullopt;
  }

  std::optional<hal::Timestamp> time(const toml::table& t, std::string_view key) const {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    if (const auto* dt = n->as_date_time()) {
      const toml::date_time& v = dt->get();
      if (!v.offset) {
        error(*n, "'" + std::string(key) + "' needs a UTC offset (end it with Z)");
        return std::nullopt;
      }
      auto r = hal::make_time(v.date.year, v.date.month, v.date.day, v.time.hour, v.time.minute,
                              v.time.second, v.time.nanosecond / 1000, v.offset->minutes);
      if (!r) error(*n, "'" + std::string(key) + "' is not a valid time");
      return r;
    }
    if (const auto* s = n->as_string()) {
      if (auto r = hal::parse_time(s->get())) return r;
    }
    error(*n, "'" + std::string(key) + "' must be an RFC 3339 UTC time like 2027-01-05T09:00:00Z");
    return std::nullopt;
  }

  template <typename T>
  static T or_(std::optional<T> v, T fallback) {
    return v ? *v : fallback;
  }

 private:
  struct Error {
    std::size_t line = 0, column = 0;
    std::string message;
  };
  std::string_view source_;
  mutable std::vector<Error> errors_;
};

std::optional<hal::Side> side(const Reader& r, const toml::table& t, std::string_view key) {
  return r.choice<hal::Side>(t, key, {{"pbx", hal::Side::Pbx}, {"carrier", hal::Side::Carrier}});
}

bool valid_channel(const hal::SpanInfo& s, long long ch) {
  if (s.type == hal::SpanType::E1) return ch >= 1 && ch <= 31 && ch != 16;
  return ch >= 1 && ch <= 23;
}

toml::source_region top_of_file() {
  toml::source_region top;
  top.begin = {1, 1};
  return top;
}

void read_scenario_table(const Reader& r, const toml::table& root, Scenario& sc) {
  sc.name = "scenario";
  sc.start = *hal::make_time(2027, 1, 5, 9, 0, 0, 0, 0);
  if (const toml::table* t = r.table(root, "scenario")) {
    r.only_keys(*t, "[scenario]", {"name", "start", "seed"});
    sc.name = Reader::or_(r.string(*t, "name"), sc.name);
    sc.start = Reader::or_(r.time(*t, "start"), sc.start);
    sc.seed = static_cast<unsigned>(Reader::or_(r.integer(*t, "seed", 0, 4294967295LL), 1LL));
  }
}

void read_spans(const Reader& r, const toml::table& root, Scenario& sc) {
  const auto tables = r.tables(root, "span");
  const toml::node* listed = root.get("span");
  if (tables.empty() && (!listed || listed->is_array()))
    r.error(top_of_file(), "no [[span]]: a scenario needs at least one span");
  for (const toml::table* t : tables) {
    r.only_keys(*t, "[[span]]", {"id", "type", "switchtype", "pbx_side", "name"});
    hal::SpanInfo s;
    s.id = static_cast<int>(
        Reader::or_(r.integer(*t, "id", 1, 255), static_cast<long long>(sc.spans.size() + 1)));
    const bool twice = std::any_of(sc.spans.begin(), sc.spans.end(),
                                   [&](const hal::SpanInfo& other) { return other.id == s.id; });
    if (twice) {
      r.error(t->get("id") ? t->get("id")->source() : t->source(),
              "span " + std::to_string(s.id) + " is defined twice");
      continue;
    }
    s.type = Reader::or_(
        r.choice<hal::SpanType>(*t, "type", {{"t1", hal::SpanType::T1}, {"e1", hal::SpanType::E1}}),
        hal::SpanType::T1);
    s.framing = s.type == hal::SpanType::T1 ? "esf" : "ccs";
    s.switch_type = s.type == hal::SpanType::T1 ? hal::SwitchType::Ni2 : hal::SwitchType::EuroIsdn;
    if (auto name = r.string(*t, "switchtype")) {
      if (!hal::parse_switch_type(*name, s.switch_type))
        r.error(*t->get("switchtype"),
                "'switchtype' must be one of \"ni2\", \"4ess\", \"5ess\", \"dms100\", "
                "\"euroisdn\", \"qsig\"");
    }
    s.pbx_role = Reader::or_(
        r.choice<hal::Role>(*t, "pbx_side",
                            {{"user", hal::Role::User}, {"network", hal::Role::Network}}),
        hal::Role::User);
    s.name = Reader::or_(r.string(*t, "name"), "simulated span " + std::to_string(s.id));
    sc.spans.push_back(std::move(s));
  }
}

// The span a [[call]] or [[restart]] names (the first one by default); null when the id names
// none (an error) or the scenario has no span at all (already an error).
const hal::SpanInfo* span_ref(const Reader& r, const toml::table& t, const Scenario& sc) {
  if (sc.spans.empty()) return nullptr;
  const auto id = r.integer(t, "span", 1, 255);
  if (t.get("span") && !id) return nullptr;
  const int want = static_cast<int>(id.value_or(sc.spans.front().id));
  for (const hal::SpanInfo& s : sc.spans)
    if (s.id == want) return &s;
  r.error(t.get("span") ? t.get("span")->source() : t.source(),
          "no [[span]] with id " + std::to_string(want));
  return nullptr;
}

void read_calls(const Reader& r, const toml::table& root, Scenario& sc) {
  for (const toml::table* t : r.tables(root, "call")) {
    r.only_keys(*t, "[[call]]",
                {"at", "span", "direction", "calling", "called", "overlap", "keypad",
                 "answer_after", "ring", "talk", "cause", "cleared_by", "channel", "dtmf_in",
                 "dtmf_out", "audio", "modem", "dial_tone_after_answer"});
    CallSpec c;
    const auto at = r.seconds(*t, "at", 0);
    if (!t->get("at")) r.error(*t, "[[call]] needs 'at' (seconds from the start)");
    c.at_s = at.value_or(0);
    const hal::SpanInfo* span = span_ref(r, *t, sc);
    c.span = span ? span->id : 0;
    c.caller = Reader::or_(
        r.choice<hal::Side>(*t, "direction",
                            {{"outbound", hal::Side::Pbx}, {"inbound", hal::Side::Carrier}}),
        hal::Side::Pbx);
    c.calling = Reader::or_(r.digits(*t, "calling", true), std::string());
    const auto called = r.digits(*t, "called", false);
    if (!t->get("called")) r.error(*t, "[[call]] needs 'called'");
    c.called = called.value_or("");
    c.overlap = Reader::or_(r.boolean(*t, "overlap"), false);
    c.keypad = Reader::or_(r.digits(*t, "keypad", true), std::string());
    c.answer_after_s = r.seconds(*t, "answer_after", 0);
    c.ring_s = Reader::or_(r.seconds(*t, "ring", 0), 2.0);
    c.talk_s = Reader::or_(r.seconds(*t, "talk", 0), 30.0);
    const double end = c.at_s + c.answer_after_s.value_or(0) + c.ring_s + c.talk_s;
    if (at && end > kMaxScenarioSeconds)
      r.error(*t->get("at"), "the call ends " + std::to_string(static_cast<long long>(end)) +
                                 " s after the start (at + answer_after + ring + talk): past "
                                 "31 days, the longest a scenario runs");
    c.cause = static_cast<int>(
        Reader::or_(r.integer(*t, "cause", 1, 127), c.answer_after_s ? 16LL : 19LL));
    // Answered calls end from the caller's side, unanswered ones from the called side.
    c.clearer =
        Reader::or_(side(r, *t, "cleared_by"), c.answer_after_s ? c.caller : hal::other(c.caller));
    if (const auto ch = r.integer(*t, "channel", 0, 31)) {
      if (span && *ch != 0 && !valid_channel(*span, *ch))
        r.error(*t->get("channel"), "span " + std::to_string(span->id) + " (" +
                                        std::string(hal::to_string(span->type)) +
                                        ") has no B-channel " + std::to_string(*ch));
      c.channel = static_cast<int>(*ch);
    }
    c.dtmf_in = Reader::or_(r.dtmf(*t, "dtmf_in"), std::string());
    c.dtmf_out = Reader::or_(r.dtmf(*t, "dtmf_out"), std::string());
    c.audio = Reader::or_(r.choice<AudioContent>(*t, "audio",
                                                 {{"speech", AudioContent::Speech},
                                                  {"silence", AudioContent::Silence},
                                                  {"fax", AudioContent::Fax},
                                                  {"modem", AudioContent::Modem}}),
                          AudioContent::Speech);
    c.modem =
        Reader::or_(r.choice<ModemKind>(*t, "modem",
                                        {{"v21", ModemKind::V21}, {"bell103", ModemKind::Bell103}}),
                    ModemKind::Any);
    c.dial_tone_after_answer = Reader::or_(r.boolean(*t, "dial_tone_after_answer"), false);
    if (c.dial_tone_after_answer && c.caller != hal::Side::Carrier)
      r.error(*t->get("dial_tone_after_answer"),
              "'dial_tone_after_answer' needs direction = \"inbound\" (the PBX answers an "
              "outside caller)");
    sc.calls.push_back(std::move(c));
  }
}

void read_restarts(const Reader& r, const toml::table& root, Scenario& sc) {
  for (const toml::table* t : r.tables(root, "restart")) {
    r.only_keys(*t, "[[restart]]", {"at", "span", "channel", "side"});
    RestartSpec rs;
    const auto at = r.seconds(*t, "at", 0);
    if (!t->get("at")) r.error(*t, "[[restart]] needs 'at'");
    rs.at_s = at.value_or(0);
    const hal::SpanInfo* span = span_ref(r, *t, sc);
    rs.span = span ? span->id : 0;
    const auto ch = r.integer(*t, "channel", 1, 31);
    if (!t->get("channel")) r.error(*t, "[[restart]] needs 'channel'");
    if (ch && span && !valid_channel(*span, *ch))
      r.error(*t->get("channel"),
              "span " + std::to_string(span->id) + " has no B-channel " + std::to_string(*ch));
    rs.channel = static_cast<int>(ch.value_or(1));
    rs.side = Reader::or_(side(r, *t, "side"), hal::Side::Carrier);
    sc.restarts.push_back(rs);
  }
}

void read_capture(const Reader& r, const toml::table& root, Scenario& sc) {
  const toml::table* t = r.table(root, "capture");
  if (!t) return;
  r.only_keys(*t, "[capture]", {"start_after_s", "malformed_every"});
  sc.capture_from_s = Reader::or_(r.seconds(*t, "start_after_s", 0), 0.0);
  sc.malformed_every =
      static_cast<int>(Reader::or_(r.integer(*t, "malformed_every", 0, 1000000), 0LL));
}

void read_audio(const Reader& r, const toml::table& root, Scenario& sc) {
  const toml::table* t = r.table(root, "audio");
  if (!t) return;
  r.only_keys(*t, "[audio]", {"enabled"});
  sc.audio = Reader::or_(r.boolean(*t, "enabled"), false);
}

void read_traffic(const Reader& r, const toml::table& root, Scenario& sc) {
  const toml::table* t = r.table(root, "traffic");
  if (!t) return;
  r.only_keys(*t, "[traffic]",
              {"calls",          "duration_s",  "start_at",      "spans",        "seed",
               "outbound_share", "answer_rate", "overlap_share", "keypad_share", "international",
               "national",       "local",       "toll_free",     "mean_talk_s",  "max_talk_s",
               "busy",           "no_answer",   "rejected",      "did_base",     "did_count",
               "fax_share",      "modem_share", "silence_share", "dtmf_share",   "disa_share"});
  TrafficSpec g;
  const auto calls = r.integer(*t, "calls", 1, 1000000);
  if (!t->get("calls")) r.error(*t, "[traffic] needs 'calls'");
  g.calls = static_cast<int>(calls.value_or(0));
  const auto duration = r.seconds(*t, "duration_s", 1);
  const auto start_at = r.seconds(*t, "start_at", 0);
  g.duration_s = duration.value_or(g.duration_s);
  g.start_at_s = start_at.value_or(g.start_at_s);
  if (duration && start_at && g.start_at_s + g.duration_s > kMaxScenarioSeconds)
    r.error(*t->get("start_at"),
            "[traffic] start_at + duration_s is past 31 days, the longest a scenario runs");
  if (const toml::node* n = t->get("spans")) {
    const toml::array* a = n->as_array();
    if (!a || a->empty()) {
      r.error(*n, "'spans' must be a non-empty array of span ids");
    } else {
      for (const toml::node& e : *a) {
        const auto* i = e.as_integer();
        const bool known =
            i && std::any_of(sc.spans.begin(), sc.spans.end(),
                             [&](const hal::SpanInfo& s) { return s.id == i->get(); });
        if (known)
          g.spans.push_back(static_cast<int>(i->get()));
        else
          r.error(e, "'spans' entries must be ids of [[span]] tables");
      }
    }
  }
  const unsigned seed = static_cast<unsigned>(
      Reader::or_(r.integer(*t, "seed", 0, 4294967295LL), static_cast<long long>(sc.seed)));
  g.outbound_share = Reader::or_(r.number(*t, "outbound_share", 0, 1), g.outbound_share);
  g.answer_rate = Reader::or_(r.number(*t, "answer_rate", 0, 1), g.answer_rate);
  g.overlap_share = Reader::or_(r.number(*t, "overlap_share", 0, 1), g.overlap_share);
  g.keypad_share = Reader::or_(r.number(*t, "keypad_share", 0, 1), g.keypad_share);
  g.international = Reader::or_(r.number(*t, "international", 0), g.international);
  g.national = Reader::or_(r.number(*t, "national", 0), g.national);
  g.local = Reader::or_(r.number(*t, "local", 0), g.local);
  g.toll_free = Reader::or_(r.number(*t, "toll_free", 0), g.toll_free);
  if (g.international + g.national + g.local + g.toll_free <= 0)
    r.error(*t,
            "[traffic] destination shares (international, national, local, toll_free) "
            "add up to 0");
  g.mean_talk_s = Reader::or_(r.seconds(*t, "mean_talk_s", 1), g.mean_talk_s);
  g.max_talk_s = Reader::or_(r.seconds(*t, "max_talk_s", 1), g.max_talk_s);
  g.busy = Reader::or_(r.number(*t, "busy", 0), g.busy);
  g.no_answer = Reader::or_(r.number(*t, "no_answer", 0), g.no_answer);
  g.rejected = Reader::or_(r.number(*t, "rejected", 0), g.rejected);
  if (g.busy + g.no_answer + g.rejected <= 0)
    r.error(*t, "[traffic] shares of busy, no_answer and rejected add up to 0");
  g.did_base = Reader::or_(r.digits(*t, "did_base", true), std::string());
  g.did_count = static_cast<int>(Reader::or_(r.integer(*t, "did_count", 1, 100000), 100LL));
  g.fax_share = Reader::or_(r.number(*t, "fax_share", 0, 1), 0.0);
  g.modem_share = Reader::or_(r.number(*t, "modem_share", 0, 1), 0.0);
  g.silence_share = Reader::or_(r.number(*t, "silence_share", 0, 1), 0.0);
  if (g.fax_share + g.modem_share + g.silence_share > 1.0 + 1e-9)
    r.error(*t, "[traffic] fax_share + modem_share + silence_share is more than 1");
  g.dtmf_share = Reader::or_(r.number(*t, "dtmf_share", 0, 1), 0.0);
  g.disa_share = Reader::or_(r.number(*t, "disa_share", 0, 1), 0.0);
  // Generated only from a whole, valid scenario: the generator relies on what was checked.
  if (!r.has_errors()) generate_traffic(sc, g, seed);
}

}  // namespace

std::optional<Scenario> parse_scenario(std::string_view text, std::string_view source_name,
                                       std::string& error) {
  const Reader r(source_name);
  try {
    toml::table root = toml::parse(text, source_name);
    r.only_keys(root, "the scenario file",
                {"scenario", "span", "capture", "audio", "call", "restart", "traffic"});
    Scenario sc;
    read_scenario_table(r, root, sc);
    read_spans(r, root, sc);
    read_capture(r, root, sc);
    read_audio(r, root, sc);
    read_calls(r, root, sc);
    read_restarts(r, root, sc);
    read_traffic(r, root, sc);
    if (!r.has_errors()) return sc;
    error = r.errors();
  } catch (const toml::parse_error& e) {
    error = std::string(source_name) + ":" + std::to_string(e.source().begin.line) + ":" +
            std::to_string(e.source().begin.column) + ": " + std::string(e.description());
  }
  return std::nullopt;
}

std::optional<Scenario> load_scenario(const std::string& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path + ": cannot open the scenario file";
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_scenario(text.str(), path, error);
}

Scenario demo_scenario() {
  Scenario sc;
  sc.name = "demo: two NI-2 T1 PRIs, a busy working-day morning";
  // A Tuesday, 09:30 UTC: inside the report's default business hours (08-18 UTC).
  sc.start = *hal::make_time(2027, 1, 5, 9, 30, 0, 0, 0);
  sc.seed = 20270105;
  for (int id = 1; id <= 2; ++id) {
    hal::SpanInfo s;
    s.id = id;
    s.type = hal::SpanType::T1;
    s.framing = "esf";
    s.switch_type = hal::SwitchType::Ni2;
    s.pbx_role = hal::Role::User;
    s.name = "demo T1 PRI " + std::to_string(id);
    sc.spans.push_back(std::move(s));
  }
  TrafficSpec g;
  g.calls = 60;
  g.duration_s = 480;
  g.outbound_share = 0.6;
  g.answer_rate = 0.8;
  g.overlap_share = 0.05;
  g.keypad_share = 0.03;
  g.international = 0.05;
  g.national = 0.4;
  g.local = 0.4;
  g.toll_free = 0.15;
  g.mean_talk_s = 70;
  g.max_talk_s = 110;  // keeps the whole demo near ten minutes
  g.did_base = "2125550100";
  generate_traffic(sc, g, sc.seed);

  // The attack. The DISA answers, plays a second dial tone; the caller keys PIN 4711 and the
  // destination; the PBX seizes a trunk on span 1 and dials it; both legs clear together.
  CallSpec in;
  in.at_s = 300;
  in.span = 2;
  in.caller = hal::Side::Carrier;
  in.calling = "8095550147";
  in.called = kDemoDisaNumber;
  in.answer_after_s = 1;
  in.ring_s = 0.5;
  in.talk_s = 150;
  in.clearer = hal::Side::Carrier;
  in.dtmf_in = std::string("4711#") + kDemoFraudDestination + "#";
  in.dial_tone_after_answer = true;
  CallSpec out;
  out.at_s = 316;
  out.span = 1;
  out.caller = hal::Side::Pbx;
  out.calling = kDemoDisaNumber;
  out.called = kDemoFraudDestination;
  out.answer_after_s = 6;
  out.talk_s = 128.5;
  out.clearer = hal::Side::Pbx;
  for (CallSpec* c : {&in, &out}) {
    const auto at = std::find_if(sc.calls.begin(), sc.calls.end(),
                                 [&](const CallSpec& x) { return x.at_s > c->at_s; });
    sc.calls.insert(at, std::move(*c));
  }
  return sc;
}

}  // namespace tw::sim
