#include "manifest.h"

#include "image_format.h"

#include <cstring>
#include <nlohmann/json.hpp>

namespace ckpt {

using json = nlohmann::ordered_json;

namespace {

json u64_array(const std::vector<uint64_t>& v) {
  json a = json::array();
  for (uint64_t x : v) a.push_back(x);
  return a;
}

json vmflags_json(uint32_t flags) { return json(vmflag_names(flags)); }

// Linux paths, argv and thread names are bytes, JSON strings are UTF-8.
// Bytes that are not valid UTF-8 travel as the private-use code points
// U+F780..U+F7FF (U+F700 + byte); genuine characters in that range are
// escaped the same way, byte by byte, so the mapping is reversible.
constexpr uint32_t kByteEscape = 0xF700;

size_t utf8_sequence(const unsigned char* p, size_t left, uint32_t& cp) {
  unsigned char c = p[0];
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (n == 0 || n > left) return 0;
  cp = n == 1 ? c : n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  static const uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

bool is_byte_escape(uint32_t cp) { return cp >= kByteEscape + 0x80 && cp <= kByteEscape + 0xFF; }

void put_byte_escape(std::string& out, unsigned char b) {
  uint32_t cp = kByteEscape + b;
  out += char(0xE0 | (cp >> 12));
  out += char(0x80 | ((cp >> 6) & 0x3F));
  out += char(0x80 | (cp & 0x3F));
}

std::string escape_bytes(const std::string& s) {
  std::string out;
  auto p = reinterpret_cast<const unsigned char*>(s.data());
  for (size_t i = 0; i < s.size();) {
    uint32_t cp = 0;
    size_t n = utf8_sequence(p + i, s.size() - i, cp);
    if (n && !is_byte_escape(cp)) {
      out.append(s, i, n);
    } else {
      for (size_t k = 0; k < (n ? n : 1); k++) put_byte_escape(out, p[i + k]);
    }
    i += n ? n : 1;
  }
  return out;
}

std::string unescape_bytes(const std::string& s) {
  std::string out;
  auto p = reinterpret_cast<const unsigned char*>(s.data());
  for (size_t i = 0; i < s.size();) {
    uint32_t cp = 0;
    size_t n = utf8_sequence(p + i, s.size() - i, cp);
    if (n == 3 && is_byte_escape(cp)) out += char(cp - kByteEscape);
    else out.append(s, i, n ? n : 1);
    i += n ? n : 1;
  }
  return out;
}

void map_strings(json& j, std::string (*fn)(const std::string&)) {
  if (j.is_string()) {
    auto& s = j.get_ref<std::string&>();
    bool ascii = true;
    for (unsigned char c : s) ascii = ascii && c < 0x80;
    if (!ascii) s = fn(s);
  } else if (j.is_structured()) {
    for (auto& v : j) map_strings(v, fn);
  }
}

json parse_manifest(const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw ManifestError(std::string("manifest: not valid JSON: ") + e.what());
  }
  map_strings(j, unescape_bytes);
  return j;
}

// Reads typed fields out of a JSON object and names the path of any problem.
class Reader {
 public:
  Reader(const json& j, std::string path) : j_(j), path_(std::move(path)) {
    if (!j_.is_object()) fail("", "expected an object");
  }
  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw ManifestError("manifest: " + path_ + (key.empty() ? "" : "." + key) + ": " + what);
  }
  const json& at(const char* key) const {
    auto it = j_.find(key);
    if (it == j_.end()) fail(key, "missing");
    return *it;
  }
  bool has(const char* key) const { return j_.contains(key); }
  uint64_t u64(const char* key) const {
    const json& v = at(key);
    if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
      fail(key, "expected an unsigned integer");
    return v.get<uint64_t>();
  }
  uint64_t u64_max(const char* key, uint64_t max) const {
    uint64_t v = u64(key);
    if (v > max) fail(key, "out of range (" + std::to_string(v) + " > " + std::to_string(max) + ")");
    return v;
  }
  uint32_t u32(const char* key) const { return uint32_t(u64_max(key, UINT32_MAX)); }
  int64_t i64(const char* key) const {
    const json& v = at(key);
    if (!v.is_number_integer()) fail(key, "expected an integer");
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)) fail(key, "out of range");
    return v.get<int64_t>();
  }
  int32_t i32(const char* key, int64_t lo = INT32_MIN, int64_t hi = INT32_MAX) const {
    int64_t v = i64(key);
    if (v < lo || v > hi) fail(key, "out of range");
    return int32_t(v);
  }
  bool boolean(const char* key) const {
    const json& v = at(key);
    if (!v.is_boolean()) fail(key, "expected true or false");
    return v.get<bool>();
  }
  std::string str(const char* key, size_t max_len = 4096) const {
    const json& v = at(key);
    if (!v.is_string()) fail(key, "expected a string");
    std::string s = v.get<std::string>();
    if (s.size() > max_len) fail(key, "string too long");
    if (s.find('\0') != std::string::npos) fail(key, "string contains NUL");
    return s;
  }
  const json& array(const char* key, size_t max_items = 1u << 20) const {
    const json& v = at(key);
    if (!v.is_array()) fail(key, "expected an array");
    if (v.size() > max_items) fail(key, "too many items");
    return v;
  }
  std::vector<uint64_t> u64s(const char* key, size_t max_items) const {
    std::vector<uint64_t> out;
    for (auto& x : array(key, max_items)) {
      if (!x.is_number_unsigned() && !(x.is_number_integer() && x.get<int64_t>() >= 0))
        fail(key, "expected unsigned integers");
      out.push_back(x.get<uint64_t>());
    }
    return out;
  }
  Reader obj(const char* key) const { return Reader(at(key), path_ + "." + key); }
  const std::string& path() const { return path_; }

 private:
  const json& j_;
  std::string path_;
};

