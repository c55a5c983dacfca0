// Notices in the log: through Boost.Log to a real syslog datagram socket on loopback, with
// the structured fields; the journal field names; the JSON line writer.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "monitor/app/notice_outputs.hpp"
#include "monitor/log.hpp"

namespace tw {
namespace {

rules::Notice sample_notice() {
  rules::Notice n;
  n.time = *hal::parse_time("2027-01-05T09:35:22Z");
  n.category = rules::Category::ThroughDial;
  n.severity = rules::Severity::Critical;
  n.identifier = "through_dial:span2:2125550199:critical";
  n.rule = "through-dial";
  n.actions = {"alert", "would_hangup"};
  n.call.span = 1;
  n.call.channel = 2;
  n.call.start = n.time;
  // A hostile calling "number" as the decoder hands it on (sanitized: \xNN for bytes).
  n.call.calling = "12\"] x=\"y";
  n.call.called = "0112526123456";
  n.message = "outbound call to 0112526123456 while the DISA call was up";
  return n;
}

// A UDP socket on 127.0.0.1 with a kernel-chosen port.
struct UdpListener {
  int fd = -1;
  int port = 0;
  UdpListener() {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~UdpListener() { ::close(fd); }
  std::string receive() {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) return "";
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
  }
};

TEST(NoticeLog, SyslogDatagramCarriesPriorityAndStructuredFields) {
  UdpListener syslog;
  ASSERT_GT(syslog.port, 0);
  ASSERT_EQ(log::init(log::Options{.target = log::Target::Syslog,
                                   .min_level = "info",
                                   .syslog_server = "127.0.0.1:" + std::to_string(syslog.port)}),
            "");
  app::LogNotices sink;
  sink.on_notice(sample_notice());
  const std::string d = syslog.receive();
  // Facility daemon (3), a critical notice logs as error (3): PRI 3 * 8 + 3.
  EXPECT_EQ(d.rfind("<27>", 0), 0u) << d;
  EXPECT_NE(d.find("[trunkwatch@32473 category=\"through_dial\" severity=\"critical\" "
                   "identifier=\"through_dial:span2:2125550199:critical\" rule=\"through-dial\" "
                   "actions=\"alert,would_hangup\" span=\"1\" channel=\"2\""),
            std::string::npos)
      << d;
  // The hostile value cannot close the structured data early or add a parameter.
  EXPECT_NE(d.find("calling=\"12\\\"\\] x=\\\"y\""), std::string::npos) << d;
  EXPECT_NE(d.find("notice 2027-01-05T09:35:22.000Z critical through_dial"), std::string::npos)
      << d;

  rules::Notice w = sample_notice();
  w.severity = rules::Severity::Warning;
  sink.on_notice(w);
  EXPECT_EQ(syslog.receive().rfind("<28>", 0), 0u);  // daemon.warning

  // Below the level: nothing is sent.
  ASSERT_EQ(log::init(log::Options{.target = log::Target::Syslog,
                                   .min_level = "error",
                                   .syslog_server = "127.0.0.1:" + std::to_string(syslog.port)}),
            "");
  rules::Notice info = sample_notice();
  info.severity = rules::Severity::Info;
  sink.on_notice(info);
  sink.on_notice(sample_notice());
  EXPECT_EQ(syslog.receive().rfind("<27>", 0), 0u) << "the info notice was filtered out";
  log::init(log::Target::Stderr, "warning");
}

TEST(NoticeLog, BadSyslogServerIsAnError) {
  EXPECT_NE(log::init(log::Options{.target = log::Target::Syslog,
                                   .min_level = "info",
                                   .syslog_server = "localhost:notaport"}),
            "");
  EXPECT_NE(log::init(log::Options{
                .target = log::Target::Syslog, .min_level = "info", .syslog_server = ":514"}),
            "");
  log::init(log::Target::Stderr, "warning");
}

TEST(NoticeLog, JournalFieldsAreUpperCasePrefixedAndKeepValues) {
  const auto f = log::journal_fields(app::notice_fields(sample_notice()));
  ASSERT_GE(f.size(), 8u);
  EXPECT_EQ(f[0], "TRUNKWATCH_CATEGORY=through_dial");
  EXPECT_EQ(f[1], "TRUNKWATCH_SEVERITY=critical");
  EXPECT_NE(std::find(f.begin(), f.end(), "TRUNKWATCH_CALLING=12\"] x=\"y"), f.end());
  EXPECT_NE(std::find(f.begin(), f.end(), "TRUNKWATCH_CHANNEL=2"), f.end());
  // A field name is never taken from the value: nothing but letters, digits and '_'.
  const auto odd = log::journal_fields({{"a-b=c\n", "v"}});
  EXPECT_EQ(odd.front(), "TRUNKWATCH_ABC=v");
}

TEST(NoticeLog, JsonWriterOneObjectPerLine) {
  std::ostringstream out;
  app::JsonNoticeWriter w(out);
  w.on_notice(sample_notice());
  w.on_notice(sample_notice());
  std::istringstream in(out.str());
  int n = 0;
  for (std::string line; std::getline(in, line); ++n) {
    const auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j.at("category"), "through_dial");
    EXPECT_EQ(j.at("calling"), "12\"] x=\"y");
    EXPECT_EQ(j.at("actions"), nlohmann::json::array({"alert", "would_hangup"}));
  }
  EXPECT_EQ(n, 2);
}

}  // namespace
}  // namespace tw
