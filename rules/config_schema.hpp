// One declaration per configuration key (rules/config_schema.cpp): its dotted path, type,
// range or allowed words, help line, default (read from the settings structs of
// rules/config.hpp, so it is written once) and how it is read. That table drives the reading
// of the file, unknown-key errors, --set, `check-config --keys` and the key tables of
// docs/config.md. Private to rules/config*.cpp.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rules/config.hpp"
#include "rules/config_reader.hpp"

namespace tw::rules::config_detail {

// What a load builds besides the Config: read by the keys, used once the file is read.
struct Loading {
  Config& c;
  NumberingPlan plan;
  std::vector<Holiday> holidays;
  std::optional<WeeklyHours> business_hours;
  std::optional<std::string> high_risk_file;
  const toml::node* high_risk_node = nullptr;
  explicit Loading(Config& config) : c(config), business_hours(config.calendar.business_hours()) {}
};

// How --set turns a value into TOML, and the type --keys shows.
enum class KeyType { Bool, Integer, Number, String, Choice, StringList };

struct Setting;
using ReadFn = void (*)(const Reader&, const Setting&, const toml::node&, Loading&);
using DefaultFn = std::string (*)();

struct Setting {
  // Dotted; '#' is an index into an array of tables ([[policy]] entries, counted from 0),
  // '*' any name (a number class).
  std::string_view path = {};
  KeyType type = KeyType::String;
  std::string_view what = {};  // unit or format: "seconds", "path", "classes"
  std::string_view help = {};
  double min = 0, max = 0;                       // Integer, Number
  std::span<const std::string_view> words = {};  // Choice
  // Reads the key's value into the Loading, reporting errors through the Reader. Null: the
  // key is read by hand-written code (the [[...]] tables, the levels tables) that takes its
  // known keys from this table.
  ReadFn read = nullptr;
  DefaultFn show_default = nullptr;    // the default as TOML text
  std::string_view default_text = {};  // when the default is not a value ("required")
  // The value in a loaded Config as TOML text (keys whose value is kept in the Config as read).
  std::string (*show_value)(const Config&) = nullptr;

  std::string key() const { return std::string(path.substr(path.rfind('.') + 1)); }
  std::string default_shown() const;
  std::string range_shown() const;  // "0-86400", "\"try\", \"required\", \"none\"", or ""
};

std::span<const Setting> settings();
// The declaration matching a dotted path ("policy.2.action" matches "policy.#.action").
const Setting* find_setting(std::string_view dotted);
// The names allowed in the table at `prefix` ("" = the top level), in declaration order.
std::vector<std::string_view> known_keys(std::string_view prefix);

// Reads the table at `prefix` by the declarations: unknown keys, then each declared key's
// read function; sub-tables likewise, except those whose keys have no read function (left to
// the hand-written readers). `what` names the table in unknown-key errors.
void read_table(const Reader& r, const toml::table& t, std::string_view prefix, Loading& l);

// Warnings for values that are valid but probably not meant (config.cpp).
void warn_overlapping_hours(const Reader& r, const toml::node& n, std::string_view key,
                            const WeeklyHours& hours);
void warn_unusable_program(const Reader& r, const toml::node& n, const std::string& program);

}  // namespace tw::rules::config_detail