json thread_json(const ThreadState& t) {
  const ResumeContext& r = t.resume;
  return json{{"tid", t.tid},
              {"coordinator", t.coordinator},
              {"name", t.name},
              {"fs_base", t.fs_base},
              {"gs_base", t.gs_base},
              {"resume",
               {{"rbx", r.rbx}, {"rbp", r.rbp}, {"r12", r.r12}, {"r13", r.r13}, {"r14", r.r14},
                {"r15", r.r15}, {"rsp", r.rsp}, {"rip", r.rip}, {"mxcsr", r.mxcsr}, {"fpu_cw", r.fpu_cw}}},
              {"handler_sigmask", t.handler_sigmask},
              {"app_sigmask", t.app_sigmask},
              {"altstack", {{"sp", t.altstack_sp}, {"size", t.altstack_size}, {"flags", t.altstack_flags}}},
              {"robust_list", {{"head", t.robust_list}, {"len", t.robust_list_len}}},
              {"clear_child_tid", t.clear_child_tid},
              {"rseq", {{"area", t.rseq_area}, {"len", t.rseq_len}, {"sig", t.rseq_sig}}},
              {"origin", t.origin},
              {"pthread", t.pthread},
              {"stack", {t.stack_lo, t.stack_hi}},
              {"affinity", u64_array(t.affinity)},
              {"interrupted", {{"rip", t.interrupted_rip}, {"rsp", t.interrupted_rsp}}}};
}

ThreadState thread_from(const Reader& r) {
  ThreadState t;
  t.tid = r.i32("tid", 1, 1 << 30);
  t.coordinator = r.boolean("coordinator");
  t.name = r.str("name", 15);
  t.fs_base = r.u64("fs_base");
  t.gs_base = r.u64("gs_base");
  Reader c = r.obj("resume");
  ResumeContext& x = t.resume;
  x.rbx = c.u64("rbx"); x.rbp = c.u64("rbp"); x.r12 = c.u64("r12"); x.r13 = c.u64("r13");
  x.r14 = c.u64("r14"); x.r15 = c.u64("r15"); x.rsp = c.u64("rsp"); x.rip = c.u64("rip");
  x.mxcsr = c.u32("mxcsr");
  x.fpu_cw = uint32_t(c.u64_max("fpu_cw", 0xffff));
  t.handler_sigmask = r.u64("handler_sigmask");
  t.app_sigmask = r.u64("app_sigmask");
  Reader a = r.obj("altstack");
  t.altstack_sp = a.u64("sp");
  t.altstack_size = a.u64("size");
  t.altstack_flags = a.i32("flags");
  Reader rl = r.obj("robust_list");
  t.robust_list = rl.u64("head");
  t.robust_list_len = rl.u64("len");
  t.clear_child_tid = r.u64("clear_child_tid");
  Reader rs = r.obj("rseq");
  t.rseq_area = rs.u64("area");
  t.rseq_len = rs.u32("len");
  t.rseq_sig = rs.u32("sig");
  if (r.has("origin")) t.origin = r.str("origin", 32);
  if (r.has("pthread")) t.pthread = r.u64("pthread");
  if (r.has("stack")) {
    auto st = r.u64s("stack", 2);
    if (st.size() != 2) r.fail("stack", "expected [lo, hi]");
    t.stack_lo = st[0];
    t.stack_hi = st[1];
  }
  t.affinity = r.u64s("affinity", 1024);
  Reader in = r.obj("interrupted");
  t.interrupted_rip = in.u64("rip");
  t.interrupted_rsp = in.u64("rsp");
  return t;
}

