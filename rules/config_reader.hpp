// The configuration reader's error reporting and typed access to TOML values, each error as
// "file:line:column: message" (or "--set KEY=VALUE: message"). Private to rules/config*.cpp.
#pragma once

#include <toml++/toml.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "rules/config.hpp"

namespace tw::rules::config_detail {

class Reader {
 public:
  Reader(std::string source, std::vector<std::string>& errors,
         std::vector<std::string>* warnings = nullptr)
      : source_(std::move(source)), errors_(errors), warnings_(warnings) {}

  std::string where(const toml::source_region& r) const {
    if (r.path && r.path->starts_with("--set ")) return *r.path;
    const std::string& file = r.path ? *r.path : source_;
    if (r.begin.line == 0) return file;
    return file + ":" + std::to_string(r.begin.line) + ":" + std::to_string(r.begin.column);
  }
  void error(const toml::source_region& r, const std::string& msg) const {
    errors_.push_back(where(r) + ": " + msg);
  }
  void error(const toml::node& n, const std::string& msg) const { error(n.source(), msg); }
  // Valid but probably not what the site meant (check-config prints it, the daemon logs it).
  void warn(const toml::node& n, const std::string& msg) const {
    if (warnings_) warnings_->push_back(where(n.source()) + ": " + msg);
  }
  // An error inside a single-line string value, `offset` bytes into its text.
  void error_in_string(const toml::node& n, std::size_t offset, const std::string& msg) const {
    toml::source_region r = n.source();
    const auto len = n.value<std::string>().value_or("").size();
    // Exact only when the literal has no escapes (its width is the text plus two quotes).
    if (r.begin.line == r.end.line && r.end.column - r.begin.column == len + 2 &&
        !(r.path && r.path->starts_with("--set ")))
      r.begin.column = static_cast<toml::source_index>(r.begin.column + 1 + offset);
    error(r, msg);
  }
  std::size_t error_count() const { return errors_.size(); }

  void only_keys(const toml::table& t, std::string_view what,
                 std::initializer_list<std::string_view> known) const {
    only_keys(t, what, std::vector<std::string_view>(known));
  }
  template <typename Names>
  void only_keys(const toml::table& t, std::string_view what, const Names& known) const {
    for (auto&& [key, node] : t) {
      if (std::find(known.begin(), known.end(), key.str()) == known.end()) {
        std::string list;
        for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
        error(key.source(), "unknown key '" + std::string(key.str()) + "' in " + std::string(what) +
                                " (known: " + list + ")");
      }
    }
  }

  const toml::table* table(const toml::table& parent, std::string_view key,
                           std::string_view what) const {
    const toml::node* n = parent.get(key);
    if (!n) return nullptr;
    if (!n->is_table()) {
      error(*n, "'" + std::string(what) + "' must be a table");
      return nullptr;
    }
    return n->as_table();
  }

  // A string that must be one of `ok`: its index there.
  std::optional<std::size_t> choice(const toml::node& n, std::string_view key,
                                    std::span<const std::string_view> ok) const {
    const auto v = n.value<std::string>();
    const auto at = v ? std::find(ok.begin(), ok.end(), *v) : ok.end();
    if (!n.is_string() || at == ok.end()) {
      std::string list;
      for (auto o : ok) list += (list.empty() ? "\"" : ", \"") + std::string(o) + "\"";
      error(n, "'" + std::string(key) + "' must be one of " + list);
      return std::nullopt;
    }
    return static_cast<std::size_t>(at - ok.begin());
  }

  // Each typed read has a form for the node itself (`key` names it in messages) and one for a
  // key of a table (nullopt, silently, when the key is absent).
  std::optional<std::string> str(const toml::node& n, std::string_view key) const {
    if (!n.is_string()) {
      error(n, "'" + std::string(key) + "' must be a string");
      return std::nullopt;
    }
    return *n.value<std::string>();
  }
  std::optional<std::string> str(const toml::table& t, std::string_view key) const {
    const toml::node* n = t.get(key);
    return n ? str(*n, key) : std::nullopt;
  }

  std::optional<bool> boolean(const toml::node& n, std::string_view key) const {
    if (!n.is_boolean()) {
      error(n, "'" + std::string(key) + "' must be true or false");
      return std::nullopt;
    }
    return *n.value<bool>();
  }
  std::optional<bool> boolean(const toml::table& t, std::string_view key) const {
    const toml::node* n = t.get(key);
    return n ? boolean(*n, key) : std::nullopt;
  }

  std::optional<std::int64_t> integer(const toml::node& n, std::string_view key, std::int64_t min,
                                      std::int64_t max) const {
    if (!n.is_integer()) {
      error(n, "'" + std::string(key) + "' must be an integer");
      return std::nullopt;
    }
    const std::int64_t v = *n.value<std::int64_t>();
    if (v < min || v > max) {
      error(n, "'" + std::string(key) + "' must be between " + std::to_string(min) + " and " +
                   std::to_string(max));
      return std::nullopt;
    }
    return v;
  }
  std::optional<std::int64_t> integer(const toml::table& t, std::string_view key, std::int64_t min,
                                      std::int64_t max) const {
    const toml::node* n = t.get(key);
    return n ? integer(*n, key, min, max) : std::nullopt;
  }

  std::optional<double> number(const toml::node& n, std::string_view key, double min,
                               double max) const {
    if (!n.is_number()) {
      error(n, "'" + std::string(key) + "' must be a number");
      return std::nullopt;
    }
    const double v = *n.value<double>();
    if (!(v >= min && v <= max)) {
      std::ostringstream m;
      m << "'" << key << "' must be between " << min << " and " << max;
      error(n, m.str());
      return std::nullopt;
    }
    return v;
  }
  std::optional<double> number(const toml::table& t, std::string_view key, double min,
                               double max) const {
    const toml::node* n = t.get(key);
    return n ? number(*n, key, min, max) : std::nullopt;
  }

