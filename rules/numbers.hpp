// Number classes: what a dialed number costs and how risky it is (docs/rules.md).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tw::rules {

// Most specific first: a number's primary class is the first of its classes in this order.
enum class NumberClass : std::uint8_t {
  Emergency,
  HighRisk,
  Premium,
  International,
  TollFree,
  National,
  Local,
  Unknown,
};
inline constexpr std::size_t kNumberClassCount = 8;
// "emergency", "high_risk", "premium", "international", "toll_free", "national", "local",
// "unknown".
std::string_view to_string(NumberClass c);
std::optional<NumberClass> parse_number_class(std::string_view name);

// A set of classes: a Dominican Republic number is international and high-risk at once.
struct ClassSet {
  std::uint16_t bits = 0;
  static ClassSet of(std::initializer_list<NumberClass> classes) {
    ClassSet s;
    for (NumberClass c : classes) s.add(c);
    return s;
  }
  bool has(NumberClass c) const { return bits & (1u << static_cast<unsigned>(c)); }
  void add(NumberClass c) { bits |= static_cast<std::uint16_t>(1u << static_cast<unsigned>(c)); }
  bool intersects(ClassSet o) const { return (bits & o.bits) != 0; }
  bool empty() const { return bits == 0; }
  // "international,high_risk" (class order).
  std::string str() const;
  bool operator==(const ClassSet&) const = default;
};

struct NumberInfo {
  ClassSet classes;
  NumberClass primary = NumberClass::Unknown;
  // The number as E.164 digits without '+' when it can be worked out ("18095551234",
  // "442079460000"); "" for short and local numbers whose area is not known.
  std::string e164;
  std::string high_risk;  // name of the high-risk entry that matched, "" if none
  bool is(NumberClass c) const { return classes.has(c); }
};

// One entry of the high-risk destination data file (data/high-risk-destinations.toml).
struct HighRiskEntry {
  std::string name;
  std::string prefix;    // E.164 prefix, or
  std::string from, to;  // an inclusive range of equal-length E.164 prefixes
  bool matches(std::string_view e164) const;
};

struct HighRiskList {
  std::string source;  // the file it came from
  std::vector<HighRiskEntry> entries;
  // The longest (most specific) matching entry, or nullptr.
  const HighRiskEntry* match(std::string_view e164) const;
};

// Parses the data file; errors are appended as "file:line:column: message".
std::optional<HighRiskList> parse_high_risk(std::string_view text, const std::string& source,
                                            std::vector<std::string>& errors);
std::optional<HighRiskList> load_high_risk(const std::string& path,
                                           std::vector<std::string>& errors);

// How the site dials, and the per-site overrides (keys of [numbers], docs/config.md).
struct NumberingPlan {
  std::string country_code = "1";  // "1": North American numbering plan rules apply
  std::vector<std::string> international_prefixes{"011", "00"};
  // NANP area codes that are other countries (the Caribbean, Bermuda, ...).
  std::vector<std::string> nanp_international{"242", "246", "264", "268", "284", "345", "441",
                                              "473", "649", "664", "721", "758", "767", "784",
                                              "809", "829", "849", "868", "869", "876"};
  std::vector<std::string> premium_npa{"900", "976"};
  std::vector<std::string> premium_nxx{"976"};  // NPA-976-XXXX and 976-XXXX
  std::vector<std::string> toll_free_npa{"800", "888", "877", "866", "855", "844", "833"};
  // Whole numbers, as dialed (with or without a trunk access digit).
  std::vector<std::string> emergency{"911", "9911", "933", "112", "999", "000", "110"};
  // Site overrides: extra prefixes, as dialed, that put a number in a class. High-risk ones are
  // E.164 prefixes, like the data file.
  std::vector<std::string> extra_international, extra_premium, extra_toll_free, extra_national,
      extra_local, extra_high_risk;
};

class Classifier {
 public:
  Classifier() = default;
  Classifier(NumberingPlan plan, HighRiskList high_risk)
      : plan_(std::move(plan)), high_risk_(std::move(high_risk)) {}

  // A number the PBX dialed (outbound called number).
  NumberInfo classify(std::string_view dialed) const;
  // A caller ID presented on an inbound call. Carriers send international callers with their
  // prefix or as full E.164, NANP callers as 10 digits.
  NumberInfo classify_caller(std::string_view calling) const;

  const NumberingPlan& plan() const { return plan_; }
  const HighRiskList& high_risk() const { return high_risk_; }

 private:
  void finish(NumberInfo& info) const;
  NumberingPlan plan_;
  HighRiskList high_risk_;
};

// Number patterns of profiles, allowlists and remote-access numbers: "2125550100" (exact),
// "21255501*" (prefix), "2125550100-2125550199" (range of equal-length numbers).
struct NumberPattern {
  std::string exact, prefix, from, to;
  bool matches(std::string_view number) const;
};
// nullopt and `error` set when the text is not a pattern.
std::optional<NumberPattern> parse_number_pattern(std::string_view text, std::string& error);

// Two presentations of one number: equal, or one ends with the other and the shorter has at
// least 4 digits (carriers deliver DIDs as 10 digits, 7 digits or a 4-digit DNIS).
bool same_number(std::string_view a, std::string_view b);

}  // namespace tw::rules
