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
#include <cctype>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "crypto/crypto.h"
#include "host/daemon.h"
#include "host/secure_nv_store.h"
#include "host/serial_bridge.h"
#include "host/state_blob.h"
#include "host/swtpm_tpm.h"
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
    "  --vtpm-proxy       create /dev/tpmN and /dev/tpmrmN through the kernel's vtpm proxy and\n"
    "                     serve the kernel's commands (-T device:/dev/tpmrmN; module\n"
    "                     tpm_vtpm_proxy, root); the kernel is the resource manager there\n"
    "  --vtpmx PATH       the vtpm proxy control device (default /dev/vtpmx)\n"
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
    "  --ctrl tcp:HOST:PORT | unix:PATH\n"
    "                     swtpm's control channel (QEMU -tpmdev emulator, libvirt, tpm2-tss\n"
    "                     -T swtpm:); on a unix socket QEMU passes the data channel (SET_DATAFD)\n"
    "  --server tcp:HOST:PORT  swtpm's TCP data channel (raw TPM stream; -T swtpm:host=H,port=P\n"
    "                     with --ctrl on PORT+1). swtpm data channels are a bare TPM, as swtpm is\n"
    "  --migration-key FILE  seal swtpm state blobs (VM migration) with this 32-byte key (binary,\n"
    "                     or 64 hex digits) instead of the state directory's nv.key\n"
    "  --stall-timeout MS drop a partial command on the pty/unix stream after MS milliseconds\n"
    "                     without a byte (default 2000)\n"
    "  --setup[=ARGS]     provision the TPM before serving: runs `utpm setup --tpmstate DIR\n"
    "                     --not-overwrite ARGS` (EK certificates signed by the CA in DIR/ca unless\n"
    "                     ARGS say otherwise; a provisioned state is left alone). utpm is looked\n"
    "                     for in $UTPM, beside utpmd, in the build tree, then on PATH\n"
    "  --instance NAME,state=DIR[,port=N|mssim=HOST:PORT][,unix=PATH][,ctrl=tcp:HOST:PORT|\n"
    "             ctrl=unix:PATH[,server=tcp:HOST:PORT]][,migration-key=FILE]\n"
    "                     one of several TPM instances served by this process (repeat it; one\n"
    "                     per VM): its own state directory (locked), engine, resource manager,\n"
    "                     mssim ports (N, N+1 on 127.0.0.1), unix socket and swtpm control/data\n"
    "                     channels. Excludes --state and the channel options above; --trace,\n"
    "                     --no-rm, --stall-timeout, --trace-file/--pcap apply to every instance,\n"
    "                     --max-connections to each. A STOP/CMD_SHUTDOWN closes only its connection\n"
    "  --instances FILE   the same, one instance spec per line (# comments, blank lines)\n"
    "  --threads N        spread the instances over N poll loops, one thread each (default 1;\n"
    "                     instance k runs on loop k mod N): a long command of one instance then\n"
    "                     holds up only the instances of its loop, and N cores can be used\n"
    "  --help, --version\n"
    "\n"
    "utpmd swtpm socket [swtpm options]: swtpm's command line (also when invoked as 'swtpm');\n"
    "see docs/swtpm.md for the options accepted and refused.\n"
    "With none of --mssim/--pty/--unix/--ctrl/--vtpm-proxy, utpmd serves the defaults:\n"
    "--mssim 127.0.0.1:2321 and --pty DIR/tty. With any of them, only the channels given.\n"
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
  bool vtpm_proxy = false;
  std::string vtpmx = "/dev/vtpmx";
  bool trace = false;
  uint32_t stall_timeout_ms = 2000;
  std::string bridge_device;  // --bridge: the TPM is a board on this serial line
  unsigned bridge_baud = 115200;
  bool rm = true;
  // swtpm (docs/swtpm.md)
  bool swtpm = false;                    // a control channel is served
  host::SwtpmChannels swtpm_channels;
  bool swtpm_cli = false;                // started with swtpm's command line
  bool not_need_init = true;             // utpmd's own CLI: the TPM is powered from the start
  host::SwtpmTpm::Startup startup = host::SwtpmTpm::Startup::none;
  std::string migration_key_file;
  bool migration_key_hex_only = false;
  std::string key_file;                  // swtpm --key: the store's device secret
  std::string pid_file;
  std::string log_file;                  // swtpm --log file=
  bool log_truncate = false;
  bool daemonize = false;
  std::string ctrl_mode, ctrl_uid, ctrl_gid;  // unix ctrl socket file mode (octal) / owner
  size_t max_connections = utpm::host::Daemon::kDefaultMaxConnections;
  std::string trace_file, pcap_file;  // --trace-file, --pcap (trace.h)
  bool trace_secrets = false;
  bool setup = false;
  std::string setup_args;  // --setup=ARGS: more arguments of `utpm setup`
  // --instance / --instances: several TPMs in one daemon (run_instances()).
  std::vector<std::string> instance_specs;
  unsigned threads = 1;  // --threads: poll loops the instances are spread over
  bool single_options = false;  // --state or a channel option of the single-instance mode
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
    } else if (arg == "--threads") {
      const std::string v = need_value();
      char* end = nullptr;
      const unsigned long n = std::strtoul(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n == 0 || n > 256) usage_error("--threads wants 1..256");
      o.threads = static_cast<unsigned>(n);
    } else if (arg == "--instance") {
      o.instance_specs.push_back(need_value());
    } else if (arg == "--instances") {
      const std::string file = need_value();
      std::FILE* f = std::fopen(file.c_str(), "r");
      if (f == nullptr) usage_error("--instances: cannot open " + file + ": " + std::strerror(errno));
      char line[4096];
      while (std::fgets(line, sizeof line, f) != nullptr) {
        std::string l = line;
        if (const size_t hash = l.find('#'); hash != std::string::npos) l.resize(hash);
        while (!l.empty() && std::isspace(static_cast<unsigned char>(l.back()))) l.pop_back();
        size_t b = 0;
        while (b < l.size() && std::isspace(static_cast<unsigned char>(l[b]))) ++b;
        if (b < l.size()) o.instance_specs.push_back(l.substr(b));
      }
      std::fclose(f);
    } else if (arg == "--state") {
      o.single_options = true;
      o.state = need_value();
      if (o.state.empty()) usage_error("--state needs a directory");
    } else if (arg == "--mssim") {
      o.single_options = true;
      o.mssim = true;
      if (!parse_host_port(need_value(), o.mssim_host, o.mssim_port)) {
        usage_error("--mssim wants HOST:PORT with PORT in 1..65534");
      }
    } else if (arg == "--pty") {
      o.single_options = true;
      o.pty = true;
      o.pty_link = need_value();
      if (o.pty_link.empty()) usage_error("--pty needs a path for the symlink");
    } else if (arg == "--unix") {
      o.single_options = true;
      o.unix_path = need_value();
      if (o.unix_path.empty()) usage_error("--unix needs a socket path");
    } else if (arg == "--vtpm-proxy") {
      o.single_options = true;
      o.vtpm_proxy = true;
    } else if (arg == "--vtpmx") {
      o.vtpmx = need_value();
      if (o.vtpmx.empty()) usage_error("--vtpmx needs a path");
    } else if (arg == "--trace") {
      o.trace = true;
    } else if (arg == "--bridge") {
      o.single_options = true;
      std::string v = need_value();
      if (const size_t comma = v.find(",baud="); comma != std::string::npos) {
        char* end = nullptr;
        o.bridge_baud = static_cast<unsigned>(std::strtoul(v.c_str() + comma + 6, &end, 10));
        if (*end != '\0' || o.bridge_baud == 0) usage_error("--bridge wants DEVICE or DEVICE,baud=N");
        v.resize(comma);
      }
      if (v.empty()) usage_error("--bridge needs a serial device");
      o.bridge_device = v;
    } else if (arg == "--ctrl") {
      o.single_options = true;
      auto& c = o.swtpm_channels;
      if (!host::parse_swtpm_endpoint(need_value(), true, c.ctrl_type, c.ctrl_host, c.ctrl_port,
                                      c.ctrl_path)) {
        usage_error("--ctrl wants tcp:HOST:PORT or unix:PATH");
      }
      o.swtpm = true;
    } else if (arg == "--server") {
      o.single_options = true;
      auto& c = o.swtpm_channels;
      std::string type, path;
      if (!host::parse_swtpm_endpoint(need_value(), false, type, c.data_host, c.data_port, path)) {
        usage_error("--server wants tcp:HOST:PORT");
      }
      c.data_tcp = true;
    } else if (arg == "--migration-key") {
      o.migration_key_file = need_value();
    } else if (arg == "--trace-file" || arg == "--pcap") {
      (arg == "--pcap" ? o.pcap_file : o.trace_file) = need_value();
      if ((arg == "--pcap" ? o.pcap_file : o.trace_file).empty()) usage_error(arg + " needs a file");
    } else if (arg == "--trace-secrets") {
      o.trace_secrets = true;
    } else if (arg == "--setup") {
      o.single_options = true;
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
  if (!o.instance_specs.empty()) {
    if (o.single_options) {
      usage_error("--instance/--instances give each instance its state and channels: no --state, "
                  "--mssim, --pty, --unix, --ctrl, --server, --vtpm-proxy, --bridge or --setup");
    }
    if (o.threads > 1 && (!o.trace_file.empty() || !o.pcap_file.empty())) {
      usage_error("--trace-file/--pcap record from one thread: not with --threads");
    }
    return o;
  }
  if (o.threads != 1) usage_error("--threads spreads --instance TPMs over poll loops: give --instance");
  if (o.swtpm_channels.data_tcp && !o.swtpm) usage_error("--server needs --ctrl");
  if (o.swtpm && !o.bridge_device.empty()) usage_error("--ctrl serves the built-in engine, not --bridge");
  if (!o.mssim && !o.pty && o.unix_path.empty() && !o.swtpm && !o.vtpm_proxy) {  // the embedded defaults
    o.mssim = true;
    o.pty = true;
  }
  if (o.pty && o.pty_link.empty()) o.pty_link = o.state + "/tty";
  return o;
}

