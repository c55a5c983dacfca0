#include "rules/numbers.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <sstream>

namespace tw::rules {

namespace {

constexpr std::array<std::string_view, kNumberClassCount> kClassNames = {
    "emergency", "high_risk", "premium", "international",
    "toll_free", "national",  "local",   "unknown"};

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool starts_with_any(std::string_view s, const std::vector<std::string>& prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(),
                     [&](const std::string& p) { return !p.empty() && s.starts_with(p); });
}

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string where(const toml::source_region& r, const std::string& source) {
  return source + ":" + std::to_string(r.begin.line) + ":" + std::to_string(r.begin.column);
}

}  // namespace

std::string_view to_string(NumberClass c) {
  return kClassNames[static_cast<std::size_t>(c)];
}

std::optional<NumberClass> parse_number_class(std::string_view name) {
  for (std::size_t i = 0; i < kClassNames.size(); ++i)
    if (kClassNames[i] == name) return static_cast<NumberClass>(i);
  return std::nullopt;
}

std::string ClassSet::str() const {
  std::string out;
  for (std::size_t i = 0; i < kNumberClassCount; ++i) {
    if (!has(static_cast<NumberClass>(i))) continue;
    if (!out.empty()) out += ",";
    out += kClassNames[i];
  }
  return out;
}

// ---- high-risk destinations ------------------------------------------------------------

bool HighRiskEntry::matches(std::string_view e164) const {
  if (!prefix.empty()) return e164.starts_with(prefix);
  if (from.empty() || e164.size() < from.size()) return false;
  // Equal-length digit strings compare like the numbers they spell.
  const std::string_view head = e164.substr(0, from.size());
  return head >= from && head <= to;
}

const HighRiskEntry* HighRiskList::match(std::string_view e164) const {
  const HighRiskEntry* best = nullptr;
  std::size_t best_len = 0;
  for (const HighRiskEntry& e : entries) {
    const std::size_t len = e.prefix.empty() ? e.from.size() : e.prefix.size();
    if (len > best_len && e.matches(e164)) {
      best = &e;
      best_len = len;
    }
  }
  return best;
}

std::optional<HighRiskList> parse_high_risk(std::string_view text, const std::string& source,
                                            std::vector<std::string>& errors) {
  const std::size_t errors_before = errors.size();
  toml::table root;
  try {
    root = toml::parse(text, std::string_view(source));
  } catch (const toml::parse_error& e) {
    errors.push_back(where(e.source(), source) + ": " + std::string(e.description()));
    return std::nullopt;
  }
  auto err = [&](const toml::source_region& r, const std::string& msg) {
    errors.push_back(where(r, source) + ": " + msg);
  };
  HighRiskList list;
  list.source = source;
  for (auto&& [key, node] : root) {
    if (key.str() == "meta") {
      if (!node.is_table()) err(node.source(), "'meta' must be a table");
      continue;  // free-form: version, date, where the list came from
    }
    if (key.str() != "destination") {
      err(key.source(), "unknown key '" + std::string(key.str()) + "' (expected [[destination]])");
      continue;
    }
    const toml::array* arr = node.as_array();
    if (!arr) {
      err(node.source(), "'destination' must be an array of tables ([[destination]])");
      continue;
    }
    for (const toml::node& d : *arr) {
      const toml::table* t = d.as_table();
      if (!t) {
        err(d.source(), "each destination must be a table");
        continue;
      }
      std::string name;
      bool any = false;
      for (auto&& [k, v] : *t) {
        if (k.str() == "name" || k.str() == "note") {
          if (!v.is_string()) err(v.source(), "'" + std::string(k.str()) + "' must be a string");
          if (k.str() == "name" && v.is_string()) name = *v.value<std::string>();
        } else if (k.str() != "prefixes" && k.str() != "ranges") {
          err(k.source(), "unknown key '" + std::string(k.str()) +
                              "' in a destination (name, note, prefixes, ranges)");
        }
      }
      if (name.empty()) {
        err(d.source(), "a destination needs a 'name'");
        continue;
      }
      if (const toml::node* p = t->get("prefixes")) {
        const toml::array* pa = p->as_array();
        if (!pa) err(p->source(), "'prefixes' must be an array of digit strings");
        for (std::size_t i = 0; pa && i < pa->size(); ++i) {
          const toml::node& e = *pa->get(i);
          const auto s = e.value<std::string>();
          if (!e.is_string() || !all_digits(*s)) {
            err(e.source(), "a prefix must be a string of digits (E.164 without '+', \"53\")");
            continue;
          }
          list.entries.push_back(HighRiskEntry{name, *s, "", ""});
          any = true;
        }
      }
      if (const toml::node* r = t->get("ranges")) {
        const toml::array* ra = r->as_array();
        if (!ra) err(r->source(), "'ranges' must be an array of \"FROM-TO\" strings");
        for (std::size_t i = 0; ra && i < ra->size(); ++i) {
          const toml::node& e = *ra->get(i);
          const auto s = e.is_string() ? *e.value<std::string>() : std::string();
          const auto dash = s.find('-');
          const std::string from = s.substr(0, dash),
                            to = dash == std::string::npos ? "" : s.substr(dash + 1);
          if (!all_digits(from) || !all_digits(to) || from.size() != to.size() || from > to) {
            err(e.source(),
                "a range must be \"FROM-TO\": two E.164 prefixes of equal length, FROM <= TO");
            continue;
          }
          list.entries.push_back(HighRiskEntry{name, "", from, to});
          any = true;
        }
      }
      if (!any && errors.size() == errors_before)
        err(d.source(), "destination '" + name + "' has neither 'prefixes' nor 'ranges'");
    }
  }
  if (errors.size() != errors_before) return std::nullopt;
  return list;
}

