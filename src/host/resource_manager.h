// Resource management for utpmd's client connections, as the kernel's /dev/tpmrm0 does it: each
// connection sees its own TPM with its own transient objects and sessions, and whatever it
// leaves behind is flushed when it goes, so any number of tools can run one after another (or
// at once) without TPM2_FlushContext and without running out of the TPM's few slots.
//
// How (README.md "Resource management"):
//   - Transient objects get virtual handles per connection (0x80000000, 0x80000001, ... in the
//     order the connection creates or loads them, never reused within the connection). Handles
//     in a command's handle area (count from the engine's command table), FlushContext's
//     parameter and the handle a command returns (CreatePrimary, Load, LoadExternal,
//     CreateLoaded, ContextLoad, HashSequenceStart, HMAC_Start) are translated.
//     GetCapability(TPM_CAP_HANDLES, transient range) lists the connection's own virtual handles.
//   - Sessions keep their TPM handle (unique in the TPM anyway, as in the kernel); the RM
//     records which connection owns which session.
//   - Between commands nothing of any connection is loaded: after every command the RM saves
//     the connection's loaded objects and sessions (ContextSave; objects then FlushContext),
//     and before a command it loads (ContextLoad) just the ones the command names in its handle
//     and session areas. So every command starts with all the TPM's slots free (the kernel's
//     approach; chosen over lazy swapping for its simple invariant: the cost is one
//     ContextLoad + ContextSave (+ FlushContext) per object or session a command uses).
//     A save that fails tells the RM the entity is gone (a completed sequence, a session ended
//     with continueSession clear): it is forgotten.
//   - A session the client itself saves (ContextSave, e.g. tpm2_startauthsession -S file) is
//     the client's from then on: the RM no longer owns it and does not flush it at close, so a
//     later connection can ContextLoad it (and then owns it until it saves it again).
//   - At close: the connection's objects are dropped (flushed if loaded) and its sessions
//     flushed. A platform reset/restart/power-off forgets every connection's contexts.
//   - Session context gap (Part 1 "Context Management"): a session the RM keeps saved while
//     others are saved tens of thousands of times becomes the TPM's oldest saved context, and
//     the TPM then refuses session saves (and the use of its last free session slot) with
//     TPM_RC_CONTEXT_GAP. On that answer -- to the RM's own ContextSave/ContextLoad or to a
//     client's StartAuthSession/ContextLoad/ContextSave -- the RM re-gaps: it loads the oldest
//     session context it holds (of any connection) and saves it again, so it becomes the
//     newest, then repeats what was refused. Sessions a client saved itself are not in the RM's
//     hands: if one of those is the oldest, the client gets TPM_RC_CONTEXT_GAP as from a bare
//     TPM.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "host/engine_link.h"

namespace utpm::host {

class ResourceManager {
 public:
  // Transient objects one connection may hold (loaded or swapped out) before a command that
  // creates another one is answered TPM_RC_OBJECT_MEMORY (the contexts live in utpmd's memory).
  static constexpr size_t kMaxObjectsPerConnection = 64;

  // `trace` (may be nullptr): one line per connection closed, with what it left.
  explicit ResourceManager(EngineLink& engine, std::FILE* trace = nullptr)
      : engine_(engine), trace_(trace) {}
  ResourceManager(const ResourceManager&) = delete;
  ResourceManager& operator=(const ResourceManager&) = delete;

  // A new connection: its id.
  uint32_t open();
  // The connection is gone: flushes its objects and its sessions.
  void close(uint32_t id);
  // Runs one command of connection `id` (EngineLink::execute contract).
  size_t execute(uint32_t id, const char* channel, uint8_t locality,
                 std::span<const uint8_t> command, std::span<uint8_t> response);
  // Platform signals go to the engine; a reset, restart or power-off forgets every context.
  void signal(PlatformSignal s);
  // The engine behind the manager (H-CRTM indications go to it directly: they belong to no
  // connection).
  EngineLink& engine() { return engine_; }

  // An EngineLink for one connection: open() now, close() when destroyed, a new connection on
  // on_client_change().
  std::unique_ptr<EngineLink> connect();

  // What the RM holds now, for tests and the trace.
  size_t connections() const { return clients_.size(); }
  size_t objects() const;   // transient objects of all connections (all swapped out between commands)
  size_t sessions() const;  // sessions owned by connections
  size_t regaps() const { return regaps_; }  // oldest sessions re-saved for the context gap

 private:
  struct Object {
    uint32_t vhandle;
    uint32_t phys;  // 0: swapped out (in `blob`)
    std::vector<uint8_t> blob;  // TPMS_CONTEXT as ContextSave returned it
  };
  struct OwnedSession {
    uint32_t handle;
    bool loaded;
    std::vector<uint8_t> blob;
  };
  struct Client {
    uint32_t next_vhandle = 0x80000000;
    std::vector<Object> objects;
    std::vector<OwnedSession> sessions;
  };

  // Internal commands; each returns the response code.
  uint32_t run(std::span<const uint8_t> command, size_t& n);
  uint32_t context_save(uint32_t handle, std::vector<uint8_t>& blob);
  uint32_t context_load(const std::vector<uint8_t>& blob, uint32_t& handle);
  void flush(uint32_t handle);

  bool regap();
  // rc, or while it is TPM_RC_CONTEXT_GAP and a re-gap succeeds (a bounded number of times),
  // what retry() answers.
  template <class Retry>
  uint32_t after_regaps(uint32_t rc, Retry retry);
  bool ensure_loaded(Object& o);
  void ensure_session(Client& c, uint32_t handle);
  void save_all(Client& c);
  const OwnedSession* owner_of(uint32_t session, uint32_t& owner) const;
  size_t flush_context(uint32_t id, Client& c, std::span<const uint8_t> command,
                       std::span<uint8_t> response, const char* channel, uint8_t locality);
  size_t list_transients(const Client& c, uint32_t first, uint32_t count,
                         std::span<uint8_t> response) const;

  EngineLink& engine_;
  std::FILE* trace_;
  std::map<uint32_t, Client> clients_;
  uint32_t next_id_ = 1;
  size_t regaps_ = 0;
  std::vector<uint8_t> scratch_ = std::vector<uint8_t>(8192);
};

}  // namespace utpm::host