json region_json(const Region& g) {
  json j{{"start", g.start},
         {"end", g.end},
         {"prot", g.prot},
         {"kind", region_kind_name(g.kind)},
         {"vmflags", vmflags_json(g.vmflags)},
         {"offset", g.offset},
         {"name", g.name},
         {"file", g.file},
         {"inode", g.inode},
         {"pages_saved", g.pages_saved}};
  if (g.libckpt_internal) j["libckpt_internal"] = true;
  return j;
}

Region region_from(const Reader& r) {
  Region g;
  g.start = r.u64("start");
  g.end = r.u64("end");
  g.prot = uint32_t(r.u64_max("prot", 7));
  bool ok;
  g.kind = region_kind_from_name(r.str("kind"), ok);
  if (!ok) r.fail("kind", "unknown region kind");
  for (auto& f : r.array("vmflags", 64)) {
    if (!f.is_string()) r.fail("vmflags", "expected strings");
    uint32_t bit = vmflag_from_mnemonic(f.get<std::string>().c_str());
    if (!bit) r.fail("vmflags", "unknown flag " + f.get<std::string>());
    g.vmflags |= bit;
  }
  g.offset = r.u64("offset");
  g.name = r.str("name");
  g.file = r.i32("file", -1);
  if (r.has("inode")) g.inode = r.u64("inode");
  g.pages_saved = r.boolean("pages_saved");
  g.libckpt_internal = r.has("libckpt_internal") && r.boolean("libckpt_internal");
  return g;
}

json file_json(const FileRef& f) {
  return json{{"path", f.path},   {"dev", f.dev},       {"ino", f.ino},
              {"size", f.size},   {"mtime_ns", f.mtime_ns}, {"ctime_ns", f.ctime_ns}, {"mode", f.mode},
              {"hashed", f.hashed}, {"content_hash", f.content_hash}, {"deleted", f.deleted}};
}

FileRef file_from(const Reader& r) {
  FileRef f;
  f.path = r.str("path");
  f.dev = r.u64("dev");
  f.ino = r.u64("ino");
  f.size = r.u64("size");
  f.mtime_ns = r.i64("mtime_ns");
  if (r.has("ctime_ns")) f.ctime_ns = r.i64("ctime_ns");  // optional: not in older images
  f.mode = r.u32("mode");
  f.hashed = r.boolean("hashed");
  f.content_hash = r.u64("content_hash");
  f.deleted = r.boolean("deleted");
  return f;
}

