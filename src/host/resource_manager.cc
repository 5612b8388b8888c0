#include "host/resource_manager.h"

#include <algorithm>
#include <cstring>

#include "tpm/core/command.h"

namespace utpm::host {

namespace {

constexpr uint16_t kStNoSessions = 0x8001;
constexpr uint16_t kStSessions = 0x8002;
constexpr uint32_t kCcContextLoad = 0x161;
constexpr uint32_t kCcContextSave = 0x162;
constexpr uint32_t kCcFlushContext = 0x165;
constexpr uint32_t kCcGetCapability = 0x17A;
constexpr uint32_t kCapHandles = 0x00000001;
constexpr uint32_t kRcSuccess = 0;
constexpr uint32_t kRcHandle = 0x08B;            // TPM_RC_HANDLE (format 1)
constexpr uint32_t kRcP = 0x040;                  // parameter, not handle
constexpr uint32_t kRcObjectMemory = 0x902;
constexpr uint32_t kRcContextGap = 0x901;
constexpr uint32_t kCcStartAuthSession = 0x176;
constexpr uint32_t kMaxCapHandles = 254;          // what fits TPM_CAP_HANDLES in our buffers

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
void put32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
void append32(std::vector<uint8_t>& v, uint32_t x) {
  const size_t at = v.size();
  v.resize(at + 4);
  put32(&v[at], x);
}
// A command header with no sessions: tag, size (filled by finish), code.
std::vector<uint8_t> header(uint32_t cc) {
  std::vector<uint8_t> c = {0x80, 0x01, 0, 0, 0, 0};
  append32(c, cc);
  return c;
}
void finish(std::vector<uint8_t>& c) { put32(&c[2], static_cast<uint32_t>(c.size())); }

size_t error_response(std::span<uint8_t> response, uint32_t rc) {
  const uint8_t r[10] = {0x80, 0x01, 0, 0, 0, 10, 0, 0, 0, 0};
  std::memcpy(response.data(), r, sizeof r);
  put32(&response[6], rc);
  return 10;
}

bool is_transient(uint32_t h) { return (h >> 24) == 0x80; }
bool is_session(uint32_t h) { return (h >> 24) == 0x02 || (h >> 24) == 0x03; }

class ConnectionLink final : public EngineLink {
 public:
  explicit ConnectionLink(ResourceManager& rm) : rm_(rm), id_(rm.open()) {}
  ~ConnectionLink() override { rm_.close(id_); }
  size_t execute(const char* channel, uint8_t locality, std::span<const uint8_t> command,
                 std::span<uint8_t> response) override {
    return rm_.execute(id_, channel, locality, command, response);
  }
  void signal(PlatformSignal s) override { rm_.signal(s); }
  void hash_start() override { rm_.engine().hash_start(); }
  void hash_data(std::span<const uint8_t> data) override { rm_.engine().hash_data(data); }
  void hash_end() override { rm_.engine().hash_end(); }
  void on_client_change() override {
    rm_.close(id_);
    id_ = rm_.open();
  }

