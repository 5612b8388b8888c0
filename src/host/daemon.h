// utpmd's I/O: one single-threaded poll() loop serving every channel. Each channel serves one
// peer at a time; other peers wait in the listen backlog (the TPM executes one command at a
// time anyway, and tpm2-tools connect, run one tool and disconnect).
//
// Channels:
//   mssim    TCP command port + platform port (port+1)          -> MssimCommandSession /
//                                                                  MssimPlatformSession
//   pty      a pseudo-terminal whose slave is raw and symlinked -> LinkStreamSession
//   unix     a unix stream socket                               -> LinkStreamSession
// (LinkStreamSession: raw TPM stream, mssim or legacy 'Tpm2' frames, autodetected per frame.)
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "host/engine_link.h"
#include "host/session.h"

namespace utpm::host {

class Daemon {
 public:
  Daemon(EngineLink& engine, size_t max_command_size, uint32_t stall_timeout_ms,
         std::FILE* log, bool trace);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Each returns false and sets `error` on failure.
  bool add_mssim(const std::string& host, uint16_t port, std::string& error);
  bool add_pty(const std::string& link, std::string& error);
  bool add_unix(const std::string& path, std::string& error);

  // The slave path of the pty (for messages), empty without a pty.
  const std::string& pty_slave() const { return pty_slave_; }

  // Serves until a signal arrives on `signal_fd` (a signalfd) or a peer sends mssim STOP.
  // Returns after the command in progress has been answered. Returns 0, or 1 on a fatal error.
  int run(int signal_fd);

 private:
  struct Endpoint {
    const char* name = "";
    int listen_fd = -1;         // socket channels
    int io_fd = -1;             // the connected peer, or the pty master
    bool tcp = false;
    bool pty = false;
    std::function<std::unique_ptr<Session>()> make_session;
    std::unique_ptr<Session> session;
    std::vector<uint8_t> out;   // bytes not yet written
    bool close_after_flush = false;
  };

  bool listen_tcp(const std::string& host, uint16_t port, int& fd, std::string& error);
  void accept_peer(Endpoint& ep);
  void close_peer(Endpoint& ep, const char* why);
  // Returns false if the daemon must stop.
  bool service_input(Endpoint& ep);
  void flush_output(Endpoint& ep);
  void cleanup();

  EngineLink& engine_;
  size_t max_command_size_;
  uint32_t stall_timeout_ms_;
  std::FILE* log_;
  bool trace_;
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
  void drain_pty_peer_events();

  int pty_slave_fd_ = -1;
  int pty_watch_fd_ = -1;  // inotify on the slave: tells when a client opens or closes it
  Endpoint* pty_endpoint_ = nullptr;
  std::string pty_slave_;
  std::string pty_link_;
  std::string unix_path_;
  bool stop_ = false;
};

}  // namespace utpm::host