json open_file_json(const OpenFile& f) {
  json j{{"kind", fd_kind_name(f.kind)}, {"path", f.path},   {"file", f.file},
         {"flags", f.flags},             {"offset", f.offset}, {"rdev", f.rdev},
         {"inode", f.inode},             {"blob", f.blob},     {"deleted", f.deleted}};
  if (!f.locks.empty()) {
    json locks = json::array();
    for (const FileLock& l : f.locks)
      locks.push_back({{"kind", l.kind == FileLock::Posix ? "posix" : l.kind == FileLock::Ofd ? "ofd" : "flock"},
                       {"write", l.write}, {"start", l.start}, {"len", l.len}});
    j["locks"] = locks;
  }
  switch (f.kind) {
    case FdKind::Pipe:
    case FdKind::Fifo:
      j["pipe"] = {{"size", f.pipe_size}, {"peer_inside", f.pipe_peer_inside}};
      break;
    case FdKind::Socket: {
      const SocketState& k = f.socket;
      j["socket"] = {{"family", k.family},         {"type", k.type},           {"protocol", k.protocol},
                     {"listening", k.listening},   {"backlog", k.backlog},     {"local", k.local},
                     {"peer", k.peer},             {"reuse_addr", k.reuse_addr}, {"reuse_port", k.reuse_port},
                     {"v6only", k.v6only},         {"keepalive", k.keepalive}, {"nodelay", k.nodelay},
                     {"peer_inode", k.peer_inode}, {"shutdown", k.shutdown},   {"sndbuf", k.sndbuf},
                     {"rcvbuf", k.rcvbuf}};
      break;
    }
    case FdKind::EventFd: j["eventfd"] = {{"count", f.counter}, {"flags", f.efd_flags}}; break;
    case FdKind::TimerFd:
      j["timerfd"] = {{"clock", f.clock},          {"ticks", f.counter},           {"next_ns", f.next_ns},
                      {"interval_ns", f.interval_ns}, {"flags", f.timer_flags}, {"deadline_ns", f.deadline_ns}};
      break;
    case FdKind::SignalFd: j["signalfd"] = {{"mask", f.sigmask}}; break;
    case FdKind::Epoll: {
      json items = json::array();
      for (const EpollItem& e : f.epoll) items.push_back({{"fd", e.fd}, {"events", e.events}, {"data", e.data}});
      j["epoll"] = items;
      break;
    }
    case FdKind::Inotify: {
      json w = json::array();
      for (const InotifyWatch& e : f.inotify) w.push_back({{"wd", e.wd}, {"mask", e.mask}, {"path", e.path}});
      j["inotify"] = w;
      break;
    }
    case FdKind::Memfd: j["memfd"] = {{"seals", f.seals}}; break;
    case FdKind::Terminal: j["termios"] = f.termios; break;
    default: break;
  }
  return j;
}

OpenFile open_file_from(const Reader& r) {
  OpenFile f;
  bool ok;
  f.kind = fd_kind_from_name(r.str("kind"), ok);
  if (!ok) r.fail("kind", "unknown file kind");
  f.path = r.str("path");
  f.file = r.i32("file", -1);
  f.flags = r.u32("flags");
  f.offset = r.i64("offset");
  f.rdev = r.u64("rdev");
  f.inode = r.u64("inode");
  f.blob = r.i32("blob", -1, CKPT_MAX_BLOBS);
  f.deleted = r.boolean("deleted");
  if (r.has("locks")) {
    size_t i = 0;
    for (auto& x : r.array("locks", 4096)) {
      Reader l(x, r.path() + ".locks[" + std::to_string(i++) + "]");
      FileLock lock;
      std::string k = l.str("kind", 8);
      if (k == "posix") lock.kind = FileLock::Posix;
      else if (k == "ofd") lock.kind = FileLock::Ofd;
      else if (k == "flock") lock.kind = FileLock::Flock;
      else l.fail("kind", "unknown lock kind");
      lock.write = l.boolean("write");
      lock.start = l.i64("start");
      lock.len = l.i64("len");
      if (lock.start < 0 || lock.len < 0) l.fail("start", "negative range");
      f.locks.push_back(lock);
    }
  }
  if (r.has("pipe")) {
    Reader p = r.obj("pipe");
    f.pipe_size = p.u32("size");
    f.pipe_peer_inside = p.boolean("peer_inside");
  }
  if (r.has("socket")) {
    Reader k = r.obj("socket");
    SocketState& s = f.socket;
    s.family = k.i32("family", 0, 64);
    s.type = k.i32("type");
    s.protocol = k.i32("protocol");
    s.listening = k.boolean("listening");
    s.backlog = k.i32("backlog", 0);
    s.local = k.str("local", 512);
    s.peer = k.str("peer", 512);
    s.reuse_addr = k.boolean("reuse_addr");
    s.reuse_port = k.boolean("reuse_port");
    s.v6only = k.boolean("v6only");
    s.keepalive = k.boolean("keepalive");
    s.nodelay = k.boolean("nodelay");
    if (k.has("peer_inode")) {  // older images: no socket pairs
      s.peer_inode = k.u64("peer_inode");
      s.shutdown = k.u32("shutdown");
      s.sndbuf = k.u32("sndbuf");
      s.rcvbuf = k.u32("rcvbuf");
    }
  }
  if (r.has("eventfd")) {
    Reader e = r.obj("eventfd");
    f.counter = e.u64("count");
    f.efd_flags = e.u32("flags");
  }
  if (r.has("timerfd")) {
    Reader t = r.obj("timerfd");
    f.clock = t.i32("clock", 0, 16);
    f.counter = t.u64("ticks");
    f.next_ns = t.i64("next_ns");
    f.interval_ns = t.i64("interval_ns");
    if (f.next_ns < 0 || f.interval_ns < 0) t.fail("next_ns", "negative time");
    if (t.has("flags")) f.timer_flags = t.u32("flags");  // images before absolute timers lack these
    if (t.has("deadline_ns")) f.deadline_ns = t.i64("deadline_ns");
    if (f.deadline_ns < 0) t.fail("deadline_ns", "negative time");
  }
  if (r.has("signalfd")) f.sigmask = r.obj("signalfd").u64("mask");
  if (r.has("epoll")) {
    size_t i = 0;
    for (auto& x : r.array("epoll", 1 << 20)) {
      Reader e(x, r.path() + ".epoll[" + std::to_string(i++) + "]");
      f.epoll.push_back({e.i32("fd", 0, 1 << 20), e.u32("events"), e.u64("data")});
    }
  }
  if (r.has("inotify")) {
    size_t i = 0;
    for (auto& x : r.array("inotify", 1 << 20)) {
      Reader e(x, r.path() + ".inotify[" + std::to_string(i++) + "]");
      f.inotify.push_back({e.i32("wd", 1), e.u32("mask"), e.str("path")});
    }
  }
  if (r.has("memfd")) f.seals = r.obj("memfd").u32("seals");
  if (r.has("termios")) f.termios = r.str("termios", 512);
  return f;
}

}  // namespace