// ---- swtpm's command line (docs/swtpm.md: what is accepted, what is refused and why) ----

constexpr const char* kSwtpmUsage =
    "Usage: swtpm socket --tpm2 [options]   (utpmd's swtpm-compatible command line)\n"
    "\n"
    "  --tpm2                          required: utpmd is a TPM 2.0\n"
    "  --server [type=tcp,]port=P[,bindaddr=A] | type=unixio,path=PATH   data channel\n"
    "  -p|--port P                     the same as --server port=P\n"
    "  --ctrl type=tcp,port=P[,bindaddr=A] | type=unixio,path=PATH[,mode=0NNN]\n"
    "  --tpmstate dir=DIR[,mode=0NNN]  state directory (or the TPM_PATH environment variable)\n"
    "  --flags [not-need-init][,startup-clear|startup-state|startup-none]\n"
    "  --key file=F[,format=hex|binary][,mode=..]          the state store's secret (32 bytes)\n"
    "  --migration-key file=F[,format=hex|binary][,mode=..]  seals state blobs\n"
    "  --log file=F|fd=N[,level=N][,prefix=..][,truncate]   level >= 5: one line per command\n"
    "  --pid file=F|fd=N   -t|--terminate   -d|--daemon   --seccomp action=..  (ignored)\n"
    "  --locality allow-set-locality   --print-capabilities   -h|--help   -v|--version\n";

