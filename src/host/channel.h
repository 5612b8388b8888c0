// A channel is one transport utpmd serves: where peers come from (a listener, or the pty that is
// always there), how bytes move (read/write never block) and what a peer leaving looks like.
// The daemon's poll loop (daemon.cc) knows only this interface; everything particular to a
// transport lives in its implementation:
//
//   TcpChannel   TCP listener + one peer; TCP_NODELAY, TCP_QUICKACK re-armed after a read that
//                left a frame incomplete (expect_more_input)
//   UnixChannel  unix stream listener + one peer; receives fds (SCM_RIGHTS) with the bytes
//   (either may instead spawn a channel per peer: set_spawns_peers(), accept_connection())
//   PtyChannel   a pty whose raw slave the daemon holds open and symlinks; always "connected";
//                a client opening or closing the slave is a new peer (inotify), stale bytes in
//                either direction are flushed; read/write errors never close it
//
// A channel serves one peer at a time; others wait in the listen backlog -- unless it spawns a
// channel per peer (utpmd's mssim and unix listeners do), so that clients are served at once. Output is queued
// in the channel: write() sends what the peer takes now, the rest goes out on POLLOUT, and a
// socket channel asks for no input while a reply is still queued (one reply at a time).
//
// Protocol logic is not here: a Session (session.h) turns the bytes into commands and replies.
#pragma once

#include <poll.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace utpm::host {

// State shared by the channels that make up one TPM connection, e.g. the mssim command and
// platform ports (later swtpm's data and control channels): what one channel sets, commands on
// the other use.
struct ConnectionState {
  // Locality for commands whose framing carries none (the raw TPM stream). mssim and legacy
  // frames carry their own.
  uint8_t locality = 0;
};

class Channel {
 public:
  enum class Io : uint8_t {
    ok,        // read: n > 0 bytes arrived; write: queued (and sent as far as possible)
    again,     // read: nothing now
    closed,    // the peer is gone (EOF or error): the channel has no peer any more
    new_peer,  // read: another client took over the channel before any further byte; the
               // session must forget partial input. No bytes were read: read again.
  };
  // What on_poll() found.
  struct Ready {
    bool connected = false;  // a peer was accepted: it needs a new session
    bool readable = false;   // read() has something to report (bytes, EOF or a new peer)
  };

  Channel(const char* name, std::shared_ptr<ConnectionState> state);
  virtual ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  const char* name() const { return name_; }
  ConnectionState& state() { return *state_; }
  const std::shared_ptr<ConnectionState>& shared_state() const { return state_; }

  // ---- poll integration ----
  // Appends the descriptors to poll now (the listener while there is no peer; the peer with
  // POLLIN while input is wanted and POLLOUT while output is queued; watch descriptors).
  // Returns how many it appended.
  virtual size_t poll_fds(std::vector<pollfd>& fds) const;
  // Handles the revents of exactly those descriptors, in order: accepts a waiting peer, writes
  // queued output. Reports what the session side must see.
  virtual Ready on_poll(std::span<const pollfd> fds);

  // ---- the peer ----
  virtual bool connected() const { return peer_fd_ >= 0; }
  // Takes a waiting peer from the listen backlog. False if there is none, no listener, or a
  // peer is already connected (or the channel spawns its peers, see set_spawns_peers()).
  virtual bool accept();

  // ---- several clients at once ----
  // A listener that spawns: every peer becomes a channel of its own (accept_connection()), so
  // any number of clients are connected at once; this channel then only listens, on_poll()
  // reports `connected` while a peer waits in the backlog and never accepts it itself.
  void set_spawns_peers() { spawns_ = true; }
  bool spawns_peers() const { return spawns_; }
  // Accepts one waiting peer as a new connected channel of the same transport (no listener,
  // a fresh ConnectionState); nullptr if none waits or this transport cannot (the pty).
  std::unique_ptr<Channel> accept_connection();
  // Reads what is there, never blocks.
  virtual Io read(std::span<uint8_t> buf, size_t& n);
  // The bytes read so far end inside a frame: the peer is sending more before it waits for a
  // reply. TCP: acknowledge them now (TCP_QUICKACK) -- a client with Nagle on would otherwise
  // hold the rest of its frame until our delayed ACK (~40 ms). Not needed after a read that
  // completed a frame: the reply carries the ACK.
  virtual void expect_more_input() {}
  // Queues `bytes` and sends what the peer takes now, never blocks; the rest goes out on
  // POLLOUT. Returns closed if that lost the peer.
  Io write(std::span<const uint8_t> bytes);
  bool output_pending() const { return !out_.empty(); }
  // Drops queued output, and for the pty also what is still queued toward the client: output
  // meant for a client that is gone.
  virtual void discard_output() { out_.clear(); }
  // Closes the peer now (queued output is dropped), or once its queued output is written.
  virtual void close_peer(const char* reason);
  void close_after_flush();
  // Why the last peer went away ("disconnected", "lost (read error)", ...), for the trace.
  const char* close_reason() const { return close_reason_; }