std::string manifest_to_json(const ProcessState& st) {
  json j;
  j["pid"] = st.pid;
  j["ppid"] = st.ppid;
  j["pgid"] = st.pgid;
  j["sid"] = st.sid;
  j["exe"] = st.exe;
  j["exe_file"] = st.exe_file;
  j["argv"] = st.argv;
  j["cwd"] = st.cwd;
  j["umask"] = st.umask;
  j["personality"] = st.personality;
  j["dumpable"] = st.dumpable;
  j["no_new_privs"] = st.no_new_privs;
  j["xstate_permitted"] = st.xstate_permitted;
  const Credentials& c = st.creds;
  j["credentials"] = {{"uid", {c.ruid, c.euid, c.suid, c.fsuid}},
                      {"gid", {c.rgid, c.egid, c.sgid, c.fsgid}},
                      {"groups", c.groups},
                      {"cap_effective", c.cap_effective},
                      {"cap_permitted", c.cap_permitted},
                      {"cap_inheritable", c.cap_inheritable}};
  json rl = json::array();
  for (auto& r : st.rlimits) rl.push_back({{"resource", r.resource}, {"cur", r.cur}, {"max", r.max}});
  j["rlimits"] = rl;
  const MmFields& m = st.mm;
  j["mm"] = {{"start_code", m.start_code}, {"end_code", m.end_code},   {"start_data", m.start_data},
             {"end_data", m.end_data},     {"start_brk", m.start_brk}, {"brk", m.brk},
             {"start_stack", m.start_stack}, {"arg_start", m.arg_start}, {"arg_end", m.arg_end},
             {"env_start", m.env_start},   {"env_end", m.env_end},     {"auxv", u64_array(m.auxv)}};
  const VdsoLayout& v = st.vdso;
  j["vdso"] = {{"vvar_start", v.vvar_start},     {"vvar_end", v.vvar_end},
               {"vclock_start", v.vclock_start}, {"vclock_end", v.vclock_end},
               {"vdso_start", v.vdso_start},     {"vdso_end", v.vdso_end},
               {"vdso_hash", v.vdso_hash}};
  json sigs = json::array();
  for (auto& s : st.signals)
    sigs.push_back({{"signo", s.signo}, {"handler", s.handler}, {"flags", s.flags},
                    {"restorer", s.restorer}, {"mask", s.mask}});
  j["signals"] = sigs;
  json timers = json::array();
  for (auto& t : st.timers)
    timers.push_back({{"id", t.id}, {"clock", t.clock}, {"signo", t.signo}, {"notify", t.notify},
                      {"target_tid", t.target_tid}, {"value", t.value}, {"next_ns", t.next_ns},
                      {"interval_ns", t.interval_ns}, {"absolute", t.absolute}, {"deadline_ns", t.deadline_ns}});
  j["timers"] = timers;
  json itimers = json::array();
  for (auto& t : st.itimers)
    itimers.push_back({{"which", t.which}, {"next_us", t.next_us}, {"interval_us", t.interval_us}});
  j["itimers"] = itimers;
  json threads = json::array();
  for (auto& t : st.threads) threads.push_back(thread_json(t));
  j["threads"] = threads;
  if (st.leader_exited) j["leader_exited"] = true;
  json regions = json::array();
  for (auto& g : st.regions) regions.push_back(region_json(g));
  j["regions"] = regions;
  json excluded = json::array();
  for (auto& [s, e] : st.excluded) excluded.push_back({{"start", s}, {"end", e}});
  j["excluded"] = excluded;
  json files = json::array();
  for (auto& f : st.files) files.push_back(file_json(f));
  j["files"] = files;
  json open_files = json::array();
  for (auto& f : st.open_files) open_files.push_back(open_file_json(f));
  j["open_files"] = open_files;
  json fds = json::array();
  for (auto& d : st.fds) {
    json e{{"fd", d.fd}, {"open_file", d.open_file}, {"cloexec", d.cloexec}};
    if (d.open_file >= 0 && size_t(d.open_file) < st.open_files.size()) {  // for readers of --inspect
      e["kind"] = fd_kind_name(st.open_files[size_t(d.open_file)].kind);
      e["path"] = st.open_files[size_t(d.open_file)].path;
    }
    fds.push_back(e);
  }
  j["fds"] = fds;
  json blobs = json::array();
  for (auto& b : st.blobs) blobs.push_back({{"id", b.id}, {"size", b.size}, {"what", b.what}});
  j["blobs"] = blobs;
  json pending = json::array();
  for (auto& p : st.pending_signals) pending.push_back({{"tid", p.tid}, {"siginfo", p.siginfo}});
  j["pending_signals"] = pending;
  j["ignored"] = st.ignored;
  if (!st.children.empty()) j["children"] = st.children;
  j["clocks"] = {{"boot_id_hash", st.boot_id_hash}, {"monotonic_ns", st.monotonic_ns}, {"boottime_ns", st.boottime_ns}};
  const LibckptInfo& l = st.libckpt;
  j["libckpt"] = {{"library_path", l.library_path}, {"control_fd", l.control_fd},
                  {"ckpt_signal", l.ckpt_signal},   {"thaw_signal", l.thaw_signal},
                  {"freeze_signal", l.freeze_signal}, {"sequence", l.sequence},
                  {"images_dir", l.images_dir}, {"tracking", l.tracking},
                  {"parent_path", l.parent_path}, {"vouched_pages", l.vouched_pages},
                  {"unchanged_pages", l.unchanged_pages}, {"armed_pages", l.armed_pages}};
  j["identity"] = st.identity;
  map_strings(j, escape_bytes);
  return j.dump(1);
}

