// The call records reviewed as an admin would: volumes, destinations, the odd ones out.
#pragma once

#include <string>
#include <vector>

#include "monitor/calls/call_record.hpp"

namespace tw {

struct ReportOptions {
  std::size_t top = 10;
  // Business hours for the after-hours count, in UTC until the site calendar (rules) lands:
  // Monday to Friday, [open_hour, close_hour).
  int open_hour = 8;
  int close_hour = 18;
};

// Q.850 cause name ("normal call clearing"), or "" when not one of the common ones.
std::string_view cause_name(int cause);
// Dialed with an international prefix (011, 00, +) and not to NANP (+1).
bool looks_international(std::string_view called);
bool is_after_hours(calls::Timestamp t, const ReportOptions& options);

std::string render_report(const std::vector<calls::CallRecord>& records,
                          const ReportOptions& options);

}  // namespace tw
