#include "tools/utpm/decode.h"

#include <cstdio>
#include <functional>

#include "tools/utpm/names.h"
#include "tpm/marshal/buffer.h"
#include "tpm/core/command.h"
#include "tpm/marshal/describe.h"
#include "tpm/schema/command_schema.h"

namespace utpm::tool {
namespace {

using tpm::describe::Leaf;
using tpm::describe::Name;
using tpm::describe::Node;

std::string hex(std::span<const uint8_t> b) {
  std::string s;
  for (uint8_t x : b) {
    char t[3];
    std::snprintf(t, sizeof t, "%02x", x);
    s += t;
  }
  return s;
}
std::string hexnum(uint64_t v, int digits) {
  char t[24];
  std::snprintf(t, sizeof t, "0x%0*llx", digits, static_cast<unsigned long long>(v));
  return t;
}
uint64_t be(std::span<const uint8_t> b) {
  uint64_t v = 0;
  for (uint8_t x : b) v = v << 8 | x;
  return v;
}
std::string str(Name n) {
  if (n.index >= 0) return "[" + std::to_string(n.index) + "]";
  return std::string(n.p, n.n);
}
std::string rc_reason(uint32_t rc) {
  switch (rc) {
    case 0x09A: return "input ends inside this field (TPM_RC_INSUFFICIENT)";
    case 0x095: return "size or count out of range (TPM_RC_SIZE)";
    case 0x098: return "no union arm for this selector (TPM_RC_SELECTOR)";
  }
  return "value refused: " + rc_name(rc) + " (" + rc_explain(rc) + ")";
}

// Meaning of a leaf from its kind, or from its field name for plain integers.
std::string note_for(Leaf kind, const std::string& name, uint64_t v, size_t size) {
  switch (kind) {
    case Leaf::alg: return alg_name(static_cast<uint32_t>(v));
    case Leaf::curve: return curve_name(static_cast<uint32_t>(v));
    case Leaf::handle: return handle_name(static_cast<uint32_t>(v));
    case Leaf::yes_no: return v == 1 ? "YES" : v == 0 ? "NO" : "";
    case Leaf::st: return st_name(static_cast<uint32_t>(v));
    case Leaf::su: return su_name(static_cast<uint32_t>(v));
    case Leaf::se: return se_name(static_cast<uint32_t>(v));
    case Leaf::attr_object: return object_attributes(static_cast<uint32_t>(v));
    case Leaf::attr_nv: return nv_attributes(static_cast<uint32_t>(v));
    case Leaf::cc: return cc_name(static_cast<uint32_t>(v));
    case Leaf::locality: return locality_attributes(static_cast<uint32_t>(v));
    case Leaf::cap: return cap_name(static_cast<uint32_t>(v));
    case Leaf::rc: return rc_name(static_cast<uint32_t>(v));
    case Leaf::pt: return pt_name(static_cast<uint32_t>(v));
    default: break;
  }
  if (size == 2 && (name == "parentNameAlg" || name == "alg")) return alg_name(static_cast<uint32_t>(v));
  if (size == 2 && name == "curveID") return curve_name(static_cast<uint32_t>(v));
  if (size == 2 && name == "tag") return st_name(static_cast<uint32_t>(v));
  if (size == 4 && (name == "hierarchy" || name == "savedHandle" || name == "handle"))
    return handle_name(static_cast<uint32_t>(v));
  if (size == 1 && name == "locality") return locality_attributes(static_cast<uint32_t>(v));
  return "";
}

// Builds the Field tree from the describe walk.
struct TreeBuilder final : tpm::describe::Visitor {
  std::vector<Field*> stack;
  size_t shift = 0;  // offset of the walked area in the whole input
  std::string error_path;
  size_t error_offset = 0;
  uint32_t error_rc = 0;
  bool failed = false;