std::optional<HighRiskList> load_high_risk(const std::string& path,
                                           std::vector<std::string>& errors) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    errors.push_back(path + ": cannot read the high-risk destination file");
    return std::nullopt;
  }
  std::ostringstream s;
  s << in.rdbuf();
  return parse_high_risk(s.str(), path, errors);
}

// ---- classification --------------------------------------------------------------------

void Classifier::finish(NumberInfo& info) const {
  if (!info.e164.empty()) {
    if (const HighRiskEntry* e = high_risk_.match(info.e164)) {
      info.classes.add(NumberClass::HighRisk);
      info.high_risk = e->name;
    } else if (starts_with_any(info.e164, plan_.extra_high_risk)) {
      info.classes.add(NumberClass::HighRisk);
      info.high_risk = "site list";
    }
  }
  if (info.classes.empty()) info.classes.add(NumberClass::Unknown);
  for (std::size_t i = 0; i < kNumberClassCount; ++i) {
    if (info.classes.has(static_cast<NumberClass>(i))) {
      info.primary = static_cast<NumberClass>(i);
      break;
    }
  }
}

NumberInfo Classifier::classify(std::string_view dialed) const {
  NumberInfo info;
  const bool plus = dialed.starts_with('+');
  const std::string_view digits = plus ? dialed.substr(1) : dialed;
  if (contains(plan_.emergency, digits)) {
    info.classes.add(NumberClass::Emergency);
    finish(info);
    return info;
  }
  const bool nanp = plan_.country_code == "1";
  // NANP: 1+NPA-NXX-XXXX (or 0+ operator-assisted), NPA-NXX-XXXX, NXX-XXXX, N11.
  auto nanp_class = [&](std::string_view d) {
    std::string_view ten;
    if (d.size() == 11 && (d[0] == '1' || d[0] == '0')) ten = d.substr(1);
    if (d.size() == 10 && d[0] >= '2') ten = d;
    if (!ten.empty()) {
      info.e164 = "1" + std::string(ten);
      const std::string npa(ten.substr(0, 3)), nxx(ten.substr(3, 3));
      if (contains(plan_.nanp_international, npa)) return NumberClass::International;
      if (contains(plan_.premium_npa, npa) || contains(plan_.premium_nxx, nxx))
        return NumberClass::Premium;
      if (contains(plan_.toll_free_npa, npa)) return NumberClass::TollFree;
      return d.size() == 11 ? NumberClass::National : NumberClass::Local;
    }
    if (d.size() == 7)
      return contains(plan_.premium_nxx, d.substr(0, 3)) ? NumberClass::Premium
                                                         : NumberClass::Local;
    if (d.size() == 3 && d[1] == '1' && d[2] == '1') return NumberClass::Local;  // 411, 311...
    return NumberClass::Unknown;
  };
  NumberClass base = NumberClass::Unknown;
  if (!all_digits(digits)) {
    // Feature codes and other non-numbers: only a site override can classify them.
  } else if (plus) {
    if (nanp && digits.size() == 11 && digits[0] == '1') {
      base = nanp_class(digits);
    } else if (!nanp && digits.starts_with(plan_.country_code)) {
      info.e164 = std::string(digits);
      base = NumberClass::National;
    } else {
      info.e164 = std::string(digits);
      base = NumberClass::International;
    }
  } else if (starts_with_any(digits, plan_.international_prefixes)) {
    std::size_t longest = 0;
    for (const auto& p : plan_.international_prefixes)
      if (!p.empty() && digits.starts_with(p)) longest = std::max(longest, p.size());
    info.e164 = std::string(digits.substr(longest));
    base = NumberClass::International;
  } else if (nanp) {
    base = nanp_class(digits);
  } else if (digits.size() > 1 && digits[0] == '0') {
    info.e164 = plan_.country_code + std::string(digits.substr(1));
    base = NumberClass::National;
  } else if (digits.size() >= 3) {
    base = NumberClass::Local;
  }
  // Site overrides win over the built-in rules (the high-risk check still applies).
  if (starts_with_any(digits, plan_.extra_premium))
    base = NumberClass::Premium;
  else if (starts_with_any(digits, plan_.extra_international))
    base = NumberClass::International;
  else if (starts_with_any(digits, plan_.extra_toll_free))
    base = NumberClass::TollFree;
  else if (starts_with_any(digits, plan_.extra_national))
    base = NumberClass::National;
  else if (starts_with_any(digits, plan_.extra_local))
    base = NumberClass::Local;
  if (base != NumberClass::Unknown) info.classes.add(base);
  finish(info);
  return info;
}

