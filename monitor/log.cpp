// Debian builds Boost.Log with the native syslog backend; the header needs telling.
#ifndef BOOST_LOG_USE_NATIVE_SYSLOG
#define BOOST_LOG_USE_NATIVE_SYSLOG
#endif
#include "monitor/log.hpp"

#include <sys/uio.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

#include <boost/log/attributes/value_extraction.hpp>
#include <boost/log/core.hpp>
#include <boost/log/expressions.hpp>
#include <boost/log/sinks/basic_sink_backend.hpp>
#include <boost/log/sinks/sync_frontend.hpp>
#include <boost/log/sinks/syslog_backend.hpp>
#include <boost/log/sources/severity_logger.hpp>
#include <boost/log/utility/manipulators/add_value.hpp>
#include <boost/log/utility/setup/common_attributes.hpp>
#include <boost/log/utility/setup/console.hpp>
#include <cstdlib>
#include <cstring>
#include <exception>

namespace tw::log {

namespace logging = boost::log;
namespace sinks = boost::log::sinks;
namespace expr = boost::log::expressions;
using logging::trivial::severity_level;

namespace {

constexpr const char* kFieldsAttribute = "TwFields";

const Fields* fields_of(const logging::record_view& rec) {
  if (auto v = logging::extract<Fields>(kFieldsAttribute, rec)) return &v.get();
  return nullptr;
}

int syslog_priority(severity_level s) {
  switch (s) {
    case severity_level::trace:
    case severity_level::debug:
      return LOG_DEBUG;
    case severity_level::info:
      return LOG_INFO;
    case severity_level::warning:
      return LOG_WARNING;
    case severity_level::error:
      return LOG_ERR;
    case severity_level::fatal:
      return LOG_CRIT;
  }
  return LOG_NOTICE;
}

// Sends each record to the journal: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER and the fields.
class JournalBackend final : public sinks::basic_sink_backend<
                                 sinks::combine_requirements<sinks::synchronized_feeding>::type> {
 public:
  void consume(const logging::record_view& rec) {
    std::vector<std::string> items;
    std::string message = "MESSAGE=";
    if (auto m = logging::extract<std::string>("Message", rec)) message += m.get();
    items.push_back(std::move(message));
    const auto sev = logging::extract<severity_level>("Severity", rec);
    items.push_back("PRIORITY=" +
                    std::to_string(syslog_priority(sev ? sev.get() : severity_level::info)));
    items.emplace_back("SYSLOG_IDENTIFIER=trunkwatch");
    if (const Fields* f = fields_of(rec))
      for (std::string& j : journal_fields(*f)) items.push_back(std::move(j));
    std::vector<iovec> iov;
    iov.reserve(items.size());
    for (std::string& i : items) iov.push_back(iovec{i.data(), i.size()});
    // A journal that is gone cannot be reported anywhere better; the record is dropped.
    (void)sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
  }
};

severity_level parse_level(const std::string& name) {
  for (auto [n, value] : {std::pair{"trace", severity_level::trace},
                          {"debug", severity_level::debug},
                          {"info", severity_level::info},
                          {"warning", severity_level::warning},
                          {"error", severity_level::error}})
    if (name == n) return value;
  return severity_level::warning;
}

}  // namespace

std::string structured_data(const Fields& fields) {
  if (fields.empty()) return "";
  // 32473 is the enterprise number RFC 5612 sets aside for documentation and examples;
  // a private SD-ID needs one, and trunkwatch has none of its own.
  std::string out = "[trunkwatch@32473";
  for (const auto& [name, value] : fields) {
    out += ' ';
    out += name;
    out += "=\"";
    for (char c : value) {
      if (c == '"' || c == '\\' || c == ']') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += ']';
  return out;
}

std::vector<std::string> journal_fields(const Fields& fields) {
  std::vector<std::string> out;
  out.reserve(fields.size());
  for (const auto& [name, value] : fields) {
    std::string f = "TRUNKWATCH_";
    for (char c : name) {
      if (c >= 'a' && c <= 'z')
        f += static_cast<char>(c - 32);
      else if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || c == '_')
        f += c;
    }
    f += '=';
    f += value;
    out.push_back(std::move(f));
  }
  return out;
}

bool stderr_is_journal() {
  // systemd sets JOURNAL_STREAM to "DEV:INODE" of the stream it connected stderr to.
  return std::getenv("JOURNAL_STREAM") != nullptr;
}

void write(severity_level severity, std::string_view message, const Fields& fields) {
  logging::sources::severity_logger<severity_level> logger;
  BOOST_LOG_SEV(logger, severity) << logging::add_value(kFieldsAttribute, fields) << message;
}

std::string init(const Options& options) {
  const severity_level level = parse_level(options.min_level);
  auto core = logging::core::get();
  core->remove_all_sinks();
  logging::add_common_attributes();
  core->set_filter(logging::trivial::severity >= level);
  switch (options.target) {
    case Target::Syslog: {
      using backend_t = sinks::syslog_backend;
      boost::shared_ptr<backend_t> backend;
      if (options.syslog_server.empty()) {
        backend =
            boost::make_shared<backend_t>(logging::keywords::facility = sinks::syslog::daemon,
                                          logging::keywords::use_impl = sinks::syslog::native);
      } else {
        const auto colon = options.syslog_server.rfind(':');
        const std::string host = colon == std::string::npos
                                     ? options.syslog_server
                                     : options.syslog_server.substr(0, colon);
        const std::string port_text =
            colon == std::string::npos ? "514" : options.syslog_server.substr(colon + 1);
        char* end = nullptr;
        const long port = std::strtol(port_text.c_str(), &end, 10);
        if (host.empty() || end == port_text.c_str() || *end != '\0' || port < 1 || port > 65535)
          return "syslog server '" + options.syslog_server + "' is not HOST:PORT";
        try {
          backend = boost::make_shared<backend_t>(
              logging::keywords::facility = sinks::syslog::daemon,
              logging::keywords::use_impl = sinks::syslog::udp_socket_based);
          backend->set_target_address(host, static_cast<unsigned short>(port));
        } catch (const std::exception& e) {
          return "syslog server '" + options.syslog_server + "': " + e.what();
        }
      }
      sinks::syslog::custom_severity_mapping<severity_level> mapping("Severity");
      mapping[severity_level::trace] = sinks::syslog::debug;
      mapping[severity_level::debug] = sinks::syslog::debug;
      mapping[severity_level::info] = sinks::syslog::info;
      mapping[severity_level::warning] = sinks::syslog::warning;
      mapping[severity_level::error] = sinks::syslog::error;
      mapping[severity_level::fatal] = sinks::syslog::critical;
      backend->set_severity_mapper(mapping);
      auto sink = boost::make_shared<sinks::synchronous_sink<backend_t>>(backend);
      sink->set_formatter([](const logging::record_view& rec, logging::formatting_ostream& out) {
        out << "trunkwatch: ";
        if (const Fields* f = fields_of(rec)) out << structured_data(*f) << ' ';
        if (auto m = logging::extract<std::string>("Message", rec)) out << m.get();
      });
      core->add_sink(sink);
      break;
    }
    case Target::Journal:
      core->add_sink(boost::make_shared<sinks::synchronous_sink<JournalBackend>>());
      break;
    case Target::Stderr:
      logging::add_console_log(
          std::clog,
          logging::keywords::format = (expr::stream << "trunkwatch: " << logging::trivial::severity
                                                    << ": " << expr::smessage));
      break;
  }
  return "";
}

}  // namespace tw::log