  explicit TreeBuilder(Field& root) { stack.push_back(&root); }
  std::string path_of(const std::string& leaf_name) const {
    std::string s;
    for (size_t i = 1; i < stack.size(); ++i) s += stack[i]->name + ".";
    return s + leaf_name;
  }
  void begin(Name name, Node, size_t offset, uint32_t) override {
    Field f;
    f.name = str(name);
    f.offset = offset + shift;
    stack.back()->children.push_back(std::move(f));
    stack.push_back(&stack.back()->children.back());
  }
  void end(size_t offset) override {
    stack.back()->size = offset + shift - stack.back()->offset;
    stack.pop_back();
  }
  void leaf(Name name, Leaf kind, size_t offset, std::span<const uint8_t> bytes) override {
    Field f;
    f.name = str(name);
    f.offset = offset + shift;
    f.size = bytes.size();
    f.leaf = true;
    if (kind == Leaf::tpm2b) {
      f.value = hex(bytes.subspan(2));
      f.note = std::to_string(bytes.size() - 2) + " octets";
    } else if (kind == Leaf::octets || bytes.size() > 8 || bytes.empty()) {
      f.value = hex(bytes);
    } else {
      const uint64_t v = be(bytes);
      f.value = hexnum(v, static_cast<int>(2 * bytes.size()));
      f.note = note_for(kind, f.name, v, bytes.size());
      if (f.note.empty() && kind == Leaf::integer) f.note = std::to_string(v);
    }
    stack.back()->children.push_back(std::move(f));
  }
  void refused(Name, size_t, tpm::TPM_RC rc) override {
    Field& f = stack.back()->children.back();
    f.note += std::string(f.note.empty() ? "" : "  ") + "[refused by utpm: " + rc_name(rc) + "]";
  }
  void error(Name name, size_t offset, tpm::TPM_RC rc) override {
    failed = true;
    error_path = path_of(str(name));
    error_offset = offset + shift;
    error_rc = rc;
  }
};

// A cursor over the whole input that records leaves of the fixed areas (header, handles,
// sessions) and stops with a position and reason.
struct Cursor {
  std::span<const uint8_t> in;
  size_t pos = 0;
  Decoded& d;
  bool fail(const std::string& path, size_t at, const std::string& why) {
    d.ok = false;
    d.error_offset = at;
    d.error_path = path;
    d.error_reason = why;
    return false;
  }
  bool num(Field& parent, const std::string& name, size_t n, uint64_t& v, const std::string& type,
           const std::function<std::string(uint64_t)>& note = nullptr) {
    if (in.size() - pos < n) return fail(parent.name.empty() ? name : parent.name + "." + name, pos,
                                         "input ends inside this field (" + std::to_string(in.size() - pos) +
                                             " of " + std::to_string(n) + " octets)");
    v = be(in.subspan(pos, n));
    Field f;
    f.name = name;
    f.type = type;
    f.offset = pos;
    f.size = n;
    f.leaf = true;
    f.value = hexnum(v, static_cast<int>(2 * n));
    f.note = note ? note(v) : std::to_string(v);
    parent.children.push_back(std::move(f));
    pos += n;
    return true;
  }
  bool tpm2b(Field& parent, const std::string& name, const std::string& type, std::span<const uint8_t>& out) {
    const std::string path = parent.name + "." + name;
    if (in.size() - pos < 2) return fail(path, pos, "input ends inside the size");
    const size_t n = static_cast<size_t>(be(in.subspan(pos, 2)));
    if (in.size() - pos - 2 < n)
      return fail(path, pos, "size " + std::to_string(n) + " but " + std::to_string(in.size() - pos - 2) +
                                 " octets follow");
    Field f;
    f.name = name;
    f.type = type;
    f.offset = pos;
    f.size = 2 + n;
    f.leaf = true;
    out = in.subspan(pos + 2, n);
    f.value = hex(out);
    f.note = std::to_string(n) + " octets";
    parent.children.push_back(std::move(f));
    pos += 2 + n;
    return true;
  }
};

Field& add_node(Field& parent, const std::string& name, size_t offset) {
  Field f;
  f.name = name;
  f.offset = offset;
  parent.children.push_back(std::move(f));
  return parent.children.back();
}

void put_u(std::vector<uint8_t>& out, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// Whether the first parameter is encrypted: a session asks for it and the command allows it
// (Part 1 §21: only a first parameter that is a TPM2B). Its octets are then not the type's
// layout: they are shown and re-encoded as they are.
bool first_param_encrypted(uint32_t code, uint64_t attrs_any, bool response) {
  const tpm::CommandInfo* info = tpm::find_command(code);
  if (!info) return false;
  return response ? (attrs_any & tpm::TPMA_SESSION_encrypt) && (info->flags & tpm::kCmdEncrypt)
                  : (attrs_any & tpm::TPMA_SESSION_decrypt) && (info->flags & tpm::kCmdDecrypt);
}

// Parameters per schema: each walked with the engine's declarations and marshalled again.
// first_encrypted: the first one (a TPM2B) is ciphertext, kept as octets.
bool walk_params(Cursor& c, Field& parent, const tpm::schema::Param* params, size_t count, size_t end,
                 std::vector<uint8_t>& reenc, bool first_encrypted) {
  size_t first = 0;
  if (first_encrypted && count > 0) {
    Cursor pc{c.in.first(end), c.pos, c.d};
    std::span<const uint8_t> octets;
    if (!pc.tpm2b(parent, params[0].name, params[0].type, octets)) return false;  // pc recorded where and why
    Field& f = parent.children.back();
    f.type = std::string(params[0].type) + ", encrypted";
    f.note = std::to_string(octets.size()) + " octets, encrypted by a session (parameter encryption)";
    put_u(reenc, octets.size(), 2);
    reenc.insert(reenc.end(), octets.begin(), octets.end());
    c.pos = pc.pos;
    first = 1;
  }
  std::span<const uint8_t> area = c.in.subspan(c.pos, end - c.pos);
  tpm::Reader r(area);
  std::vector<uint8_t> buf(1 << 16);
  for (size_t i = first; i < count; ++i) {
    const size_t before = area.size() - r.remaining();
    Field holder;
    holder.name = parent.name;
    TreeBuilder tb(holder);
    tb.shift = c.pos;
    tpm::Writer w(buf);
    const tpm::TPM_RC rc = params[i].walk(tb, area.data(), r, tpm::describe::name_of(params[i].name), &w);
    if (rc != 0 || tb.failed) {
      for (Field& f : holder.children) parent.children.push_back(std::move(f));
      return c.fail(parent.name + "." + tb.error_path, tb.error_offset, rc_reason(tb.error_rc ? tb.error_rc : rc));
    }
    // A leaf parameter is one child; a composite one its node: label it with the type.
    for (Field& f : holder.children) {
      f.type = params[i].type;
      if (f.name.empty()) f.name = params[i].name;
      parent.children.push_back(std::move(f));
    }
    (void)before;
    reenc.insert(reenc.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(w.size()));
  }
  c.pos += area.size() - r.remaining();
  if (c.pos != end)
    return c.fail(parent.name, c.pos, std::to_string(end - c.pos) + " octets left after the last parameter");
  return true;
}

std::string cc_note(uint64_t v) {
  std::string n = cc_name(static_cast<uint32_t>(v));
  if (n.empty())  // a vendor command of utpm's own (the firmware's diagnostics)
    if (const tpm::schema::CommandSchema* s = tpm::schema::find_schema(static_cast<uint32_t>(v))) n = s->name;
  return n.empty() ? "unknown command code" : n;
}

}  // namespace

Decoded decode_command(std::span<const uint8_t> in) {
  Decoded d;
  d.root.name = "command";
  d.payload.assign(in.begin(), in.end());
  Cursor c{in, 0, d};
  Field& hdr = add_node(d.root, "header", 0);
  uint64_t tag = 0, size = 0, cc = 0;
  if (!c.num(hdr, "tag", 2, tag, "TPMI_ST_COMMAND_TAG", [](uint64_t v) { return st_name(uint32_t(v)); }) ||
      !c.num(hdr, "commandSize", 4, size, "UINT32") ||
      !c.num(hdr, "commandCode", 4, cc, "TPM_CC", cc_note))
    return d;
  hdr.size = 10;
  d.command_code = static_cast<uint32_t>(cc);
  if (tag != 0x8001 && tag != 0x8002) return c.fail("header.tag", 0, "not a command tag (TPM_ST_NO_SESSIONS or TPM_ST_SESSIONS)"), d;
  if (size != in.size())
    return c.fail("header.commandSize", 2, "commandSize " + std::to_string(size) + " but " +
                                               std::to_string(in.size()) + " octets given"), d;
  const tpm::schema::CommandSchema* s = tpm::schema::find_schema(static_cast<uint32_t>(cc));
  if (!s) return c.fail("header.commandCode", 6, "command code " + hexnum(cc, 8) + " (" + cc_note(cc) +
                                                     ") is not implemented by utpm: its parameters are unknown"), d;
  std::vector<uint8_t>& re = d.reencoded;
  put_u(re, tag, 2);
  put_u(re, size, 4);
  put_u(re, cc, 4);
  Field& handles = add_node(d.root, "handles", c.pos);
  for (size_t i = 0; i < s->handle_count(); ++i) {
    uint64_t h = 0;
    if (!c.num(handles, str(tpm::schema::handle_name(s->handles, i)), 4, h, "TPM_HANDLE",
               [](uint64_t v) { return handle_name(uint32_t(v)); }))
      return d;
    handles.children.back().type = "TPMI_*";
    put_u(re, h, 4);
  }
  uint64_t attrs_any = 0;  // the sessions' attributes, or-ed
  if (tag == 0x8002) {
    uint64_t auth_size = 0;
    Field& auth = add_node(d.root, "authorization", c.pos);
    if (!c.num(auth, "authorizationSize", 4, auth_size, "UINT32")) return d;
    put_u(re, auth_size, 4);
    const size_t auth_end = c.pos + auth_size;
    if (auth_size > in.size() - c.pos) return c.fail("authorization.authorizationSize", c.pos - 4, "larger than the rest of the command"), d;
    for (int i = 0; c.pos < auth_end; ++i) {
      Field& sess = add_node(auth, "[" + std::to_string(i) + "]", c.pos);
      sess.type = "TPMS_AUTH_COMMAND";
      sess.name = "authorization.[" + std::to_string(i) + "]";
      uint64_t h = 0, attrs = 0;
      std::span<const uint8_t> nonce, hmac;
      Cursor sc{in.first(auth_end), c.pos, d};
      if (!sc.num(sess, "sessionHandle", 4, h, "TPMI_SH_AUTH_SESSION", [](uint64_t v) { return handle_name(uint32_t(v)); }) ||
          !sc.tpm2b(sess, "nonce", "TPM2B_NONCE", nonce) ||
          !sc.num(sess, "sessionAttributes", 1, attrs, "TPMA_SESSION", [](uint64_t v) { return session_attributes(uint32_t(v)); }) ||
          !sc.tpm2b(sess, "hmac", "TPM2B_AUTH", hmac))
        return d;
      sess.name = "[" + std::to_string(i) + "]";
      attrs_any |= attrs;
      c.pos = sc.pos;
      put_u(re, h, 4);
      put_u(re, nonce.size(), 2);
      re.insert(re.end(), nonce.begin(), nonce.end());
      put_u(re, attrs, 1);
      put_u(re, hmac.size(), 2);
      re.insert(re.end(), hmac.begin(), hmac.end());
    }
    if (c.pos != auth_end) return c.fail("authorization", c.pos, "sessions do not end at authorizationSize"), d;
  }
  Field& params = add_node(d.root, "parameters", c.pos);
  if (!walk_params(c, params, s->in, s->in_count(), in.size(), re,
                   first_param_encrypted(static_cast<uint32_t>(cc), attrs_any, false)))
    return d;
  d.ok = true;
  return d;
}

Decoded decode_response(std::span<const uint8_t> in, uint32_t command_code) {
  Decoded d;
  d.is_response = true;
  d.command_code = command_code;
  d.root.name = "response";
  d.payload.assign(in.begin(), in.end());
  Cursor c{in, 0, d};
  Field& hdr = add_node(d.root, "header", 0);
  uint64_t tag = 0, size = 0, rc = 0;
  if (!c.num(hdr, "tag", 2, tag, "TPM_ST", [](uint64_t v) { return st_name(uint32_t(v)); }) ||
      !c.num(hdr, "responseSize", 4, size, "UINT32") ||
      !c.num(hdr, "responseCode", 4, rc, "TPM_RC", [](uint64_t v) {
        std::string e = rc_explain(uint32_t(v));
        return rc_name(uint32_t(v)) + (v && !e.empty() ? ": " + e : "");
      }))
    return d;
  hdr.size = 10;
  if (size != in.size())
    return c.fail("header.responseSize", 2, "responseSize " + std::to_string(size) + " but " +
                                                std::to_string(in.size()) + " octets given"), d;
  std::vector<uint8_t>& re = d.reencoded;
  put_u(re, tag, 2);
  put_u(re, size, 4);
  put_u(re, rc, 4);
  if (rc != 0) {
    if (in.size() != 10) return c.fail("header", 10, "an error response has no body"), d;
    d.ok = true;
    return d;
  }
  if (tag != 0x8001 && tag != 0x8002) return c.fail("header.tag", 0, "not a response tag"), d;
  const tpm::schema::CommandSchema* s = tpm::schema::find_schema(command_code);
  if (!s) return c.fail("header", 10, "command code " + hexnum(command_code, 8) + " (" + cc_note(command_code) +
                                          ") is not implemented by utpm: its response is unknown"), d;
  d.root.name = "response";
  Field& handles = add_node(d.root, "handles", c.pos);
  for (size_t i = 0; i < s->response_handle_count(); ++i) {
    uint64_t h = 0;
    if (!c.num(handles, str(tpm::schema::handle_name(s->response_handles, i)), 4, h, "TPM_HANDLE",
               [](uint64_t v) { return handle_name(uint32_t(v)); }))
      return d;
    put_u(re, h, 4);
  }
  size_t params_end = in.size();
  if (tag == 0x8002) {
    uint64_t psize = 0;
    Field& ps = add_node(d.root, "parameterSize", c.pos);
    ps.children.clear();
    d.root.children.pop_back();
    if (!c.num(d.root, "parameterSize", 4, psize, "UINT32")) return d;
    put_u(re, psize, 4);
    if (psize > in.size() - c.pos) return c.fail("parameterSize", c.pos - 4, "larger than the rest of the response"), d;
    params_end = c.pos + psize;
  }
  // The response sessions follow the parameters; their attributes say whether the first
  // parameter is encrypted, so they are looked at first (and decoded in order below).
  uint64_t attrs_any = 0;
  for (size_t at = params_end; tag == 0x8002 && in.size() - at >= 2;) {
    const size_t nonce = static_cast<size_t>(be(in.subspan(at, 2)));
    if (in.size() - at - 2 < nonce + 1) break;
    attrs_any |= in[at + 2 + nonce];
    at += 2 + nonce + 1;
    if (in.size() - at < 2) break;
    const size_t hmac = static_cast<size_t>(be(in.subspan(at, 2)));
    if (in.size() - at - 2 < hmac) break;
    at += 2 + hmac;
  }
  Field& params = add_node(d.root, "parameters", c.pos);
  if (!walk_params(c, params, s->out, s->out_count(), params_end, re, first_param_encrypted(command_code, attrs_any, true)))
    return d;
  if (tag == 0x8002) {
    Field& auth = add_node(d.root, "authorization", c.pos);
    for (int i = 0; c.pos < in.size(); ++i) {
      Field& sess = add_node(auth, "[" + std::to_string(i) + "]", c.pos);
      sess.type = "TPMS_AUTH_RESPONSE";
      uint64_t attrs = 0;
      std::span<const uint8_t> nonce, hmac;
      if (!c.tpm2b(sess, "nonce", "TPM2B_NONCE", nonce) ||
          !c.num(sess, "sessionAttributes", 1, attrs, "TPMA_SESSION", [](uint64_t v) { return session_attributes(uint32_t(v)); }) ||
          !c.tpm2b(sess, "hmac", "TPM2B_AUTH", hmac))
        return d;
      put_u(re, nonce.size(), 2);
      re.insert(re.end(), nonce.begin(), nonce.end());
      put_u(re, attrs, 1);
      put_u(re, hmac.size(), 2);
      re.insert(re.end(), hmac.begin(), hmac.end());
    }
  }
  d.ok = true;
  return d;
}

namespace {
uint32_t le32(std::span<const uint8_t> b) {
  return uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
}
std::string signal_name(uint32_t s) {
  static const char* const kNames[] = {"SignalNothing", "SignalShutdown", "SignalReset", "SignalSetClock",
                                       "SignalCancelOn", "SignalCancelOff", "SignalCommand", "SignalResponse"};
  return s < 8 ? kNames[s] : "unknown signal";
}
std::string mssim_name(uint32_t s) {
  static const char* const kNames[] = {"", "MS_SIM_POWER_ON", "MS_SIM_POWER_OFF", "TPM_SIGNAL_PHYS_PRES_ON",
                                       "TPM_SIGNAL_PHYS_PRES_OFF", "TPM_SIGNAL_HASH_START", "TPM_SIGNAL_HASH_DATA",
                                       "TPM_SIGNAL_HASH_END", "TPM_SEND_COMMAND", "TPM_SIGNAL_CANCEL_ON",
                                       "TPM_SIGNAL_CANCEL_OFF", "MS_SIM_NV_ON", "MS_SIM_NV_OFF",
                                       "TPM_SIGNAL_KEY_CACHE_ON", "TPM_SIGNAL_KEY_CACHE_OFF", "TPM_REMOTE_HANDSHAKE",
                                       "TPM_SET_ALTERNATIVE_RESULT", "TPM_SIGNAL_RESET", "TPM_SIGNAL_RESTART", "",
                                       "TPM_SESSION_END", "TPM_STOP"};
  return s < 22 ? kNames[s] : "";
}
// Wraps an inner decode as the child of a frame node (offsets shifted to the whole input).
void shift(Field& f, size_t by) {
  f.offset += by;
  for (Field& c : f.children) shift(c, by);
}
Decoded framed(Field frame, Decoded inner, size_t at) {
  shift(inner.root, at);
  inner.error_offset += at;
  frame.children.push_back(std::move(inner.root));
  inner.root = std::move(frame);
  return inner;
}
Decoded frame_error(Field frame, size_t at, const std::string& path, const std::string& why) {
  Decoded d;
  d.root = std::move(frame);
  d.error_offset = at;
  d.error_path = path;
  d.error_reason = why;
  return d;
}
void frame_leaf(Field& f, const std::string& name, size_t off, size_t n, uint64_t v, const std::string& note) {
  Field x;
  x.name = name;
  x.offset = off;
  x.size = n;
  x.leaf = true;
  x.value = hexnum(v, static_cast<int>(2 * n));
  x.note = note;
  f.children.push_back(std::move(x));
}
}  // namespace

Decoded decode_any(std::span<const uint8_t> in, const std::string& frame_in, bool response,
                   std::optional<uint32_t> cc) {
  std::string frame = frame_in;
  if (frame == "auto") {
    if (in.size() >= 4 && in[0] == 'T' && in[1] == 'p' && in[2] == 'm' && in[3] == '2') frame = "tpm2";
    else if (in.size() >= 2 && (in[0] == 0x80 || in[0] == 0x00) && (in[1] == 0x01 || in[1] == 0x02 || in[1] == 0xC4))
      frame = "raw";
    else frame = response ? "mssim" : (in.size() >= 4 && be(in.first(4)) <= 21 ? "mssim" : "raw");
  }
  if (frame == "raw") return response ? decode_response(in, cc.value_or(0)) : decode_command(in);
  Field f;
  if (frame == "mssim") {
    f.name = "mssim";
    if (response) {  // u32 size | response | u32 0
      if (in.size() < 4) return frame_error(f, 0, "mssim.size", "input ends inside the size");
      const uint64_t n = be(in.first(4));
      frame_leaf(f, "size", 0, 4, n, std::to_string(n));
      if (in.size() < 4 + n) return frame_error(f, 4, "mssim.response", "size " + std::to_string(n) + " but fewer octets follow");
      Decoded d = framed(f, decode_response(in.subspan(4, n), cc.value_or(0)), 4);
      if (in.size() >= 8 + n) frame_leaf(d.root, "ack", 4 + n, 4, be(in.subspan(4 + n, 4)), "");
      return d;
    }
    if (in.size() < 4) return frame_error(f, 0, "mssim.command", "input ends inside the command code");
    const uint32_t code = static_cast<uint32_t>(be(in.first(4)));
    frame_leaf(f, "mssimCommand", 0, 4, code, mssim_name(code));
    if (code != 8) {
      Decoded d;
      d.root = f;
      d.ok = true;
      return d;
    }
    if (in.size() < 9) return frame_error(f, 4, "mssim.locality", "input ends inside locality/size");
    frame_leaf(f, "locality", 4, 1, in[4], std::to_string(in[4]));
    const uint64_t n = be(in.subspan(5, 4));
    frame_leaf(f, "size", 5, 4, n, std::to_string(n));
    if (in.size() < 9 + n) return frame_error(f, 9, "mssim.command", "size " + std::to_string(n) + " but fewer octets follow");
    return framed(f, decode_command(in.subspan(9, n)), 9);
  }
  if (frame == "tpm2") {
    f.name = "tpm2Signal";
    if (response) {  // u32 LE length | response
      if (in.size() < 4) return frame_error(f, 0, "tpm2Signal.rspLen", "input ends inside the length");
      const uint32_t n = le32(in);
      frame_leaf(f, "rspLen", 0, 4, n, std::to_string(n) + " (little endian)");
      if (in.size() < 4 + size_t{n}) return frame_error(f, 4, "tpm2Signal.response", "fewer octets than rspLen");
      return framed(f, decode_response(in.subspan(4, n), cc.value_or(0)), 4);
    }
    if (in.size() < 12) return frame_error(f, 0, "tpm2Signal.header", "a signal header is 12 octets");
    if (le32(in) != 0x326d7054) return frame_error(f, 0, "tpm2Signal.magic", "not 'Tpm2'");
    const uint32_t sig = le32(in.subspan(4)), n = le32(in.subspan(8));
    frame_leaf(f, "magic", 0, 4, 0x326d7054, "'Tpm2' (little endian)");
    frame_leaf(f, "signal", 4, 4, sig, signal_name(sig));
    frame_leaf(f, "dataSize", 8, 4, n, std::to_string(n));
    if (in.size() != 12 + size_t{n}) return frame_error(f, 8, "tpm2Signal.dataSize", "dataSize does not match the frame");
    if (sig != 6) {
      if (sig == 3 && n == 4) frame_leaf(f, "time", 12, 4, le32(in.subspan(12)), "Unix seconds");
      Decoded d;
      d.root = f;
      d.ok = true;
      return d;
    }
    if (n < 8) return frame_error(f, 12, "tpm2Signal.locality", "a command signal carries locality and cmdSize");
    const uint32_t loc = le32(in.subspan(12)), cs = le32(in.subspan(16));
    frame_leaf(f, "locality", 12, 4, loc, std::to_string(loc));
    frame_leaf(f, "cmdSize", 16, 4, cs, std::to_string(cs));
    if (size_t{cs} != n - 8) return frame_error(f, 16, "tpm2Signal.cmdSize", "cmdSize does not match dataSize - 8");
    return framed(f, decode_command(in.subspan(20, cs)), 20);
  }
  return frame_error(f, 0, "", "unknown frame '" + frame + "'");
}

namespace {
void text(const Field& f, int depth, std::string& out) {
  out.append(static_cast<size_t>(depth) * 2, ' ');
  out += f.name;
  if (!f.type.empty()) out += " (" + f.type + ")";
  if (f.leaf) {
    out += ": " + (f.value.empty() ? std::string("(empty)") : f.value);
    if (!f.note.empty() && f.note != f.value) out += "  " + f.note;
  } else {
    out += ":";
  }
  out += "\n";
  for (const Field& c : f.children) text(c, depth + 1, out);
}
std::string jstr(const std::string& s) {
  std::string o = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') o += '\\', o += ch;
    else if (static_cast<unsigned char>(ch) < 0x20) {
      char t[8];
      std::snprintf(t, sizeof t, "\\u%04x", ch);
      o += t;
    } else o += ch;
  }
  return o + "\"";
}
void json(const Field& f, std::string& out) {
  out += "{\"name\":" + jstr(f.name) + ",\"offset\":" + std::to_string(f.offset) + ",\"size\":" + std::to_string(f.size);
  if (!f.type.empty()) out += ",\"type\":" + jstr(f.type);
  if (f.leaf) {
    out += ",\"value\":" + jstr(f.value);
    if (!f.note.empty()) out += ",\"meaning\":" + jstr(f.note);
  } else {
    out += ",\"fields\":[";
    for (size_t i = 0; i < f.children.size(); ++i) {
      if (i) out += ",";
      json(f.children[i], out);
    }
    out += "]";
  }
  out += "}";
}
}  // namespace

std::string to_text(const Decoded& d) {
  std::string out;
  text(d.root, 0, out);
  return out;
}

std::string to_json(const Decoded& d) {
  std::string out = "{\"ok\":" + std::string(d.ok ? "true" : "false");
  out += ",\"kind\":" + jstr(d.is_response ? "response" : "command");
  out += ",\"commandCode\":" + std::to_string(d.command_code);
  out += ",\"commandName\":" + jstr(cc_name(d.command_code));
  if (!d.ok) {
    out += ",\"error\":{\"offset\":" + std::to_string(d.error_offset) + ",\"field\":" + jstr(d.error_path) +
           ",\"reason\":" + jstr(d.error_reason) + "}";
  }
  out += ",\"reencoded\":" + jstr(hex(d.reencoded));
  out += ",\"tree\":";
  json(d.root, out);
  return out + "}\n";
}

std::string error_text(const Decoded& d) {
  return "decoding stopped at offset " + std::to_string(d.error_offset) + " (" +
         (d.error_path.empty() ? std::string("?") : d.error_path) + "): " + d.error_reason;
}

}  // namespace utpm::tool