NumberInfo Classifier::classify_caller(std::string_view calling) const {
  const bool nanp = plan_.country_code == "1";
  if (all_digits(calling) && !starts_with_any(calling, plan_.international_prefixes)) {
    // Long numbers without a prefix are E.164 as the carrier sent them.
    const bool e164 = nanp ? (calling.size() > 11 || (calling.size() == 11 && calling[0] != '1'))
                           : (calling.size() >= 11 && calling[0] != '0');
    if (e164) return classify("+" + std::string(calling));
  }
  return classify(calling);
}

// ---- patterns --------------------------------------------------------------------------

bool NumberPattern::matches(std::string_view number) const {
  if (!exact.empty()) return number == exact;
  if (!prefix.empty()) return number.starts_with(prefix);
  if (!from.empty())
    return number.size() == from.size() && all_digits(number) && number >= from && number <= to;
  return false;
}

std::optional<NumberPattern> parse_number_pattern(std::string_view text, std::string& error) {
  auto dialable = [](std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
      return (c >= '0' && c <= '9') || c == '*' || c == '#' || c == '+';
    });
  };
  NumberPattern p;
  if (const auto dash = text.find('-'); dash != std::string_view::npos) {
    const std::string_view a = text.substr(0, dash), b = text.substr(dash + 1);
    if (!all_digits(a) || !all_digits(b) || a.size() != b.size() || a > b) {
      error = "a number range must be FROM-TO, two numbers of equal length with FROM <= TO";
      return std::nullopt;
    }
    p.from = std::string(a);
    p.to = std::string(b);
    return p;
  }
  if (text.size() > 1 && text.ends_with('*') && dialable(text.substr(0, text.size() - 1))) {
    p.prefix = std::string(text.substr(0, text.size() - 1));
    return p;
  }
  if (!dialable(text)) {
    error = "a number must be digits (a trailing * makes it a prefix, A-B a range)";
    return std::nullopt;
  }
  p.exact = std::string(text);
  return p;
}

bool same_number(std::string_view a, std::string_view b) {
  if (a.empty() || b.empty()) return false;
  if (a == b) return true;
  const std::string_view shorter = a.size() < b.size() ? a : b;
  const std::string_view longer = a.size() < b.size() ? b : a;
  return shorter.size() >= 4 && longer.ends_with(shorter);
}

}  // namespace tw::rules