  // ---- file descriptor hand-off (swtpm's CMD_SET_DATAFD) ----
  // Serves `fd`, an already connected stream socket, as this channel's peer (replacing the
  // current one, whose queued output is dropped). Takes ownership. False if this transport
  // cannot serve a socket (the pty).
  virtual bool adopt(int fd);
  // A descriptor that arrived with the bytes of earlier reads (SCM_RIGHTS), oldest first, or
  // -1. The caller owns it. Only unix sockets carry them.
  int take_received_fd();

 protected:
  // Transport hooks; the defaults suit connected stream sockets.
  virtual ssize_t read_some(std::span<uint8_t> buf);
  virtual ssize_t write_some(std::span<const uint8_t> bytes);
  virtual void on_accepted(int /*fd*/) {}
  // New output is about to be queued (a reply to input just read).
  virtual void before_reply() {}
  // Whether the peer's input is wanted now. Sockets: not while a reply is still queued.
  virtual bool wants_input() const { return out_.empty(); }
  // A new, unconnected channel of the same transport and name (accept_connection()).
  virtual std::unique_ptr<Channel> make_peer_channel() const { return nullptr; }
  // A write failed for good. Sockets: the peer is lost.
  virtual void on_write_error() { close_peer("lost (write error)"); }
  // Writes queued output until done or EAGAIN; closes the peer if asked to after the flush.
  void flush();
  void close_received_fds();

  const char* name_;
  std::shared_ptr<ConnectionState> state_;
  int listen_fd_ = -1;
  int peer_fd_ = -1;
  std::vector<uint8_t> out_;
  std::vector<int> received_fds_;
  bool close_after_flush_ = false;
  bool spawns_ = false;
  const char* close_reason_ = "";
};

// Listens on HOST:PORT (PORT 0: an ephemeral port, see local_port()).
class TcpChannel final : public Channel {
 public:
  static std::unique_ptr<TcpChannel> listen(const char* name, const std::string& host,
                                            uint16_t port,
                                            std::shared_ptr<ConnectionState> state,
                                            std::string& error);
  uint16_t local_port() const;

 private:
  using Channel::Channel;
  void on_accepted(int fd) override;
  void expect_more_input() override;
  std::unique_ptr<Channel> make_peer_channel() const override;
};

// Listens on a unix stream socket at `path` (a stale socket file is replaced, a live one or
// any other file is refused); removes it when destroyed. Receives SCM_RIGHTS descriptors.
class UnixChannel final : public Channel {
 public:
  static std::unique_ptr<UnixChannel> listen(const char* name, const std::string& path,
                                             std::shared_ptr<ConnectionState> state,
                                             std::string& error);
  // No listener: peers only arrive through adopt() (a data channel handed over by fd).
  static std::unique_ptr<UnixChannel> unbound(const char* name,
                                              std::shared_ptr<ConnectionState> state);
  ~UnixChannel() override;

 private:
  using Channel::Channel;
  ssize_t read_some(std::span<uint8_t> buf) override;
  std::unique_ptr<Channel> make_peer_channel() const override;
  std::string path_;
};

// A pseudo-terminal: the slave is put in raw mode, held open and symlinked at `link` (replaced
// atomically; removed when destroyed if it still points to our slave).
class PtyChannel final : public Channel {
 public:
  static std::unique_ptr<PtyChannel> create(const char* name, const std::string& link,
                                            std::shared_ptr<ConnectionState> state,
                                            std::string& error);
  ~PtyChannel() override;
  const std::string& slave_path() const { return slave_; }

  size_t poll_fds(std::vector<pollfd>& fds) const override;
  Ready on_poll(std::span<const pollfd> fds) override;
  bool connected() const override { return true; }
  bool accept() override { return false; }
  Io read(std::span<uint8_t> buf, size_t& n) override;
  void close_peer(const char* reason) override;
  bool adopt(int fd) override;
  void discard_output() override;

 private:
  using Channel::Channel;
  ssize_t write_some(std::span<const uint8_t> bytes) override;
  void before_reply() override;
  bool wants_input() const override { return true; }
  void on_write_error() override { out_.clear(); }  // the next command starts clean
  bool peer_changed();  // drains the inotify watch: did a client open or close the slave?

  int slave_fd_ = -1;
  int watch_fd_ = -1;  // inotify on the slave, -1 if unavailable (the stall timer still works)
  std::string slave_;
  std::string link_;
};

}  // namespace utpm::host