  // A list of strings; a single string is a one-element list.
  std::optional<std::vector<const toml::node*>> strings(const toml::table& t,
                                                        std::string_view key) const {
    const toml::node* n = t.get(key);
    return n ? strings(*n, key) : std::nullopt;
  }
  std::optional<std::vector<const toml::node*>> strings(const toml::node& node,
                                                        std::string_view key) const {
    const toml::node* n = &node;
    std::vector<const toml::node*> out;
    if (n->is_string()) {
      out.push_back(n);
      return out;
    }
    const toml::array* a = n->as_array();
    if (!a) {
      error(*n, "'" + std::string(key) + "' must be a string or a list of strings");
      return std::nullopt;
    }
    bool ok = true;
    for (const toml::node& e : *a) {
      if (!e.is_string()) {
        error(e, "each entry of '" + std::string(key) + "' must be a string");
        ok = false;
      }
      out.push_back(&e);
    }
    if (!ok) return std::nullopt;
    return out;
  }

  std::optional<std::vector<std::string>> string_values(const toml::table& t,
                                                        std::string_view key) const {
    auto nodes = strings(t, key);
    if (!nodes) return std::nullopt;
    std::vector<std::string> out;
    for (const toml::node* n : *nodes) out.push_back(*n->value<std::string>());
    return out;
  }

  // Strings of digits only (area codes, prefixes).
  std::optional<std::vector<std::string>> digit_strings(const toml::table& t,
                                                        std::string_view key) const {
    auto nodes = strings(t, key);
    if (!nodes) return std::nullopt;
    std::vector<std::string> out;
    bool ok = true;
    for (const toml::node* n : *nodes) {
      const std::string s = *n->value<std::string>();
      if (s.empty() ||
          !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        error(*n,
              "'" + std::string(key) + "' entries must be strings of digits (quote them: \"011\")");
        ok = false;
      }
      out.push_back(s);
    }
    if (!ok) return std::nullopt;
    return out;
  }

  std::optional<std::vector<NumberPattern>> patterns(const toml::table& t,
                                                     std::string_view key) const {
    auto nodes = strings(t, key);
    if (!nodes) return std::nullopt;
    std::vector<NumberPattern> out;
    bool ok = true;
    for (const toml::node* n : *nodes) {
      std::string err;
      auto p = parse_number_pattern(*n->value<std::string>(), err);
      if (!p) {
        error(*n, err);
        ok = false;
        continue;
      }
      out.push_back(*p);
    }
    if (!ok) return std::nullopt;
    return out;
  }

  std::optional<ClassSet> classes(const toml::table& t, std::string_view key) const {
    auto nodes = strings(t, key);
    if (!nodes) return std::nullopt;
    ClassSet out;
    bool ok = true;
    for (const toml::node* n : *nodes) {
      const std::string s = *n->value<std::string>();
      if (auto c = parse_number_class(s)) {
        out.add(*c);
      } else {
        error(*n, "unknown class '" + s +
                      "' (emergency, high_risk, premium, international, toll_free, national, "
                      "local, unknown)");
        ok = false;
      }
    }
    if (!ok) return std::nullopt;
    return out;
  }

  // { warning = N, critical = M } over `levels` (keys that are missing keep their value).
  void levels(const toml::node& n, std::string_view what, Levels& levels) const {
    const toml::table* t = n.as_table();
    if (!t) {
      error(n, "'" + std::string(what) + "' must be a table { warning = N, critical = M }");
      return;
    }
    only_keys(*t, what, {"warning", "critical"});
    Levels l = levels;
    if (auto v = integer(*t, "warning", 0, 1'000'000)) l.warning = *v;
    if (auto v = integer(*t, "critical", 0, 1'000'000)) l.critical = *v;
    if (l.warning > 0 && l.critical > 0 && l.warning > l.critical) {
      error(n, "'" + std::string(what) + "': warning (" + std::to_string(l.warning) +
                   ") must not be above critical (" + std::to_string(l.critical) + ")");
      return;
    }
    levels = l;
  }

  // warning/critical keys inline in a detector table.
  void inline_levels(const toml::table& t, std::string_view what, Levels& levels) const {
    Levels l = levels;
    if (auto v = integer(t, "warning", 0, 1'000'000)) l.warning = *v;
    if (auto v = integer(t, "critical", 0, 1'000'000)) l.critical = *v;
    if (l.warning > 0 && l.critical > 0 && l.warning > l.critical) {
      error(t, "'" + std::string(what) + "': warning (" + std::to_string(l.warning) +
                   ") must not be above critical (" + std::to_string(l.critical) + ")");
      return;
    }
    levels = l;
  }

  void class_levels(const toml::table& parent, std::string_view key, std::string_view what,
                    ClassLevels& out) const {
    const toml::table* t = table(parent, key, what);
    if (!t) return;
    for (auto&& [k, v] : *t) {
      auto c = parse_number_class(k.str());
      if (!c) {
        error(k.source(), "unknown class '" + std::string(k.str()) + "' in " + std::string(what) +
                              " (emergency, high_risk, premium, international, toll_free, "
                              "national, local, unknown)");
        continue;
      }
      Levels l = out.find(*c) ? *out.find(*c) : Levels{};
      levels(v, std::string(what) + "." + std::string(k.str()), l);
      out.set(*c, l);
    }
  }

 private:
  std::string source_;
  std::vector<std::string>& errors_;
  std::vector<std::string>* warnings_;
};

}  // namespace tw::rules::config_detail
