// The daemon's control socket: a Unix stream socket, one request line in ("status",
// "calls", "reload", "hangup 1:5"), one JSON document out, then the daemon closes. Served
// without blocking from the daemon's own loop (poll with no wait), so a slow or silent client
// can never stall call processing: requests must arrive within a second, and at most
// kMaxClients are served at once.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace tw::daemon {

class ControlServer {
 public:
  // Answers one request line (without the newline) with the reply text.
  using Handler = std::function<std::string(const std::string& request)>;
  static constexpr std::size_t kMaxClients = 16;
  static constexpr std::size_t kMaxRequest = 256;

  explicit ControlServer(Handler handler) : handler_(std::move(handler)) {}
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Binds `path` (a stale socket file left by a crash is replaced; a live one is an error),
  // mode 0660. Returns an error message or "".
  std::string open(const std::string& path);
  // Accepts, reads, answers, closes; never blocks.
  void service();
  const std::string& path() const { return path_; }

 private:
  struct Client {
    int fd = -1;
    std::string in;
    std::string out;
    std::size_t sent = 0;
    std::chrono::steady_clock::time_point deadline;
  };
  void close_client(Client& c);

  Handler handler_;
  int listen_fd_ = -1;
  std::string path_;
  std::vector<Client> clients_;
};

// Client side: sends `request`, returns the reply, or sets `error`.
std::string control_request(const std::string& path, const std::string& request, std::string& error,
                            std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace tw::daemon
