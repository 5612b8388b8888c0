// utpmd: the utpm TPM 2.0 engine as a host daemon, reachable over the Microsoft simulator TCP
// protocol (tpm2-tss "mssim" TCTI), a virtual serial port (pty; tpm2-tss "device" TCTI, our
// "utpm" TCTI) and a unix socket, both speaking what a utpm device speaks on its UART (raw TPM
// stream, mssim or legacy 'Tpm2' frames). See --help.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "crypto/crypto.h"
#include "host/daemon.h"
#include "host/secure_nv_store.h"
#include "host/serial_bridge.h"
#include "host/host_platform.h"
#include "host/resource_manager.h"
#include "host/tpm_engine_link.h"
#include "host/trace.h"
#include "tpm/profile.h"
#include "tpm/tpm.h"

#ifndef UTPM_VERSION
#define UTPM_VERSION "0.0.0"
#endif

namespace {

using namespace utpm;

constexpr const char* kUsage =
    "Usage: utpmd [OPTIONS]\n"
    "A TPM 2.0 (the utpm engine) served over mssim TCP, a virtual serial port and a unix socket.\n"
    "\n"
    "  --state DIR        persistent TPM state directory (default: ./state)\n"
    "  --mssim HOST:PORT  Microsoft simulator protocol: command port PORT, platform port PORT+1\n"
    "                     (default 127.0.0.1:2321; use a loopback address unless you mean it)\n"
    "  --pty LINK         create a virtual serial port (raw pty) and symlink its slave at LINK\n"
    "                     (default: DIR/tty); it speaks what a utpm device speaks on its UART:\n"
    "                     the raw TPM stream (-T device:LINK), mssim frames (-T utpm:LINK) and\n"
    "                     legacy 'Tpm2' frames, recognised frame by frame\n"
    "  --unix PATH        the same stream protocols on a unix socket at PATH\n"
    "  --trace            one line per command on stderr: name, locality, sizes, rc, duration\n"
    "  --trace-file FILE  record every command and response (JSON lines: time, connection,\n"
    "                     channel, locality, duration, octets) for `utpm trace FILE`\n"
    "  --pcap FILE        write a pcap Wireshark's TPM 2.0 dissector decodes (TCP port 2321)\n"
    "  --trace-secrets    do not redact passwords, HMACs and secret parameters in those files\n"
    "  --bridge DEVICE[,baud=N]  serve the TPM of a board on a serial line (e.g. /dev/ttyACM0)\n"
    "                     instead of the built-in engine; no state of its own\n"
    "  --no-rm            bare TPM: no resource management (by default every client connection\n"
    "                     has its own handle space and what it leaves loaded is flushed when\n"
    "                     it closes, like /dev/tpmrm0)\n"
    "  --max-connections N  clients served at once over mssim/unix (default 64; mssim counts\n"
    "                     its command and platform sockets); beyond it a client is closed at once\n"
    "  --stall-timeout MS drop a partial command on the pty/unix stream after MS milliseconds\n"
    "                     without a byte (default 2000)\n"
    "  --setup[=ARGS]     provision the TPM before serving: runs `utpm setup --tpmstate DIR\n"
    "                     --not-overwrite ARGS` (EK certificates signed by the CA in DIR/ca unless\n"
    "                     ARGS say otherwise; a provisioned state is left alone). utpm is looked\n"
    "                     for in $UTPM, beside utpmd, in the build tree, then on PATH\n"
    "  --help, --version\n"
    "\n"
    "With none of --mssim/--pty/--unix, utpmd serves the defaults: --mssim 127.0.0.1:2321 and\n"
    "--pty DIR/tty. With any of them, only the channels given.\n"
    "Clients (tpm2-tools):  -T mssim:host=127.0.0.1,port=2321   -T device:DIR/tty\n"
    "SIGTERM/SIGINT: the command in progress is answered, the TPM is powered off, utpmd exits 0.\n"
    "Exit codes: 0 clean stop, 1 runtime error, 2 usage error.\n";

struct Options {
  std::string state = "state";
  bool mssim = false;
  std::string mssim_host = "127.0.0.1";
  uint16_t mssim_port = 2321;
  std::string pty_link;
  bool pty = false;
  std::string unix_path;
  bool trace = false;
  uint32_t stall_timeout_ms = 2000;
  std::string bridge_device;  // --bridge: the TPM is a board on this serial line
  unsigned bridge_baud = 115200;
  bool rm = true;
  size_t max_connections = utpm::host::Daemon::kDefaultMaxConnections;
  std::string trace_file, pcap_file;  // --trace-file, --pcap (trace.h)
  bool trace_secrets = false;
  bool setup = false;
  std::string setup_args;  // --setup=ARGS: more arguments of `utpm setup`
};

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "utpmd: %s\n(see utpmd --help)\n", msg.c_str());
  std::exit(2);
}