 private:
  ResourceManager& rm_;
  uint32_t id_;
};

}  // namespace

std::unique_ptr<EngineLink> ResourceManager::connect() {
  return std::make_unique<ConnectionLink>(*this);
}

uint32_t ResourceManager::open() {
  const uint32_t id = next_id_++;
  clients_[id];
  return id;
}

size_t ResourceManager::objects() const {
  size_t n = 0;
  for (const auto& [id, c] : clients_) n += c.objects.size();
  return n;
}

size_t ResourceManager::sessions() const {
  size_t n = 0;
  for (const auto& [id, c] : clients_) n += c.sessions.size();
  return n;
}

void ResourceManager::close(uint32_t id) {
  const auto it = clients_.find(id);
  if (it == clients_.end()) return;
  Client& c = it->second;
  for (const Object& o : c.objects) {
    if (o.phys != 0) flush(o.phys);  // a swapped-out object is just forgotten
  }
  for (const OwnedSession& s : c.sessions) flush(s.handle);  // loaded or saved
  const size_t objects_left = c.objects.size();
  const size_t sessions_left = c.sessions.size();
  clients_.erase(it);
  if (trace_ && (objects_left != 0 || sessions_left != 0)) {
    std::fprintf(trace_,
                 "utpmd: rm: connection closed: flushed %zu object(s), %zu session(s); "
                 "holding %zu object(s), %zu session(s) for %zu connection(s)\n",
                 objects_left, sessions_left, objects(), sessions(), clients_.size());
    std::fflush(trace_);
  }
}

void ResourceManager::signal(PlatformSignal s) {
  engine_.signal(s);
  if (s == PlatformSignal::reset || s == PlatformSignal::restart ||
      s == PlatformSignal::power_off) {
    // _TPM_Init / power loss: nothing is loaded any more and saved contexts will not load.
    for (auto& [id, c] : clients_) {
      c.objects.clear();
      c.sessions.clear();
    }
  }
}

uint32_t ResourceManager::run(std::span<const uint8_t> command, size_t& n) {
  n = engine_.execute("rm", 0, command, scratch_);
  return n >= 10 ? be32(&scratch_[6]) : 0x101;  // TPM_RC_FAILURE if it ever were short
}

uint32_t ResourceManager::context_save(uint32_t handle, std::vector<uint8_t>& blob) {
  std::vector<uint8_t> c = header(kCcContextSave);
  append32(c, handle);
  finish(c);
  size_t n = 0;
  const uint32_t rc = run(c, n);
  if (rc == kRcSuccess) blob.assign(scratch_.begin() + 10, scratch_.begin() + static_cast<std::ptrdiff_t>(n));
  return rc;
}

uint32_t ResourceManager::context_load(const std::vector<uint8_t>& blob, uint32_t& handle) {
  std::vector<uint8_t> c = header(kCcContextLoad);
  c.insert(c.end(), blob.begin(), blob.end());
  finish(c);
  size_t n = 0;
  const uint32_t rc = run(c, n);
  if (rc == kRcSuccess && n >= 14) handle = be32(&scratch_[10]);
  return rc;
}

void ResourceManager::flush(uint32_t handle) {
  std::vector<uint8_t> c = header(kCcFlushContext);
  append32(c, handle);
  finish(c);
  size_t n = 0;
  (void)run(c, n);
}

// Re-gap: the oldest session context the RM holds (smallest sequence: sequences only grow
// between platform resets, which empty the RM) is loaded and saved again, under the newest
// sequence. False if there is none, or it did not load or save (then nothing better can be
// done here: the refused operation is answered as the TPM answered it).
bool ResourceManager::regap() {
  OwnedSession* oldest = nullptr;
  uint64_t oldest_seq = 0;
  for (auto& [id, c] : clients_) {
    for (OwnedSession& s : c.sessions) {
      if (s.loaded || s.blob.size() < 8) continue;
      uint64_t seq = 0;
      for (int i = 0; i < 8; ++i) seq = seq << 8 | s.blob[static_cast<size_t>(i)];
      if (oldest == nullptr || seq < oldest_seq) {
        oldest = &s;
        oldest_seq = seq;
      }
    }
  }
  if (oldest == nullptr) return false;
  uint32_t h = 0;
  if (context_load(oldest->blob, h) != kRcSuccess) return false;
  std::vector<uint8_t> blob;
  if (context_save(oldest->handle, blob) != kRcSuccess) {
    oldest->loaded = true;  // the oldest is someone else's: keep ours loaded, saved later
    return false;
  }
  oldest->blob.swap(blob);
  ++regaps_;
  if (trace_) {
    std::fprintf(trace_, "utpmd: rm: context gap: session 0x%08x re-saved (sequence %llu)\n", oldest->handle,
                 static_cast<unsigned long long>(oldest_seq));
    std::fflush(trace_);
  }
  return true;
}

template <class Retry>
uint32_t ResourceManager::after_regaps(uint32_t rc, Retry retry) {
  // Each re-gap moves one held session to the newest sequence, so past as many re-gaps as the
  // RM holds sessions, the oldest saved session is not ours and nothing more can be done here.
  for (size_t i = 0; rc == kRcContextGap && i <= sessions() && regap(); ++i) rc = retry();
  return rc;
}

bool ResourceManager::ensure_loaded(Object& o) {
  if (o.phys != 0) return true;
  uint32_t h = 0;
  if (context_load(o.blob, h) != kRcSuccess || !is_transient(h)) return false;
  o.phys = h;
  return true;
}

void ResourceManager::ensure_session(Client& c, uint32_t handle) {
  for (OwnedSession& s : c.sessions) {
    if (s.handle != handle || s.loaded) continue;
    uint32_t h = 0;
    // A session that will not load (it cannot fail but for a reset we did not see, or a
    // context gap we cannot close): the command then fails on it as on a bare TPM.
    const uint32_t rc = after_regaps(context_load(s.blob, h), [&] { return context_load(s.blob, h); });
    if (rc == kRcSuccess) s.loaded = true;
  }
}

void ResourceManager::save_all(Client& c) {
  std::vector<uint8_t> blob;
  std::erase_if(c.objects, [&](Object& o) {
    if (o.phys == 0) return false;
    const uint32_t rc = context_save(o.phys, blob);
    flush(o.phys);  // saved or not, the slot is freed (a failed save: the object is gone)
    if (rc != kRcSuccess) return true;
    o.blob.swap(blob);
    o.phys = 0;
    return false;
  });
  // Saved in place first (a re-gap reads and updates other entries, of this connection too,
  // so nothing may move meanwhile), the sessions that are gone dropped afterwards.
  std::vector<uint32_t> gone;
  for (OwnedSession& s : c.sessions) {
    if (!s.loaded) continue;
    const uint32_t rc = after_regaps(context_save(s.handle, blob), [&] { return context_save(s.handle, blob); });
    if (rc == kRcSuccess) {
      s.blob.swap(blob);
      s.loaded = false;
      continue;
    }
    // Gone (ended with continueSession clear, or flushed): forget it. Any other failure
    // (a context gap no re-gap closed, too many contexts) leaves it loaded; the next command
    // retries.
    const bool handle_error = (rc & 0x80) != 0 && (rc & 0x3F) == (kRcHandle & 0x3F);
    if (handle_error || rc == 0x910 /* TPM_RC_REFERENCE_H0 */) gone.push_back(s.handle);
  }
  std::erase_if(c.sessions, [&](const OwnedSession& s) {
    return s.loaded && std::find(gone.begin(), gone.end(), s.handle) != gone.end();
  });
}

const ResourceManager::OwnedSession* ResourceManager::owner_of(uint32_t session,
                                                               uint32_t& owner) const {
  for (const auto& [id, c] : clients_) {
    for (const OwnedSession& s : c.sessions) {
      if (s.handle == session) {
        owner = id;
        return &s;
      }
    }
  }
  return nullptr;
}

size_t ResourceManager::flush_context(uint32_t id, Client& c, std::span<const uint8_t> command,
                                      std::span<uint8_t> response, const char* channel,
                                      uint8_t locality) {
  const uint32_t h = be32(&command[10]);
  const uint32_t rc_param1 = kRcHandle | kRcP | (1u << 8);
  if (is_transient(h)) {
    const auto it = std::find_if(c.objects.begin(), c.objects.end(),
                                 [h](const Object& o) { return o.vhandle == h; });
    if (it == c.objects.end()) return error_response(response, rc_param1);
    if (it->phys != 0) flush(it->phys);
    c.objects.erase(it);
    return error_response(response, kRcSuccess);
  }
  if (is_session(h)) {
    uint32_t owner = 0;
    if (owner_of(h, owner) != nullptr && owner != id) {
      return error_response(response, rc_param1);  // another connection's session
    }
  }
  // Ours, or a session no connection owns (saved by a client to a file): the TPM decides.
  const size_t n = engine_.execute(channel, locality, command, response);
  if (n >= 10 && be32(&response[6]) == kRcSuccess) {
    std::erase_if(c.sessions, [h](const OwnedSession& s) { return s.handle == h; });
  }
  return n;
}

size_t ResourceManager::list_transients(const Client& c, uint32_t first, uint32_t count,
                                        std::span<uint8_t> response) const {
  std::vector<uint32_t> hs;
  for (const Object& o : c.objects) {
    if (o.vhandle >= first) hs.push_back(o.vhandle);
  }
  std::sort(hs.begin(), hs.end());
  const size_t take = std::min<size_t>({hs.size(), count, kMaxCapHandles});
  const size_t n = 10 + 1 + 4 + 4 + 4 * take;
  if (n > response.size()) return error_response(response, 0x101);
  error_response(response, kRcSuccess);
  put32(&response[2], static_cast<uint32_t>(n));
  response[10] = take < hs.size() ? 1 : 0;  // moreData
  put32(&response[11], kCapHandles);
  put32(&response[15], static_cast<uint32_t>(take));
  for (size_t i = 0; i < take; ++i) put32(&response[19 + 4 * i], hs[i]);
  return n;
}

size_t ResourceManager::execute(uint32_t id, const char* channel, uint8_t locality,
                                std::span<const uint8_t> command, std::span<uint8_t> response) {
  Client& c = clients_[id];
  // Anything the engine will refuse by its header goes to it untouched (it answers precisely).
  if (command.size() < 10 || be32(&command[2]) != command.size()) {
    return engine_.execute(channel, locality, command, response);
  }
  const uint16_t tag = be16(&command[0]);
  const uint32_t cc = be32(&command[6]);
  const tpm::CommandInfo* info = tpm::find_command(cc);
  const size_t handles = info != nullptr ? info->handle_count : 0;
  if ((tag != kStNoSessions && tag != kStSessions) || info == nullptr ||
      command.size() < 10 + 4 * handles) {
    return engine_.execute(channel, locality, command, response);
  }

  if (cc == kCcFlushContext && command.size() == 14) {
    return flush_context(id, c, command, response, channel, locality);
  }
  if (cc == kCcGetCapability && tag == kStNoSessions && command.size() == 22 &&
      be32(&command[10]) == kCapHandles && is_transient(be32(&command[14]))) {
    return list_transients(c, be32(&command[14]), be32(&command[18]), response);
  }

  std::vector<uint8_t> cmd(command.begin(), command.end());
  uint32_t rc = kRcSuccess;
  for (size_t i = 0; i < handles && rc == kRcSuccess; ++i) {
    const uint32_t h = be32(&cmd[10 + 4 * i]);
    if (is_transient(h)) {
      const auto it = std::find_if(c.objects.begin(), c.objects.end(),
                                   [h](const Object& o) { return o.vhandle == h; });
      if (it == c.objects.end() || !ensure_loaded(*it)) {
        rc = kRcHandle | static_cast<uint32_t>((i + 1) << 8);  // TPM_RC_HANDLE + H<i+1>
        break;
      }
      put32(&cmd[10 + 4 * i], it->phys);
    } else if (is_session(h)) {
      ensure_session(c, h);  // a policy session in the handle area
    }
  }
  if (rc == kRcSuccess && tag == kStSessions && cmd.size() >= 14 + 4 * handles) {
    // The authorization area: handle, nonce (TPM2B), attributes, hmac (TPM2B) per session.
    size_t p = 10 + 4 * handles;
    const size_t end = std::min(cmd.size(), p + 4 + size_t{be32(&cmd[p])});
    p += 4;
    while (p + 4 + 2 <= end) {
      const uint32_t sh = be32(&cmd[p]);
      if (is_session(sh)) ensure_session(c, sh);
      p += 4;
      p += 2 + be16(&cmd[p]);
      p += 1;
      if (p + 2 > end) break;
      p += 2 + be16(&cmd[p]);
    }
  }
  size_t n = 0;
  if (rc != kRcSuccess) {
    n = error_response(response, rc);
  } else {
    n = engine_.execute(channel, locality, cmd, response);
    // Refused for the context gap (nothing done): re-gap and run it again.
    if (cc == kCcStartAuthSession || cc == kCcContextLoad || cc == kCcContextSave) {
      const auto rc_of = [&] { return n >= 10 ? be32(&response[6]) : 0x101u; };  // short: not a gap
      after_regaps(rc_of(), [&] {
        n = engine_.execute(channel, locality, cmd, response);
        return rc_of();
      });
    }
    const bool ok = n >= 10 && be32(&response[6]) == kRcSuccess;
    if (ok && (info->flags & tpm::kCmdRHandle) != 0 && n >= 14) {
      const uint32_t h = be32(&response[10]);
      if (is_transient(h)) {
        if (c.objects.size() >= kMaxObjectsPerConnection) {
          flush(h);
          n = error_response(response, kRcObjectMemory);
        } else {
          const uint32_t v = c.next_vhandle++;
          if (c.next_vhandle == 0x81000000) c.next_vhandle = 0x80000000;
          c.objects.push_back({v, h, {}});
          put32(&response[10], v);
        }
      } else if (is_session(h)) {
        std::erase_if(c.sessions, [h](const OwnedSession& s) { return s.handle == h; });
        c.sessions.push_back({h, true, {}});
      }
    }
    if (ok && cc == kCcContextSave && handles == 1) {
      // A session the client saved is the client's now (to load in a later connection).
      const uint32_t h = be32(&command[10]);
      if (is_session(h)) {
        std::erase_if(c.sessions, [h](const OwnedSession& s) { return s.handle == h; });
      }
    }
  }
  save_all(c);
  return n;
}

}  // namespace utpm::host
