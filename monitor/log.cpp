// Debian builds Boost.Log with the native syslog backend; the header needs telling.
#ifndef BOOST_LOG_USE_NATIVE_SYSLOG
#define BOOST_LOG_USE_NATIVE_SYSLOG
#endif
#include "monitor/log.hpp"

#include <boost/log/core.hpp>
#include <boost/log/expressions.hpp>
#include <boost/log/sinks/syslog_backend.hpp>
#include <boost/log/utility/setup/common_attributes.hpp>
#include <boost/log/utility/setup/console.hpp>
#include <cstring>

namespace tw::log {

namespace logging = boost::log;
namespace sinks = boost::log::sinks;
namespace expr = boost::log::expressions;

void init(Target target, const char* min_level) {
  using logging::trivial::severity_level;
  severity_level level = severity_level::warning;
  for (auto [name, value] : {std::pair{"trace", severity_level::trace},
                             {"debug", severity_level::debug},
                             {"info", severity_level::info},
                             {"warning", severity_level::warning},
                             {"error", severity_level::error}})
    if (std::strcmp(min_level, name) == 0) level = value;

  auto core = logging::core::get();
  core->remove_all_sinks();
  logging::add_common_attributes();
  core->set_filter(logging::trivial::severity >= level);
  if (target == Target::Syslog) {
    using backend_t = sinks::syslog_backend;
    auto backend =
        boost::make_shared<backend_t>(logging::keywords::facility = sinks::syslog::daemon,
                                      logging::keywords::use_impl = sinks::syslog::native);
    sinks::syslog::custom_severity_mapping<severity_level> mapping("Severity");
    mapping[severity_level::trace] = sinks::syslog::debug;
    mapping[severity_level::debug] = sinks::syslog::debug;
    mapping[severity_level::info] = sinks::syslog::info;
    mapping[severity_level::warning] = sinks::syslog::warning;
    mapping[severity_level::error] = sinks::syslog::error;
    mapping[severity_level::fatal] = sinks::syslog::critical;
    backend->set_severity_mapper(mapping);
    auto sink = boost::make_shared<sinks::synchronous_sink<backend_t>>(backend);
    sink->set_formatter(expr::stream << "trunkwatch: " << expr::smessage);
    core->add_sink(sink);
  } else {
    logging::add_console_log(
        std::clog,
        logging::keywords::format = (expr::stream << "trunkwatch: " << logging::trivial::severity
                                                  << ": " << expr::smessage));
  }
}

}  // namespace tw::log