struct KeyValues {
  std::vector<std::pair<std::string, std::string>> kv;
  bool has(const std::string& k) const {
    for (const auto& p : kv) if (p.first == k) return true;
    return false;
  }
  std::string get(const std::string& k, const std::string& dflt = "") const {
    for (const auto& p : kv) if (p.first == k) return p.second;
    return dflt;
  }
};

KeyValues split_kv(const std::string& opt, const std::string& s) {
  KeyValues r;
  size_t pos = 0;
  while (pos <= s.size()) {
    const size_t comma = s.find(',', pos);
    const std::string item = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (!item.empty()) {
      const size_t eq = item.find('=');
      if (eq == std::string::npos) {
        r.kv.emplace_back(item, "");
      } else {
        r.kv.emplace_back(item.substr(0, eq), item.substr(eq + 1));
      }
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  (void)opt;
  return r;
}

void only_keys(const std::string& opt, const KeyValues& kv, std::initializer_list<const char*> ok) {
  for (const auto& p : kv.kv) {
    bool known = false;
    for (const char* k : ok) known = known || p.first == k;
    if (!known) usage_error(opt + ": '" + p.first + "' is not supported by utpmd (docs/swtpm.md)");
  }
}

uint16_t port_value(const std::string& opt, const std::string& v) {
  char* end = nullptr;
  errno = 0;
  const unsigned long n = std::strtoul(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0 || n == 0 || n > 65535) {
    usage_error(opt + ": port wants 1..65535");
  }
  return static_cast<uint16_t>(n);
}

// argv after "socket" (or after the program name, when invoked as swtpm socket).
Options parse_swtpm(int argc, char** argv, int first) {
  Options o;
  o.swtpm_cli = true;
  o.mssim = false;
  o.pty = false;
  o.not_need_init = false;
  o.rm = true;
  bool tpm2 = false;
  bool have_ctrl = false;
  bool have_state = false;
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_value = false;
    auto need_value = [&]() -> std::string {
      if (has_value) return value;
      if (i + 1 >= argc) usage_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--tpm2") {
      tpm2 = true;
    } else if (arg == "-h" || arg == "--help") {
      std::fputs(kSwtpmUsage, stdout);
      std::exit(0);
    } else if (arg == "-v" || arg == "--version") {
      std::printf("TPM emulator version %s, utpmd (swtpm-compatible command line)\n", UTPM_VERSION);
      std::exit(0);
    } else if (arg == "--print-capabilities" || arg == "--print-capabilites") {
      // What a caller (libvirt) may use; only what utpmd really does.
      std::printf("{ \"type\": \"swtpm\", \"features\": [ \"tpm-2.0\", \"cmdarg-key-fd\" ], "
                  "\"version\": \"%s\" }\n", UTPM_VERSION);
      std::exit(0);
    } else if (arg == "--server") {
      const std::string v = need_value();
      const KeyValues kv = split_kv(arg, v);
      only_keys(arg, kv, {"type", "port", "bindaddr", "path", "disconnect", "mode"});
      const std::string type = kv.get("type", "tcp");
      if (type == "tcp") {
        if (!kv.has("port")) usage_error("--server type=tcp needs port=");
        o.swtpm_channels.data_tcp = true;
        o.swtpm_channels.data_port = port_value(arg, kv.get("port"));
        o.swtpm_channels.data_host = kv.get("bindaddr", "127.0.0.1");
      } else if (type == "unixio") {
        if (!kv.has("path")) usage_error("--server type=unixio needs path= (fd= is not supported)");
        o.swtpm_channels.data_path = kv.get("path");
      } else {
        usage_error("--server type must be tcp or unixio");
      }
    } else if (arg == "-p" || arg == "--port") {
      o.swtpm_channels.data_tcp = true;
      o.swtpm_channels.data_port = port_value(arg, need_value());
    } else if (arg == "--ctrl") {
      const KeyValues kv = split_kv(arg, need_value());
      only_keys(arg, kv, {"type", "port", "bindaddr", "path", "mode", "uid", "gid"});
      const std::string type = kv.get("type");
      auto& c = o.swtpm_channels;
      if (type == "tcp") {
        if (!kv.has("port")) usage_error("--ctrl type=tcp needs port=");
        c.ctrl_type = "tcp";
        c.ctrl_port = port_value(arg, kv.get("port"));
        c.ctrl_host = kv.get("bindaddr", "127.0.0.1");
      } else if (type == "unixio") {
        if (!kv.has("path")) usage_error("--ctrl type=unixio needs path= (fd=/clientfd= are not supported)");
        c.ctrl_type = "unix";
        c.ctrl_path = kv.get("path");
        o.ctrl_mode = kv.get("mode");
        o.ctrl_uid = kv.get("uid");
        o.ctrl_gid = kv.get("gid");
      } else {
        usage_error("--ctrl wants type=tcp or type=unixio");
      }
      have_ctrl = true;
    } else if (arg == "--tpmstate") {
      const KeyValues kv = split_kv(arg, need_value());
      only_keys(arg, kv, {"dir", "mode", "lock"});
      if (!kv.has("dir")) usage_error("--tpmstate wants dir=DIR (backend-uri= is not supported)");
      o.state = kv.get("dir");
      have_state = true;
    } else if (arg == "--flags") {
      const KeyValues kv = split_kv(arg, need_value());
      only_keys(arg, kv, {"not-need-init", "startup-clear", "startup-state", "startup-none"});
      o.not_need_init = kv.has("not-need-init");
      if (kv.has("startup-clear")) o.startup = host::SwtpmTpm::Startup::clear;
      if (kv.has("startup-state")) o.startup = host::SwtpmTpm::Startup::state;
      if (kv.has("startup-none")) o.startup = host::SwtpmTpm::Startup::none;
    } else if (arg == "--key" || arg == "--migration-key") {
      const KeyValues kv = split_kv(arg, need_value());
      only_keys(arg, kv, {"file", "format", "mode", "remove"});
      if (!kv.has("file")) usage_error(arg + " wants file= (fd=, pwdfile=, pwdfd= are not supported)");
      const std::string fmt = kv.get("format", "hex");
      if (fmt != "hex" && fmt != "binary") usage_error(arg + ": format must be hex or binary");
      if (arg == "--key") o.key_file = kv.get("file");
      else o.migration_key_file = kv.get("file");
    } else if (arg == "--log") {
      const KeyValues kv = split_kv(arg, need_value());
      only_keys(arg, kv, {"file", "fd", "level", "prefix", "truncate"});
      if (kv.has("file")) o.log_file = kv.get("file");
      if (kv.has("fd")) o.log_file = "/dev/fd/" + kv.get("fd");
      if (kv.has("truncate")) o.log_truncate = true;
      if (kv.has("level") && std::atoi(kv.get("level").c_str()) >= 5) o.trace = true;
    } else if (arg == "--pid") {
      const KeyValues kv = split_kv(arg, need_value());
      only_keys(arg, kv, {"file", "fd"});
      o.pid_file = kv.has("file") ? kv.get("file") : "/dev/fd/" + kv.get("fd");
    } else if (arg == "-t" || arg == "--terminate") {
      o.swtpm_channels.terminate = true;
    } else if (arg == "-d" || arg == "--daemon") {
      o.daemonize = true;
    } else if (arg == "--seccomp") {
      (void)need_value();  // utpmd installs no seccomp filter; accepted for libvirt
    } else if (arg == "--locality") {
      const KeyValues kv = split_kv(arg, need_value());
      only_keys(arg, kv, {"allow-set-locality"});
    } else {
      usage_error("swtpm option not supported by utpmd: " + arg + " (docs/swtpm.md)");
    }
  }
  if (!tpm2) usage_error("only TPM 2.0: pass --tpm2 (utpmd has no TPM 1.2)");
  if (!have_ctrl && !o.swtpm_channels.data_tcp && o.swtpm_channels.data_path.empty()) {
    usage_error("swtpm socket needs --server and/or --ctrl");
  }
  if (!have_state) {
    const char* env = std::getenv("TPM_PATH");
    if (env == nullptr || *env == '\0') usage_error("--tpmstate dir=DIR (or TPM_PATH) is required");
    o.state = env;
  }
  if (!have_ctrl) {
    // A data channel alone: swtpm then runs without INIT (there is no one to send it).
    o.not_need_init = true;
  }
  o.swtpm = true;  // the data channels go through the swtpm gate even without a control channel
  return o;
}

bool nv_has_operator_secret(const Options& o) { return !o.key_file.empty(); }

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

// Creates the state directory if needed and checks it. The state directory holds the store,
// its anchor and (by default) its key: anyone who can write there can swap files under the TPM
// (roll the store back together with its anchor, or delete the key). Refuses one that others
// can write or that belongs to someone else. Prints why and returns false.
bool prepare_state_dir(const std::string& state) {
  if (!make_dirs(state)) {
    std::fprintf(stderr, "utpmd: cannot create state directory %s: %s\n", state.c_str(),
                 std::strerror(errno));
    return false;
  }
  struct stat st{};
  if (::stat(state.c_str(), &st) != 0 || (st.st_mode & 022) != 0 ||
      (::geteuid() != 0 && st.st_uid != ::geteuid())) {
    std::fprintf(stderr,
                 "utpmd: state directory %s must belong to this user and not be writable by "
                 "group or others (chmod 700)\n",
                 state.c_str());
    return false;
  }
  for (const char* name : {"nv.store", "nv.anchor", "nv.key"}) {
    const std::string file = state + "/" + name;
    if (::lstat(file.c_str(), &st) == 0 && (!S_ISREG(st.st_mode) || (st.st_mode & 022) != 0)) {
      std::fprintf(stderr, "utpmd: %s must be a regular file not writable by group or others\n",
                   file.c_str());
      return false;
    }
  }
  return true;
}

// DIR/utpmd.lock, held (flock) until exit: one daemon (and one instance) per state directory.
// Returns the descriptor, or -1 after printing why.
// A peer that vanishes mid-reply must not kill us; SIGTERM/SIGINT/SIGHUP are blocked and read
// from the returned signalfd in the poll loop, so they take effect only between commands.
// -1 (after a message) if the signalfd cannot be made.
int termination_signal_fd() {
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigaddset(&term, SIGINT);
  sigaddset(&term, SIGHUP);
  ::sigprocmask(SIG_BLOCK, &term, nullptr);
  const int fd = ::signalfd(-1, &term, SFD_CLOEXEC);
  if (fd < 0) std::perror("utpmd: signalfd");
  return fd;
}

int lock_state_dir(const std::string& state) {
  const std::string lock_path = state + "/utpmd.lock";
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0 || ::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    std::fprintf(stderr, "utpmd: state directory %s is in use by another utpmd\n", state.c_str());
    if (lock_fd >= 0) ::close(lock_fd);
    return -1;
  }
  return lock_fd;
}

}  // namespace