std::string range_manifest_to_json(uint64_t start, uint64_t end, const std::string& parent_path) {
  json j;
  j["kind"] = "range";
  j["start"] = start;
  j["end"] = end;
  j["parent_path"] = parent_path;
  map_strings(j, escape_bytes);
  return j.dump();
}

bool range_manifest_from_json(const std::string& text, uint64_t& start, uint64_t& end, std::string& parent_path) {
  json j = parse_manifest(text);
  if (!j.is_object() || !j.contains("kind") || j["kind"] != "range") return false;
  Reader r(j, "manifest");
  start = r.u64("start");
  end = r.u64("end");
  parent_path = r.str("parent_path");
  if (start % 4096 || end % 4096 || start >= end || end > (1ULL << 47)) r.fail("start", "invalid range");
  return true;
}

ProcessState manifest_from_json(const std::string& text) {
  json j = parse_manifest(text);
  Reader r(j, "manifest");
  ProcessState st;
  st.pid = r.i32("pid", 1, 1 << 30);
  st.ppid = r.i32("ppid", 0);
  st.pgid = r.i32("pgid", 0);
  st.sid = r.i32("sid", 0);
  st.exe = r.str("exe");
  st.exe_file = r.i32("exe_file", -1);
  for (auto& a : r.array("argv", 1 << 16)) {
    if (!a.is_string()) r.fail("argv", "expected strings");
    st.argv.push_back(a.get<std::string>());
  }
  st.cwd = r.str("cwd");
  st.umask = uint32_t(r.u64_max("umask", 0777));
  st.personality = r.u32("personality");
  st.dumpable = r.boolean("dumpable");
  st.no_new_privs = r.boolean("no_new_privs");
  st.xstate_permitted = r.u64("xstate_permitted");
  Reader c = r.obj("credentials");
  auto ids = [&](const char* key, uint32_t* out) {
    auto v = c.u64s(key, 4);
    if (v.size() != 4) c.fail(key, "expected 4 ids");
    for (int i = 0; i < 4; i++) {
      if (v[i] > UINT32_MAX) c.fail(key, "id out of range");
      out[i] = uint32_t(v[i]);
    }
  };
  uint32_t u[4], g[4];
  ids("uid", u);
  ids("gid", g);
  st.creds.ruid = u[0]; st.creds.euid = u[1]; st.creds.suid = u[2]; st.creds.fsuid = u[3];
  st.creds.rgid = g[0]; st.creds.egid = g[1]; st.creds.sgid = g[2]; st.creds.fsgid = g[3];
  for (uint64_t x : c.u64s("groups", 65536)) {
    if (x > UINT32_MAX) c.fail("groups", "id out of range");
    st.creds.groups.push_back(uint32_t(x));
  }
  st.creds.cap_effective = c.u64("cap_effective");
  st.creds.cap_permitted = c.u64("cap_permitted");
  st.creds.cap_inheritable = c.u64("cap_inheritable");
  size_t i = 0;
  for (auto& x : r.array("rlimits", 64)) {
    Reader e(x, "rlimits[" + std::to_string(i++) + "]");
    st.rlimits.push_back({e.i32("resource", 0, 63), e.u64("cur"), e.u64("max")});
  }
  Reader m = r.obj("mm");
  MmFields& mm = st.mm;
  mm.start_code = m.u64("start_code"); mm.end_code = m.u64("end_code");
  mm.start_data = m.u64("start_data"); mm.end_data = m.u64("end_data");
  mm.start_brk = m.u64("start_brk"); mm.brk = m.u64("brk");
  mm.start_stack = m.u64("start_stack");
  mm.arg_start = m.u64("arg_start"); mm.arg_end = m.u64("arg_end");
  mm.env_start = m.u64("env_start"); mm.env_end = m.u64("env_end");
  mm.auxv = m.u64s("auxv", 512);
  Reader v = r.obj("vdso");
  VdsoLayout& vd = st.vdso;
  vd.vvar_start = v.u64("vvar_start"); vd.vvar_end = v.u64("vvar_end");
  vd.vclock_start = v.u64("vclock_start"); vd.vclock_end = v.u64("vclock_end");
  vd.vdso_start = v.u64("vdso_start"); vd.vdso_end = v.u64("vdso_end");
  vd.vdso_hash = v.u64("vdso_hash");
  i = 0;
  for (auto& x : r.array("signals", 64)) {
    Reader e(x, "signals[" + std::to_string(i++) + "]");
    st.signals.push_back({e.i32("signo", 1, 64), e.u64("handler"), e.u64("flags"), e.u64("restorer"),
                          e.u64("mask")});
  }
  i = 0;
  if (r.has("timers"))
    for (auto& x : r.array("timers", 1 << 16)) {
      Reader e(x, "timers[" + std::to_string(i++) + "]");
      PosixTimer t;
      t.id = e.i32("id", 0);
      t.clock = e.i32("clock", -64, 64);
      t.signo = e.i32("signo", 0, 64);
      t.notify = e.i32("notify", 0, 7);
      t.target_tid = e.i32("target_tid", 0);
      t.value = e.u64("value");
      t.next_ns = e.i64("next_ns");
      t.interval_ns = e.i64("interval_ns");
      if (t.next_ns < 0 || t.interval_ns < 0) e.fail("next_ns", "negative time");
      if (e.has("absolute")) t.absolute = e.boolean("absolute");  // older images: relative
      if (e.has("deadline_ns")) t.deadline_ns = e.i64("deadline_ns");
      if (t.deadline_ns < 0) e.fail("deadline_ns", "negative time");
      st.timers.push_back(t);
    }
  i = 0;
  if (r.has("itimers"))
    for (auto& x : r.array("itimers", 3)) {
      Reader e(x, "itimers[" + std::to_string(i++) + "]");
      IntervalTimer t{e.i32("which", 0, 2), e.i64("next_us"), e.i64("interval_us")};
      if (t.next_us < 0 || t.interval_us < 0) e.fail("next_us", "negative time");
      st.itimers.push_back(t);
    }
  i = 0;
  for (auto& x : r.array("threads", 1 << 16))
    st.threads.push_back(thread_from(Reader(x, "threads[" + std::to_string(i++) + "]")));
  i = 0;
  for (auto& x : r.array("regions", 1 << 20))
    st.regions.push_back(region_from(Reader(x, "regions[" + std::to_string(i++) + "]")));
  i = 0;
  if (r.has("excluded"))
    for (auto& x : r.array("excluded", 1 << 16)) {
      Reader e(x, "excluded[" + std::to_string(i++) + "]");
      st.excluded.emplace_back(e.u64("start"), e.u64("end"));
    }
  i = 0;
  for (auto& x : r.array("files", 1 << 20))
    st.files.push_back(file_from(Reader(x, "files[" + std::to_string(i++) + "]")));
  i = 0;
  for (auto& x : r.array("open_files", 1 << 20))
    st.open_files.push_back(open_file_from(Reader(x, "open_files[" + std::to_string(i++) + "]")));
  i = 0;
  for (auto& x : r.array("fds", 1 << 20)) {
    Reader e(x, "fds[" + std::to_string(i++) + "]");
    st.fds.push_back({e.i32("fd", 0, 1 << 20), e.i32("open_file", 0), e.boolean("cloexec")});
  }
  i = 0;
  for (auto& x : r.array("blobs", CKPT_MAX_BLOBS)) {
    Reader e(x, "blobs[" + std::to_string(i++) + "]");
    st.blobs.push_back({e.u32("id"), e.u64_max("size", 1ULL << CKPT_BLOB_SHIFT), e.str("what")});
  }
  i = 0;
  for (auto& x : r.array("pending_signals", 1 << 16)) {
    Reader e(x, "pending_signals[" + std::to_string(i++) + "]");
    st.pending_signals.push_back({e.i32("tid", 0), e.str("siginfo", 256)});
  }
  for (auto& x : r.array("ignored", 1 << 16)) {
    if (!x.is_string()) r.fail("ignored", "expected strings");
    st.ignored.push_back(x.get<std::string>());
  }
  if (r.has("children"))
    for (auto& x : r.array("children", 1 << 16)) {
      if (!x.is_number_integer() || x.get<int64_t>() <= 0 || x.get<int64_t>() > (1 << 30))
        r.fail("children", "expected pids");
      st.children.push_back(int32_t(x.get<int64_t>()));
    }
  Reader clocks = r.obj("clocks");
  st.boot_id_hash = clocks.u64("boot_id_hash");
  st.monotonic_ns = clocks.i64("monotonic_ns");
  st.boottime_ns = clocks.i64("boottime_ns");
  Reader l = r.obj("libckpt");
  st.libckpt.library_path = l.str("library_path");
  st.libckpt.control_fd = l.u64_max("control_fd", 1 << 20);
  st.libckpt.ckpt_signal = l.i32("ckpt_signal", 1, 64);
  st.libckpt.thaw_signal = l.i32("thaw_signal", 1, 64);
  st.libckpt.freeze_signal = l.i32("freeze_signal", 1, 64);
  st.libckpt.sequence = l.u64("sequence");
  st.libckpt.images_dir = l.str("images_dir");
  if (l.has("tracking")) st.libckpt.tracking = l.str("tracking", 32);
  if (l.has("parent_path")) st.libckpt.parent_path = l.str("parent_path");
  if (l.has("vouched_pages")) st.libckpt.vouched_pages = l.u64("vouched_pages");
  if (l.has("unchanged_pages")) st.libckpt.unchanged_pages = l.u64("unchanged_pages");
  if (l.has("armed_pages")) st.libckpt.armed_pages = l.u64("armed_pages");
  st.identity = r.str("identity");
  st.leader_exited = r.has("leader_exited") && r.boolean("leader_exited");
  return st;
}

}  // namespace ckpt
