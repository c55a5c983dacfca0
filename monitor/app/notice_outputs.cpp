#include "monitor/app/notice_outputs.hpp"

namespace tw::app {

void JsonNoticeWriter::on_notice(const rules::Notice& n) {
  out_.write(rules::to_json_line(n));
}

log::Fields notice_fields(const rules::Notice& n) {
  log::Fields f;
  f.emplace_back("category", std::string(rules::to_string(n.category)));
  f.emplace_back("severity", std::string(rules::to_string(n.severity)));
  f.emplace_back("identifier", n.identifier);
  f.emplace_back("rule", n.rule);
  std::string actions;
  for (const std::string& a : n.actions) actions += (actions.empty() ? "" : ",") + a;
  f.emplace_back("actions", actions);
  f.emplace_back("span", std::to_string(n.call.span));
  if (n.call.channel) f.emplace_back("channel", std::to_string(*n.call.channel));
  if (n.call.start) f.emplace_back("start", hal::format_time(*n.call.start));
  if (!n.call.calling.empty()) f.emplace_back("calling", n.call.calling);
  if (!n.call.called.empty()) f.emplace_back("called", n.call.called);
  if (n.repeats) f.emplace_back("repeats", std::to_string(n.repeats));
  return f;
}

void LogNotices::on_notice(const rules::Notice& n) {
  using boost::log::trivial::severity_level;
  const severity_level level = n.severity == rules::Severity::Critical  ? severity_level::error
                               : n.severity == rules::Severity::Warning ? severity_level::warning
                                                                        : severity_level::info;
  log::write(level, "notice " + rules::format_notice_line(n), notice_fields(n));
}

void LogNotices::on_digest(const rules::Digest& d) {
  std::uint64_t total = 0;
  for (const auto& [category, count] : d.counts) total += count;
  log::write(boost::log::trivial::info,
             "digest of " + std::to_string(total) + " notice(s) from " + hal::format_time(d.from) +
                 " to " + hal::format_time(d.to),
             {{"digest_notices", std::to_string(total)}});
}

NoticeOutputs::~NoticeOutputs() {
  if (mail_notices_) mail_notices_->flush();  // a summary still owed goes to the spool
  if (mail_queue_) mail_queue_->stop();
}

std::string NoticeOutputs::open(const Options& options, const rules::EmailSettings& email) {
  if (!options.alerts_json.empty()) {
    const auto mode = options.append ? OutputStream::Mode::Append : OutputStream::Mode::Truncate;
    if (auto err = json_out_.open(options.alerts_json, mode); !err.empty()) return err;
    json_ = std::make_unique<JsonNoticeWriter>(json_out_.stream());
    fanout_.add(*json_);
  }
  if (options.log) fanout_.add(log_);
  if (options.mail && email.enabled()) {
    std::string error;
    auto transport = rules::make_mail_transport(email, error);
    if (!transport) return "email: " + error;
    mail_queue_ = std::make_unique<rules::MailQueue>(email, std::move(transport));
    if (auto err = mail_queue_->start(); !err.empty()) return "email spool: " + err;
    mail_notices_ = std::make_unique<rules::MailNotices>(*mail_queue_, email);
    fanout_.add(*mail_notices_);
  }
  return "";
}

}  // namespace tw::app