bool parse_host_port(const std::string& s, std::string& host, uint16_t& port) {
  const size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  host = s.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);  // [::1]:2321
  }
  char* end = nullptr;
  const std::string p = s.substr(colon + 1);
  errno = 0;
  const unsigned long v = std::strtoul(p.c_str(), &end, 10);
  if (p.empty() || *end != '\0' || errno != 0 || v == 0 || v > 65534) return false;
  port = static_cast<uint16_t>(v);
  return true;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_value = false;
    if (const size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    auto need_value = [&]() -> std::string {
      if (has_value) return value;
      if (i + 1 >= argc) usage_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (arg == "--version") {
      std::printf("utpmd %s (crypto: %s, max command %zu bytes)\n", UTPM_VERSION,
                  crypto::backend_name(), profile::kMaxCommandSize);
      std::exit(0);
    } else if (arg == "--state") {
      o.state = need_value();
      if (o.state.empty()) usage_error("--state needs a directory");
    } else if (arg == "--mssim") {
      o.mssim = true;
      if (!parse_host_port(need_value(), o.mssim_host, o.mssim_port)) {
        usage_error("--mssim wants HOST:PORT with PORT in 1..65534");
      }
    } else if (arg == "--pty") {
      o.pty = true;
      o.pty_link = need_value();
      if (o.pty_link.empty()) usage_error("--pty needs a path for the symlink");
    } else if (arg == "--unix") {
      o.unix_path = need_value();
      if (o.unix_path.empty()) usage_error("--unix needs a socket path");
    } else if (arg == "--trace") {
      o.trace = true;
    } else if (arg == "--bridge") {
      std::string v = need_value();
      if (const size_t comma = v.find(",baud="); comma != std::string::npos) {
        char* end = nullptr;
        o.bridge_baud = static_cast<unsigned>(std::strtoul(v.c_str() + comma + 6, &end, 10));
        if (*end != '\0' || o.bridge_baud == 0) usage_error("--bridge wants DEVICE or DEVICE,baud=N");
        v.resize(comma);
      }
      if (v.empty()) usage_error("--bridge needs a serial device");
      o.bridge_device = v;
    } else if (arg == "--trace-file" || arg == "--pcap") {
      (arg == "--pcap" ? o.pcap_file : o.trace_file) = need_value();
      if ((arg == "--pcap" ? o.pcap_file : o.trace_file).empty()) usage_error(arg + " needs a file");
    } else if (arg == "--trace-secrets") {
      o.trace_secrets = true;
    } else if (arg == "--setup") {
      o.setup = true;
      if (has_value) o.setup_args = value;
    } else if (arg == "--no-rm") {
      o.rm = false;
    } else if (arg == "--max-connections") {
      const std::string v = need_value();
      char* end = nullptr;
      const unsigned long n = std::strtoul(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n == 0 || n > 1000) {
        usage_error("--max-connections wants a number in 1..1000");
      }
      o.max_connections = n;
    } else if (arg == "--stall-timeout") {
      const std::string v = need_value();
      char* end = nullptr;
      const unsigned long ms = std::strtoul(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || ms == 0 || ms > 600000) {
        usage_error("--stall-timeout wants milliseconds in 1..600000");
      }
      o.stall_timeout_ms = static_cast<uint32_t>(ms);
    } else {
      usage_error("unknown argument: " + arg);
    }
  }
  if (!o.mssim && !o.pty && o.unix_path.empty()) {  // the embedded defaults
    o.mssim = true;
    o.pty = true;
  }
  if (o.pty && o.pty_link.empty()) o.pty_link = o.state + "/tty";
  return o;
}

bool make_dirs(const std::string& path) {
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    partial = path.substr(0, pos);
    if (partial.empty()) continue;
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) return false;
  }
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string absolute(const std::string& path) {
  char buf[PATH_MAX];
  if (!path.empty() && path[0] == '/') return path;
  if (::getcwd(buf, sizeof buf) == nullptr) return path;
  return std::string(buf) + "/" + path;
}

