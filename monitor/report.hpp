// The call records reviewed as an admin would: volumes, destinations, the odd ones out.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "monitor/calls/call_record.hpp"

namespace tw {

enum class ReportFormat : std::uint8_t { Text, Csv, Json };

struct ReportOptions {
  std::size_t top = 10;
  ReportFormat format = ReportFormat::Text;
  // The site calendar, as the command has it (monitor knows nothing of rules): whether a call
  // started outside business hours, and how a time reads in the site's zone. Empty: the
  // built-in hours below, in UTC, and times in RFC 3339 UTC.
  std::function<bool(calls::Timestamp)> outside_hours;
  std::function<std::string(calls::Timestamp)> local_time;
  // How the text report names the business hours.
  std::string hours_label = "Mon-Fri 8:00-18:00 UTC";
  // The built-in business hours: Monday to Friday, [open_hour, close_hour) UTC.
  int open_hour = 8;
  int close_hour = 18;
};

// Q.850 cause name ("normal call clearing"), or "" when not one of the common ones.
std::string_view cause_name(int cause);
// Dialed with an international prefix (011, 00, +) and not to NANP (+1).
bool looks_international(std::string_view called);
// The built-in hours (open_hour, close_hour, Mon-Fri, UTC).
bool is_after_hours(calls::Timestamp t, const ReportOptions& options);

// Text read back from a record store, made safe for a terminal, a CSV cell or JSON: printable
// ASCII is kept as it is (so text the tracker already sanitized reads the same), every other
// byte becomes "\xNN" as calls::sanitize_wire_text writes it.
std::string printable(std::string_view stored);

// The report in options.format: text for a terminal, CSV (RFC 4180: a header row, then
// section,key,field,value rows, CRLF line ends) or one JSON document.
std::string render_report(const std::vector<calls::CallRecord>& records,
                          const ReportOptions& options);

}  // namespace tw
