// The daemon's control socket: a Unix stream socket, one request line in ("status",
// "calls", "reload", "hangup 1:5"), one JSON document out, then the daemon closes. Served
// without blocking from the daemon's own loop (poll with no wait), so a slow or silent client
// can never stall call processing. Idle clients cannot starve it either: a request line must
// arrive within kIdleTimeout, one client process (SO_PEERCRED pid) holds at most kMaxPerPeer
// connections and all together at most kMaxClients. A new connection beyond its process's
// limit takes the place of that process's oldest idle one; beyond the total, the oldest idle
// one of the process holding the most. So a process flooding the socket only ever pushes out
// its own connections, and another client's request is heard.
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
  static constexpr std::size_t kMaxClients = 32;
  static constexpr std::size_t kMaxPerPeer = 4;
  static constexpr std::chrono::milliseconds kIdleTimeout{500};
  static constexpr std::size_t kMaxRequest = 256;

  explicit ControlServer(Handler handler) : handler_(std::move(handler)) {}
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Binds `path` (a stale socket file left by a crash is replaced; a live one is an error,
  // and so is anything that is not a socket: it is left as it is), mode 0660. Returns an
  // error message or "". The file is removed at the end only if it is still the one bound.
  std::string open(const std::string& path);
  // Accepts, reads, answers, closes; never blocks.
  void service();
  const std::string& path() const { return path_; }

 private:
  struct Client {
    int fd = -1;
    int pid = 0;  // the peer process, from SO_PEERCRED
    std::string in;
    std::string out;
    std::size_t sent = 0;
    std::chrono::steady_clock::time_point accepted;
    std::chrono::steady_clock::time_point deadline;
  };
  void close_client(Client& c);
  void accept_clients(std::chrono::steady_clock::time_point now);
  // Reads what the client sent; answers once a line (or EOF, or too much) is in.
  void read_request(Client& c, std::chrono::steady_clock::time_point now);
  // Closes the oldest client of process `pid` still without a request; false if none.
  bool evict_idle(int pid);

  Handler handler_;
  int listen_fd_ = -1;
  std::string path_;
  unsigned long bound_dev_ = 0, bound_ino_ = 0;  // the socket file we made
  std::vector<Client> clients_;
};

// An exclusive flock on DIR/trunkwatch.lock, held while the object lives: one daemon per
// records folder and mail spool. The holder's pid is written into the file so that a second
// daemon can name it.
class DirLock {
 public:
  DirLock() = default;
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  // Creates DIR if needed. An error names the holder's pid when another process holds it.
  std::string acquire(const std::string& dir, const std::string& what);
  const std::string& dir() const { return dir_; }

 private:
  int fd_ = -1;
  std::string dir_;
};

// Client side: sends `request`, returns the reply, or sets `error`.
std::string control_request(const std::string& path, const std::string& request, std::string& error,
                            std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace tw::daemon