// --setup: `utpm setup --tpmstate DIR --not-overwrite ARGS` as a child, before the state is
// locked (utpm takes the same lock while it runs the engine on DIR).
bool run_setup(const Options& o, const char* argv0) {
  std::string exe;
  if (const char* e = std::getenv("UTPM")) exe = e;
  if (exe.empty()) {
    char self[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    std::string dir = n > 0 ? std::string(self, static_cast<size_t>(n)) : std::string(argv0);
    dir = dir.substr(0, dir.rfind('/') + 1);
    for (const std::string& c : {dir + "utpm", dir + "../tools/utpm"}) {
      if (::access(c.c_str(), X_OK) == 0) {
        exe = c;
        break;
      }
    }
  }
  if (exe.empty()) exe = "utpm";  // PATH
  // ARGS split at spaces (no shell), the state path passed as one argument.
  std::vector<std::string> args = {exe, "setup", "--tpmstate", o.state, "--not-overwrite"};
  for (size_t i = 0; i < o.setup_args.size();) {
    const size_t j = std::min(o.setup_args.find(' ', i), o.setup_args.size());
    if (j > i) args.push_back(o.setup_args.substr(i, j - i));
    i = j + 1;
  }
  std::vector<char*> av;
  std::string shown;
  for (std::string& a : args) av.push_back(a.data()), shown += (shown.empty() ? "" : " ") + a;
  av.push_back(nullptr);
  std::fprintf(stderr, "utpmd: --setup: %s\n", shown.c_str());
  std::fflush(stderr);
  pid_t pid = -1;
  int status = 0;
  if (::posix_spawnp(&pid, exe.c_str(), nullptr, nullptr, av.data(), environ) != 0 ||
      ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "utpmd: --setup failed (%s: exit status %d)\n", exe.c_str(),
                 pid > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse(argc, argv);

  if (!make_dirs(opt.state)) {
    std::fprintf(stderr, "utpmd: cannot create state directory %s: %s\n", opt.state.c_str(),
                 std::strerror(errno));
    return 1;
  }
  if (opt.setup) {
    if (!opt.bridge_device.empty()) usage_error("--setup provisions a state directory, not a --bridge board");
    if (!run_setup(opt, argv[0])) return 1;
  }
  // Two daemons on one state directory would overwrite each other's NV.
  const std::string lock_path = opt.state + "/utpmd.lock";
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0 || ::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    std::fprintf(stderr, "utpmd: state directory %s is in use by another utpmd\n",
                 opt.state.c_str());
    return 1;
  }

  // A peer that vanishes mid-reply must not kill us; termination signals are read from a
  // signalfd in the poll loop, so they take effect only between commands.
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigaddset(&term, SIGINT);
  sigaddset(&term, SIGHUP);
  ::sigprocmask(SIG_BLOCK, &term, nullptr);
  const int signal_fd = ::signalfd(-1, &term, SFD_CLOEXEC);
  if (signal_fd < 0) {
    std::perror("utpmd: signalfd");
    return 1;
  }

  // The secure store (docs/storage.md): encrypted, authenticated, rollback-checked against the
  // anchor file, power-loss safe. A store that fails its checks is reported, never reset.
  // A bridge keeps no TPM state: the board has its own store.
  host::SecureNvStore nv;
  std::unique_ptr<host::HostPlatform> platform;
  std::unique_ptr<tpm::Tpm> tpm;
  std::unique_ptr<host::EngineLink> link;
  if (!opt.bridge_device.empty()) {
    auto bridge = std::make_unique<host::SerialBridge>();
    std::string bridge_error;
    if (!bridge->open(opt.bridge_device, opt.bridge_baud, bridge_error)) {
      std::fprintf(stderr, "utpmd: %s\n", bridge_error.c_str());
      return 1;
    }
    bridge->set_trace(opt.trace ? stderr : nullptr);
    link = std::move(bridge);
  } else {
    std::string nv_error;
    if (!nv.open({opt.state, "", std::nullopt}, nv_error))
      std::fprintf(stderr, "utpmd: %s; the TPM will report failure mode\n", nv_error.c_str());
    platform = std::make_unique<host::HostPlatform>(nv);
    tpm = std::make_unique<tpm::Tpm>(*platform);
    tpm->power_on();
    if (tpm->in_failure_mode()) {
      std::fprintf(stderr, "utpmd: TPM is in failure mode: %s\n",
                   tpm::failure_cause_name(tpm->failure_cause()));
    }
    link = std::make_unique<host::TpmEngineLink>(*tpm, *platform, opt.trace ? stderr : nullptr);
  }
  // --trace-file/--pcap: a recorder around every connection's link (trace.h).
  host::TraceRecorder recorder;
  if (!opt.trace_file.empty() || !opt.pcap_file.empty()) {
    std::string trace_error;
    if (!recorder.open({opt.trace_file, opt.pcap_file, opt.trace_secrets}, trace_error)) {
      std::fprintf(stderr, "utpmd: %s\n", trace_error.c_str());
      return 1;
    }
    if (!opt.rm) {  // one link for every client: wrap it
      host::EngineLink& inner = *link;
      link = std::make_unique<host::TracingLink>(inner, recorder, std::move(link));
    }
  }
  host::Daemon daemon(*link, profile::kMaxCommandSize, opt.stall_timeout_ms, stderr, opt.trace);
  daemon.set_max_connections(opt.max_connections);
  // Resource management (resource_manager.h): each client connection gets its own handle space.
  std::unique_ptr<host::ResourceManager> rm;
  if (opt.rm) {
    rm = std::make_unique<host::ResourceManager>(*link, opt.trace ? stderr : nullptr);
    if (recorder.active()) {
      daemon.set_connection_links([&rm, &recorder]() -> std::unique_ptr<host::EngineLink> {
        auto conn = rm->connect();
        host::EngineLink& inner = *conn;
        return std::make_unique<host::TracingLink>(inner, recorder, std::move(conn));
      });
    } else {
      daemon.set_connection_links([&rm] { return rm->connect(); });
    }
  }
  std::string error;
  if (opt.mssim && !daemon.add_mssim(opt.mssim_host, opt.mssim_port, error)) {
    std::fprintf(stderr, "utpmd: %s\n", error.c_str());
    return 1;
  }
  if (opt.pty && !daemon.add_pty(opt.pty_link, error)) {
    std::fprintf(stderr, "utpmd: %s\n", error.c_str());
    return 1;
  }
  if (!opt.unix_path.empty() && !daemon.add_unix(opt.unix_path, error)) {
    std::fprintf(stderr, "utpmd: %s\n", error.c_str());
    return 1;
  }

  if (opt.bridge_device.empty())
    std::fprintf(stderr, "utpmd %s: state %s\n", UTPM_VERSION, absolute(opt.state).c_str());
  else
    std::fprintf(stderr, "utpmd %s: bridge to the board on %s (%u baud)\n", UTPM_VERSION,
                 opt.bridge_device.c_str(), opt.bridge_baud);
  if (opt.mssim) {
    std::fprintf(stderr, "utpmd: mssim on %s:%u (platform %u)   -T mssim:host=%s,port=%u\n",
                 opt.mssim_host.c_str(), unsigned{opt.mssim_port}, opt.mssim_port + 1u,
                 opt.mssim_host.c_str(), unsigned{opt.mssim_port});
  }
  if (opt.pty) {
    std::fprintf(stderr, "utpmd: pty %s at %s   -T device:%s\n", daemon.pty_slave().c_str(),
                 absolute(opt.pty_link).c_str(), absolute(opt.pty_link).c_str());
  }
  if (!opt.unix_path.empty()) {
    std::fprintf(stderr, "utpmd: unix socket %s (raw TPM stream / mssim frames)\n",
                 opt.unix_path.c_str());
  }
  std::fprintf(stderr, "utpmd: %s\n", opt.rm ? "resource manager on (per-connection handles)"
                                             : "bare TPM (--no-rm)");
  std::fprintf(stderr, "utpmd: ready\n");
  std::fflush(stderr);

  // A cancel (mssim platform port, a stream channel's cancel frame) that arrives while a command
  // runs reaches the engine through the daemon's cancel pump (daemon.h).
  if (platform) platform->set_cancel_poller(&daemon);
  const int rc = daemon.run(signal_fd);
  if (platform) platform->set_cancel_poller(nullptr);
  // power_off is the engine's orderly end of a power cycle (state written by Shutdown stays).
  if (tpm) tpm->power_off();
  ::close(signal_fd);
  ::close(lock_fd);
  std::fprintf(stderr, "utpmd: stopped\n");
  return rc;
}