// A 32-byte key file: binary, or 64 hex digits (a trailing newline allowed).
bool read_key_file(const std::string& path, std::array<uint8_t, 32>& key, std::string& error) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    error = "cannot open key file " + path + ": " + std::strerror(errno);
    return false;
  }
  uint8_t buf[200];
  const size_t n = std::fread(buf, 1, sizeof buf, f);
  std::fclose(f);
  if (n == 32) {
    std::memcpy(key.data(), buf, 32);
    crypto::zeroize(buf, sizeof buf);
    return true;
  }
  size_t len = n;
  while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) --len;
  auto hex = [](uint8_t c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  bool ok = len == 64;
  for (size_t i = 0; ok && i < 32; ++i) {
    const int hi = hex(buf[2 * i]), lo = hex(buf[2 * i + 1]);
    ok = hi >= 0 && lo >= 0;
    if (ok) key[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  crypto::zeroize(buf, sizeof buf);
  if (!ok) error = "key file " + path + " must hold 32 bytes (binary) or 64 hex digits (AES-256)";
  return ok;
}

// The swtpm migration key (--migration-key): kept in the backend's configuration as the key its
// state blobs are sealed under; the local copy is wiped.
bool read_migration_key(const std::string& path, host::SwtpmTpm::Config& cfg, std::string& error) {
  host::stateblob::Key mk;
  mk.kind = host::stateblob::kKeyMigration;
  const bool ok = read_key_file(path, mk.secret, error);
  cfg.migration_key = mk;
  crypto::zeroize(mk.secret);
  return ok;
}

// ---- several TPM instances in one daemon: --instance NAME,state=DIR,... / --instances FILE ----
// Each instance has its own state directory (and lock), store, platform, engine, resource
// manager, swtpm control/data channels and mssim/unix sockets; they share the process, the
// poll loop and the options that are not per instance (--trace, --no-rm, --max-connections
// (per instance), --stall-timeout, --trace-file/--pcap).
namespace {

struct InstanceSpec {
  std::string name;
  std::string state;
  bool mssim = false;
  std::string mssim_host = "127.0.0.1";
  uint16_t mssim_port = 0;
  std::string unix_path;
  bool swtpm = false;
  host::SwtpmChannels swtpm_channels;
  std::string migration_key_file;
};

InstanceSpec parse_instance(const std::string& text) {
  const KeyValues kv = split_kv("--instance", text);
  const std::string what = "--instance " + text + ": ";
  if (kv.kv.empty() || kv.kv[0].first.empty() || text.find('=') < text.find(',')) {
    usage_error(what + "wants NAME,state=DIR,CHANNEL=... (see --help)");
  }
  InstanceSpec s;
  s.name = kv.kv[0].first;
  if (s.name.size() > 32 ||
      s.name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
          std::string::npos) {
    usage_error(what + "NAME is 1..32 of A-Z a-z 0-9 . _ -");
  }
  for (size_t i = 1; i < kv.kv.size(); ++i) {
    const auto& [k, v] = kv.kv[i];
    if (k == "state") {
      s.state = v;
    } else if (k == "mssim") {
      s.mssim = true;
      if (!parse_host_port(v, s.mssim_host, s.mssim_port)) usage_error(what + "mssim wants HOST:PORT");
    } else if (k == "port") {
      s.mssim = true;
      char* end = nullptr;
      const unsigned long p = std::strtoul(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || p == 0 || p > 65534) usage_error(what + "port wants 1..65534");
      s.mssim_port = static_cast<uint16_t>(p);
    } else if (k == "unix") {
      if (v.empty()) usage_error(what + "unix needs a socket path");
      s.unix_path = v;
    } else if (k == "ctrl") {
      auto& c = s.swtpm_channels;
      if (!host::parse_swtpm_endpoint(v, true, c.ctrl_type, c.ctrl_host, c.ctrl_port, c.ctrl_path)) {
        usage_error(what + "ctrl wants tcp:HOST:PORT or unix:PATH");
      }
      s.swtpm = true;
    } else if (k == "server") {
      auto& c = s.swtpm_channels;
      std::string type, path;
      if (!host::parse_swtpm_endpoint(v, false, type, c.data_host, c.data_port, path)) {
        usage_error(what + "server wants tcp:HOST:PORT");
      }
      c.data_tcp = true;
    } else if (k == "migration-key") {
      s.migration_key_file = v;
    } else {
      usage_error(what + "unknown key '" + k + "' (state, port, mssim, unix, ctrl, server, migration-key)");
    }
  }
  if (s.state.empty()) usage_error(what + "state=DIR is required");
  if (s.swtpm_channels.data_tcp && !s.swtpm) usage_error(what + "server needs ctrl");
  if (!s.mssim && s.unix_path.empty() && !s.swtpm) {
    usage_error(what + "no channel: give port=, mssim=, unix= and/or ctrl=");
  }
  return s;
}

struct Instance {
  InstanceSpec spec;
  std::string real_state;
  int lock_fd = -1;
  host::SecureNvStore nv;
  std::unique_ptr<host::HostPlatform> platform;
  std::unique_ptr<tpm::Tpm> tpm;
  std::unique_ptr<host::EngineLink> link;
  std::unique_ptr<host::ResourceManager> rm;
  std::unique_ptr<host::SwtpmTpm> swtpm;
  Instance() = default;
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;
  ~Instance() {
    swtpm.reset();
    rm.reset();
    link.reset();
    if (tpm) tpm->power_off();
    tpm.reset();
    if (lock_fd >= 0) ::close(lock_fd);
  }
};

int run_instances(const Options& opt) {
  const uint64_t t0 = host::monotonic_us();
  std::vector<InstanceSpec> specs;
  for (const std::string& text : opt.instance_specs) specs.push_back(parse_instance(text));
  for (size_t i = 0; i < specs.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (specs[i].name == specs[j].name) usage_error("two instances named " + specs[i].name);
    }
  }
  const int signal_fd = termination_signal_fd();
  if (signal_fd < 0) return 1;
  host::TraceRecorder recorder;
  if (!opt.trace_file.empty() || !opt.pcap_file.empty()) {
    std::string trace_error;
    if (!recorder.open({opt.trace_file, opt.pcap_file, opt.trace_secrets}, trace_error)) {
      std::fprintf(stderr, "utpmd: %s\n", trace_error.c_str());
      return 1;
    }
  }
  // Declared before the daemon: its connections refer to the instances' links.
  std::vector<std::unique_ptr<Instance>> instances;
  for (InstanceSpec& spec : specs) {
    auto in = std::make_unique<Instance>();
    in->spec = std::move(spec);
    const InstanceSpec& s = in->spec;
    if (!prepare_state_dir(s.state)) {
      std::fprintf(stderr, "utpmd: instance %s not started\n", s.name.c_str());
      return 1;
    }
    char real[PATH_MAX];
    in->real_state = ::realpath(s.state.c_str(), real) != nullptr ? real : s.state;
    for (const auto& other : instances) {
      if (other->real_state == in->real_state) {
        std::fprintf(stderr, "utpmd: instances %s and %s have the same state directory %s\n",
                     other->spec.name.c_str(), s.name.c_str(), in->real_state.c_str());
        return 2;
      }
    }
    in->lock_fd = lock_state_dir(s.state);
    if (in->lock_fd < 0) {
      std::fprintf(stderr, "utpmd: instance %s not started\n", s.name.c_str());
      return 1;
    }
    std::string nv_error;
    if (!in->nv.open({s.state, "", std::nullopt}, nv_error)) {
      std::fprintf(stderr, "utpmd: instance %s: %s; its TPM will report failure mode\n",
                   s.name.c_str(), nv_error.c_str());
    }
    in->platform = std::make_unique<host::HostPlatform>(in->nv);
    in->tpm = std::make_unique<tpm::Tpm>(*in->platform);
    in->tpm->power_on();
    if (in->tpm->in_failure_mode()) {
      std::fprintf(stderr, "utpmd: instance %s: TPM is in failure mode: %s\n", s.name.c_str(),
                   tpm::failure_cause_name(in->tpm->failure_cause()));
    }
    in->link = std::make_unique<host::TpmEngineLink>(*in->tpm, *in->platform,
                                                     opt.trace ? stderr : nullptr);
    if (recorder.active() && !opt.rm) {
      host::EngineLink& inner = *in->link;
      in->link = std::make_unique<host::TracingLink>(inner, recorder, std::move(in->link));
    }
    instances.push_back(std::move(in));
  }
  // One poll loop (Daemon) per thread; instance k is served by loop k mod N. Instances share
  // nothing mutable across loops (the engine has no globals; each instance has its own store,
  // platform, engine, RM and channels), so the loops need no locks.
  const size_t nloops = std::min<size_t>(opt.threads, instances.size());
  std::vector<std::unique_ptr<host::Daemon>> loops;
  for (size_t k = 0; k < nloops; ++k) {
    loops.push_back(std::make_unique<host::Daemon>(*instances[k]->link, profile::kMaxCommandSize,
                                                   opt.stall_timeout_ms, stderr, opt.trace));
    loops.back()->set_max_connections(opt.max_connections);
  }
  std::string error;
  for (size_t k = 0; k < instances.size(); ++k) {
    Instance& in = *instances[k];
    const InstanceSpec& s = in.spec;
    host::Daemon& daemon = *loops[k % nloops];
    daemon.begin_instance(s.name, *in.link);
    if (opt.rm) {
      in.rm = std::make_unique<host::ResourceManager>(*in.link, opt.trace ? stderr : nullptr);
      host::ResourceManager* rm = in.rm.get();
      if (recorder.active()) {
        daemon.set_connection_links([rm, &recorder]() -> std::unique_ptr<host::EngineLink> {
          auto conn = rm->connect();
          host::EngineLink& inner = *conn;
          return std::make_unique<host::TracingLink>(inner, recorder, std::move(conn));
        });
      } else {
        daemon.set_connection_links([rm] { return rm->connect(); });
      }
    }
    if (s.swtpm) {
      host::SwtpmTpm::Config cfg;
      cfg.state_dir = s.state;
      cfg.log = stderr;
      cfg.trace = opt.trace;
      std::string key_error;
      bool key_ok = host::SecureNvStore::load_or_create_key(
          s.state + "/nv.key", cfg.file_key.secret, key_error, !host::SecureNvStore::has_store(s.state));
      if (key_ok && !s.migration_key_file.empty()) key_ok = read_migration_key(s.migration_key_file, cfg, key_error);
      if (!key_ok) {
        std::fprintf(stderr, "utpmd: instance %s: %s\n", s.name.c_str(), key_error.c_str());
        return 1;
      }
      host::EngineLink* raw = in.link.get();
      host::ResourceManager* rmp = in.rm.get();
      in.swtpm = std::make_unique<host::SwtpmTpm>(
          *in.tpm, in.nv, *raw,
          [raw, rmp](host::PlatformSignal sig) {
            if (rmp) rmp->signal(sig);
            else raw->signal(sig);
          },
          std::move(cfg));
      crypto::zeroize(cfg.file_key.secret);
      host::SwtpmChannels where = s.swtpm_channels;
      where.stall_timeout_ms = opt.stall_timeout_ms;
      if (!host::serve_swtpm(daemon, *in.swtpm, where, error)) {
        std::fprintf(stderr, "utpmd: instance %s: %s\n", s.name.c_str(), error.c_str());
        return 1;
      }
    }
    if (s.mssim && !daemon.add_mssim(s.mssim_host, s.mssim_port, error)) {
      std::fprintf(stderr, "utpmd: instance %s: %s\n", s.name.c_str(), error.c_str());
      return 1;
    }
    if (!s.unix_path.empty() && !daemon.add_unix(s.unix_path, error)) {
      std::fprintf(stderr, "utpmd: instance %s: %s\n", s.name.c_str(), error.c_str());
      return 1;
    }
    std::string where;
    if (s.mssim) where += " mssim " + s.mssim_host + ":" + std::to_string(s.mssim_port);
    if (!s.unix_path.empty()) where += " unix " + s.unix_path;
    const auto& c = s.swtpm_channels;
    if (c.ctrl_type == "tcp") where += " ctrl tcp:" + c.ctrl_host + ":" + std::to_string(c.ctrl_port);
    if (c.ctrl_type == "unix") where += " ctrl unix:" + c.ctrl_path;
    if (c.data_tcp) where += " server tcp:" + c.data_host + ":" + std::to_string(c.data_port);
    std::fprintf(stderr, "utpmd: instance %s: state %s,%s\n", s.name.c_str(),
                 absolute(s.state).c_str(), where.c_str());
  }
  std::fprintf(stderr, "utpmd %s: %zu instances on %zu thread(s), %s, started in %llu ms\n",
               UTPM_VERSION, instances.size(), nloops,
               opt.rm ? "resource manager on (per-connection handles)" : "bare TPM (--no-rm)",
               static_cast<unsigned long long>((host::monotonic_us() - t0) / 1000u));
  std::fprintf(stderr, "utpmd: ready\n");
  std::fflush(stderr);
  for (size_t k = 0; k < instances.size(); ++k) {
    instances[k]->platform->set_cancel_poller(loops[k % nloops].get());
  }
  // Loop 0 runs here and reads the signals; the others stop when the pipe's write end closes
  // (their poll sees POLLHUP on the read end, read() returns 0).
  int stop_pipe[2] = {-1, -1};
  if (nloops > 1 && ::pipe2(stop_pipe, O_CLOEXEC) != 0) {
    std::perror("utpmd: pipe");
    return 1;
  }
  std::vector<int> rcs(nloops, 0);
  std::vector<std::thread> threads;
  for (size_t k = 1; k < nloops; ++k) {
    threads.emplace_back([&, k] { rcs[k] = loops[k]->run(stop_pipe[0]); });
  }
  rcs[0] = loops[0]->run(signal_fd);
  if (nloops > 1) ::close(stop_pipe[1]);
  for (auto& t : threads) t.join();
  if (nloops > 1) ::close(stop_pipe[0]);
  int rc = 0;
  for (const int r : rcs) rc = std::max(rc, r);
  for (auto& in : instances) in->platform->set_cancel_poller(nullptr);
  loops.clear();  // before the instances: their connections refer to the instances' links
  ::close(signal_fd);
  std::fprintf(stderr, "utpmd: stopped\n");
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  // swtpm's command line: `utpmd swtpm socket ...`, or utpmd invoked through a link named swtpm.
  const char* base = std::strrchr(argv[0], '/');
  base = base ? base + 1 : argv[0];
  Options parsed;
  if (std::strcmp(base, "swtpm") == 0 || (argc >= 2 && std::strcmp(argv[1], "swtpm") == 0)) {
    const int sub = std::strcmp(base, "swtpm") == 0 ? 1 : 2;
    if (argc > sub && (std::strcmp(argv[sub], "-h") == 0 || std::strcmp(argv[sub], "--help") == 0)) {
      std::fputs(kSwtpmUsage, stdout);
      return 0;
    }
    if (argc > sub && (std::strcmp(argv[sub], "-v") == 0 || std::strcmp(argv[sub], "--version") == 0)) {
      std::printf("TPM emulator version %s, utpmd (swtpm-compatible command line)\n", UTPM_VERSION);
      return 0;
    }
    if (argc <= sub || std::strcmp(argv[sub], "socket") != 0) {
      usage_error("as swtpm, only the 'socket' front end is supported (not chardev/cuse)");
    }
    parsed = parse_swtpm(argc, argv, sub + 1);
  } else {
    parsed = parse(argc, argv);
  }
  const Options& opt = parsed;
  if (!opt.instance_specs.empty()) return run_instances(opt);
  if (!opt.log_file.empty()) {
    const char* path = opt.log_file == "-" ? "/dev/null" : opt.log_file.c_str();
    if (std::freopen(path, opt.log_truncate ? "w" : "a", stderr) == nullptr) {
      std::fprintf(stdout, "utpmd: cannot open log file %s\n", path);
      return 1;
    }
  }

  if (!prepare_state_dir(opt.state)) return 1;
  if (opt.setup) {
    if (!opt.bridge_device.empty()) usage_error("--setup provisions a state directory, not a --bridge board");
    if (!run_setup(opt, argv[0])) return 1;
  }
  // Two daemons on one state directory would overwrite each other's NV.
  const int lock_fd = lock_state_dir(opt.state);
  if (lock_fd < 0) return 1;

  const int signal_fd = termination_signal_fd();
  if (signal_fd < 0) return 1;

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
    host::SecureNvStore::Options nv_opt{opt.state, "", std::nullopt};
    if (!opt.key_file.empty()) {
      std::array<uint8_t, 32> secret{};
      if (!read_key_file(opt.key_file, secret, nv_error)) {
        std::fprintf(stderr, "utpmd: %s\n", nv_error.c_str());
        return 1;
      }
      nv_opt.secret = secret;
      crypto::zeroize(secret);
    }
    if (!nv.open(nv_opt, nv_error))
      std::fprintf(stderr, "utpmd: %s; the TPM will report failure mode\n", nv_error.c_str());
    platform = std::make_unique<host::HostPlatform>(nv);
    tpm = std::make_unique<tpm::Tpm>(*platform);
    // swtpm's command line without not-need-init: the TPM runs from CMD_INIT on.
    if (!opt.swtpm_cli || opt.not_need_init) tpm->power_on();
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
  std::unique_ptr<host::SwtpmTpm> swtpm;
  if (opt.swtpm) {
    host::SwtpmTpm::Config cfg;
    cfg.state_dir = opt.state;
    cfg.startup = opt.startup;
    cfg.log = stderr;
    cfg.trace = opt.trace;
    std::string key_error;
    bool key_ok = true;
    if (nv_has_operator_secret(opt)) {
      key_ok = read_key_file(opt.key_file, cfg.file_key.secret, key_error);
    } else {
      key_ok = host::SecureNvStore::load_or_create_key(opt.state + "/nv.key", cfg.file_key.secret,
                                                       key_error,
                                                       !host::SecureNvStore::has_store(opt.state));
    }
    if (key_ok && !opt.migration_key_file.empty()) key_ok = read_migration_key(opt.migration_key_file, cfg, key_error);
    if (!key_ok) {
      std::fprintf(stderr, "utpmd: %s\n", key_error.c_str());
      return 1;
    }
    host::EngineLink* raw = link.get();
    host::ResourceManager* rmp = rm.get();
    swtpm = std::make_unique<host::SwtpmTpm>(
        *tpm, nv, *raw,
        [raw, rmp](host::PlatformSignal s) {
          if (rmp) rmp->signal(s);
          else raw->signal(s);
        },
        std::move(cfg));
    crypto::zeroize(cfg.file_key.secret);
    host::SwtpmChannels where = opt.swtpm_channels;
    where.stall_timeout_ms = opt.stall_timeout_ms;
    if (!host::serve_swtpm(daemon, *swtpm, where, error)) {
      std::fprintf(stderr, "utpmd: %s\n", error.c_str());
      return 1;
    }
    if (where.ctrl_type == "unix" && !opt.ctrl_mode.empty()) {
      const mode_t mode = static_cast<mode_t>(std::strtoul(opt.ctrl_mode.c_str(), nullptr, 8));
      if (::chmod(where.ctrl_path.c_str(), mode) != 0) {
        std::fprintf(stderr, "utpmd: chmod %s: %s\n", where.ctrl_path.c_str(), std::strerror(errno));
        return 1;
      }
    }
    if (where.ctrl_type == "unix" && (!opt.ctrl_uid.empty() || !opt.ctrl_gid.empty())) {
      const uid_t uid = opt.ctrl_uid.empty() ? static_cast<uid_t>(-1) : static_cast<uid_t>(std::atol(opt.ctrl_uid.c_str()));
      const gid_t gid = opt.ctrl_gid.empty() ? static_cast<gid_t>(-1) : static_cast<gid_t>(std::atol(opt.ctrl_gid.c_str()));
      if (::chown(where.ctrl_path.c_str(), uid, gid) != 0) {
        std::fprintf(stderr, "utpmd: chown %s: %s\n", where.ctrl_path.c_str(), std::strerror(errno));
        return 1;
      }
    }
    if (tpm->powered() && opt.swtpm_cli) swtpm->start_now();  // not-need-init: Startup now
  }
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

  host::VtpmDevice vtpm;
  if (opt.vtpm_proxy && !daemon.add_vtpm_proxy(opt.vtpmx, vtpm, error)) {
    std::fprintf(stderr, "utpmd: --vtpm-proxy: %s\n", error.c_str());
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
  if (opt.swtpm) {
    const auto& c = opt.swtpm_channels;
    if (c.ctrl_type == "tcp") {
      std::fprintf(stderr, "utpmd: swtpm control channel on %s:%u\n", c.ctrl_host.c_str(), unsigned{c.ctrl_port});
    } else if (c.ctrl_type == "unix") {
      std::fprintf(stderr, "utpmd: swtpm control channel on %s (data channel by SET_DATAFD)\n", c.ctrl_path.c_str());
    }
    if (c.data_tcp) {
      std::fprintf(stderr, "utpmd: swtpm data channel on %s:%u   -T swtpm:host=%s,port=%u\n",
                   c.data_host.c_str(), unsigned{c.data_port}, c.data_host.c_str(), unsigned{c.data_port});
    }
    if (!c.data_path.empty()) std::fprintf(stderr, "utpmd: swtpm data channel on %s\n", c.data_path.c_str());
    std::fprintf(stderr, "utpmd: swtpm TPM %s\n", tpm->powered() ? "running" : "waiting for CMD_INIT");
  }
  if (opt.vtpm_proxy) {
    // The kernel registers the device asynchronously: the nodes appear once it has talked to
    // us (startup, self test), i.e. shortly after "ready".
    std::fprintf(stderr,
                 "utpmd: vtpm-proxy /dev/tpm%u and /dev/tpmrm%u (device %u:%u; the kernel is their "
                 "resource manager)   -T device:/dev/tpmrm%u\n",
                 vtpm.tpm_num, vtpm.tpm_num, vtpm.major, vtpm.minor, vtpm.tpm_num);
  }
  std::fprintf(stderr, "utpmd: %s\n", opt.rm ? "resource manager on (per-connection handles)"
                                             : "bare TPM (--no-rm)");
  if (opt.daemonize) {
    std::fflush(stderr);
    const pid_t child = ::fork();
    if (child < 0) {
      std::perror("utpmd: fork");
      return 1;
    }
    if (child > 0) _exit(0);  // the listeners are up: the caller may connect at once
    ::setsid();
    // Detach from the caller's stdio (it may wait for EOF on a pipe); messages go to the log
    // file if one was given, else nowhere.
    const int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
      ::dup2(devnull, STDIN_FILENO);
      ::dup2(devnull, STDOUT_FILENO);
      if (opt.log_file.empty()) ::dup2(devnull, STDERR_FILENO);
      ::close(devnull);
    }
  }
  if (!opt.pid_file.empty()) {
    std::FILE* pf = std::fopen(opt.pid_file.c_str(), "w");
    if (pf == nullptr) {
      std::fprintf(stderr, "utpmd: cannot write pid file %s: %s\n", opt.pid_file.c_str(), std::strerror(errno));
      return 1;
    }
    std::fprintf(pf, "%d\n", static_cast<int>(::getpid()));
    std::fclose(pf);
  }
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
