// The manifest: manifest_to_json / manifest_from_json reproduce every field,
// and parsing names the JSON path of every missing, mistyped or out-of-range
// field with ManifestError.
#include <doctest/doctest.h>

#include <climits>
#include <nlohmann/json.hpp>

#include "image/image_format.h"
#include "image/manifest.h"
#include "image_test_util.h"

using namespace ckpt;
using namespace ckpt::test;
using json = nlohmann::ordered_json;

namespace {

json sample_json() { return json::parse(manifest_to_json(sample_state())); }

// The ManifestError text of parsing `j`, "" if it parsed.
std::string parse_error(const json& j) {
  try {
    manifest_from_json(j.dump());
    return "";
  } catch (const ManifestError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("UNEXPECTED: ") + e.what();
  }
}

std::string parse_error(const std::string& text) {
  try {
    manifest_from_json(text);
    return "";
  } catch (const ManifestError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("UNEXPECTED: ") + e.what();
  }
}

#define CHECK_PARSE_ERROR(j, phrase)       \
  do {                                     \
    const std::string e_ = parse_error(j); \
    INFO("error: ", e_);                   \
    CHECK(contains(e_, "manifest: "));     \
    CHECK(contains(e_, phrase));           \
  } while (0)

}  // namespace

TEST_CASE("manifest: manifest_from_json(manifest_to_json(st)) reproduces every field") {
  const ProcessState st = sample_state();
  const std::string text = manifest_to_json(st);
  const ProcessState back = manifest_from_json(text);
  check_states_equal(st, back);
  // Serialising is deterministic and a fixed point.
  CHECK(manifest_to_json(back) == text);
}

TEST_CASE("manifest: extreme values, every enum value and every VmFlag survive") {
  ProcessState st = sample_state();
  st.pid = 1 << 30;
  st.threads[0].tid = 1 << 30;
  st.ppid = 0;
  st.exe_file = -1;
  st.personality = UINT32_MAX;
  st.xstate_permitted = UINT64_MAX;
  st.umask = 0777;
  st.creds.ruid = UINT32_MAX;
  st.creds.groups.clear();
  st.creds.cap_effective = UINT64_MAX;
  st.threads[0].resume.rbx = UINT64_MAX;
  st.threads[0].resume.mxcsr = UINT32_MAX;
  st.threads[0].resume.fpu_cw = 0xffff;
  st.threads[0].altstack_flags = INT32_MIN;
  st.threads[0].affinity.clear();
  st.threads[0].name = "";
  st.mm.auxv.clear();
  st.signals.clear();
  st.rlimits.clear();
  st.argv.clear();
  st.identity = "";
  st.libckpt.control_fd = 1 << 20;
  st.libckpt.sequence = UINT64_MAX;
  st.libckpt.ckpt_signal = 64;
  st.libckpt.thaw_signal = 1;
  // Strings JSON must escape, and multi-byte UTF-8.
  st.exe = "/opt/\"odd\"\\dir/new\nline\x01\x1f/\xe6\x97\xa5\xe6\x9c\xac\xf0\x9f\x98\x80";
  // One region per kind, each VmFlag, libckpt_internal both ways.
  const RegionKind kinds[] = {RegionKind::Anonymous, RegionKind::SharedAnon, RegionKind::FilePrivate,
                              RegionKind::FileShared, RegionKind::Vdso,       RegionKind::Vvar,
                              RegionKind::VvarVclock, RegionKind::Vsyscall};
  for (size_t i = 0; i < st.regions.size() && i < 8; i++) st.regions[i].kind = kinds[i];
  st.regions[0].vmflags = 0x3fff;  // all fourteen flags
  st.regions[1].vmflags = kVmShadowStack | kVmHugetlb;
  st.regions[2].libckpt_internal = true;
  st.regions[3].offset = UINT64_MAX;
  st.regions[4].prot = 0;
  // One open file description per kind, extreme values; descriptors up to the limit.
  const FdKind kinds_of_files[] = {
      FdKind::RegularFile, FdKind::Directory, FdKind::CharDevice, FdKind::BlockDevice, FdKind::Pipe,
      FdKind::Fifo,        FdKind::Socket,    FdKind::Terminal,   FdKind::AnonInode,   FdKind::Other,
      FdKind::EventFd,     FdKind::TimerFd,   FdKind::SignalFd,   FdKind::Epoll,       FdKind::Inotify,
      FdKind::Memfd};
  st.open_files.clear();
  st.fds.clear();
  for (int i = 0; i < 16; i++) {
    OpenFile f;
    f.kind = kinds_of_files[i];
    f.path = "p" + std::to_string(i);
    f.file = i % 3 - 1;
    f.flags = uint32_t(i) << 10;
    f.offset = i == 0 ? INT64_MIN : i == 1 ? INT64_MAX : -1;
    f.rdev = UINT64_MAX - uint64_t(i);
    f.inode = uint64_t(i) << 40;
    f.blob = i == 15 ? int32_t(CKPT_MAX_BLOBS) : -1;
    st.open_files.push_back(f);
    FdState d;
    d.fd = i == 15 ? (1 << 20) : i;
    d.open_file = 15 - i;
    d.cloexec = i % 2;
    st.fds.push_back(d);
  }
  st.open_files[0].locks = {{FileLock::Posix, false, INT64_MAX, 0}, {FileLock::Ofd, true, 0, INT64_MAX},
                            {FileLock::Flock, true, 0, 0}};
  st.open_files[4].pipe_size = UINT32_MAX;  // pipe: the kind selects what is written
  st.open_files[5].pipe_size = 4096;        // fifo
  st.open_files[6].socket.family = 64;
  st.open_files[6].socket.type = INT32_MIN;
  st.open_files[6].socket.backlog = 0;
  st.open_files[6].socket.peer = std::string(512, 'a');
  st.open_files[10].counter = UINT64_MAX;
  st.open_files[10].efd_flags = UINT32_MAX;
  st.open_files[11].clock = 16;
  st.open_files[11].next_ns = INT64_MAX;
  st.open_files[12].sigmask = UINT64_MAX;
  st.open_files[13].epoll = {{1 << 20, UINT32_MAX, UINT64_MAX}};
  st.open_files[14].inotify = {{INT32_MAX, UINT32_MAX, "/"}};
  st.open_files[15].seals = UINT32_MAX;
  st.open_files[7].termios = std::string(512, '0');
  st.blobs = {{0, 1ULL << 40, ""}};
  st.pending_signals.clear();
  st.ignored = {"", "x"};
  st.boot_id_hash = UINT64_MAX;
  st.monotonic_ns = INT64_MIN;
  st.boottime_ns = INT64_MAX;
  st.timers[0].id = INT32_MAX;
  st.timers[0].clock = -64;
  st.timers[0].next_ns = INT64_MAX;
  st.timers[1].signo = 0;
  st.itimers = {{0, 0, 0}, {1, INT64_MAX, INT64_MAX}, {2, 1, 1}};
  st.threads[1].origin = "unregistered";
  st.threads[1].pthread = UINT64_MAX;
  st.threads[1].stack_lo = 0;
  st.threads[1].stack_hi = UINT64_MAX;
  st.libckpt.tracking = "";
  st.libckpt.parent_path = "";
  st.files[0].mtime_ns = INT64_MIN;
  st.files[1].mtime_ns = INT64_MAX;

  const ProcessState back = manifest_from_json(manifest_to_json(st));
  check_states_equal(st, back);
  CHECK(back.regions[0].vmflags == 0x3fff);
  CHECK(back.regions[2].libckpt_internal);
  CHECK(!back.regions[3].libckpt_internal);
}

TEST_CASE("manifest: JSON layout") {
  json j = sample_json();  // not const: operator[] on a missing key must not assert
  CHECK(j["pid"] == 4242);
  CHECK(j["credentials"]["uid"] == json({1000, 1001, 1002, 1003}));
  CHECK(j["credentials"]["gid"] == json({100, 101, 102, 103}));
  CHECK(j["regions"][2]["kind"] == "anonymous");
  CHECK(j["regions"][3]["kind"] == "shared-anon");
  CHECK(j["regions"][6]["vmflags"] == json({"gd", "ac"}));
  CHECK(j["open_files"][0]["kind"] == "tty");
  // Descriptors name their open file description's kind and path for readers of --inspect.
  CHECK(j["fds"][7]["fd"] == 10);
  CHECK(j["fds"][7]["open_file"] == 0);
  CHECK(j["fds"][7]["kind"] == "tty");
  CHECK(j["fds"][7]["path"] == "/dev/pts/3");
  // Kind-specific state is written only for its kind.
  CHECK(j["open_files"][2]["pipe"]["size"] == 65536);
  CHECK(!j["open_files"][3].contains("pipe"));
  CHECK(j["open_files"][4]["socket"]["family"] == 10);
  CHECK(j["open_files"][5]["eventfd"]["count"] == 7);
  CHECK(!j["open_files"][6].contains("locks"));
  CHECK(j["open_files"][1]["locks"][1]["kind"] == "flock");
  CHECK(j["clocks"]["monotonic_ns"] == 123456789012LL);
  CHECK(j["regions"][3]["inode"] == 4099);
  // libckpt_internal is written only when true (an optional field).
  CHECK(!j["regions"][2].contains("libckpt_internal"));
  CHECK(j["regions"][5]["libckpt_internal"] == true);
  CHECK(j["threads"][0]["resume"]["rsp"] == 0x7ffff001fd08ULL);
  CHECK(j["rlimits"][1]["max"] == UINT64_MAX);
  CHECK(j["threads"][0]["stack"] == json({kStackStart, kStackStart + kStackPages * kPage}));
  CHECK(j["threads"][1]["origin"] == "pthread");
  CHECK(j["timers"][1]["target_tid"] == 4250);
  CHECK(j["itimers"][0]["which"] == 0);
  CHECK(j["libckpt"]["tracking"] == "mprotect");
}

TEST_CASE("manifest: unknown fields are ignored, absent optional fields default") {
  json j = sample_json();
  j["a_future_field"] = {{"x", 1}};
  j["regions"][0]["future"] = "y";
  // Fields added after the first manifests: optional.
  j["regions"][5].erase("libckpt_internal");
  j.erase("timers");
  j.erase("itimers");
  for (auto& t : j["threads"]) {
    t.erase("origin");
    t.erase("pthread");
    t.erase("stack");
  }
  j["libckpt"].erase("tracking");
  j["libckpt"].erase("parent_path");
  ProcessState st;
  REQUIRE_NOTHROW(st = manifest_from_json(j.dump()));
  CHECK(st.regions.size() == 11);
  CHECK(!st.regions[5].libckpt_internal);
  CHECK(st.timers.empty());
  CHECK(st.itimers.empty());
  CHECK(st.threads[0].origin.empty());
  CHECK(st.threads[0].pthread == 0);
  CHECK(st.threads[0].stack_lo == 0);
  CHECK(st.threads[0].stack_hi == 0);
  CHECK(st.libckpt.tracking.empty());
  CHECK(st.libckpt.parent_path.empty());
  // Everything else as before.
  CHECK(st.threads[1].rseq_sig == sample_state().threads[1].rseq_sig);
  CHECK(st.libckpt.images_dir == "/var/tmp/ckpt images");
}

TEST_CASE("manifest: not JSON, not an object") {
  CHECK_PARSE_ERROR(std::string("{"), "not valid JSON");
  CHECK_PARSE_ERROR(std::string(""), "not valid JSON");
  CHECK_PARSE_ERROR(std::string("{\"pid\": 1} trailing"), "not valid JSON");
  CHECK_PARSE_ERROR(std::string("\"a string\""), "manifest: manifest: expected an object");
  CHECK_PARSE_ERROR(std::string("{}"), "manifest.pid: missing");
}

TEST_CASE("manifest: missing fields name their path") {
  struct Case {
    std::vector<std::string> path;  // object keys and array indices (as digits)
    const char* phrase;
  } cases[] = {
      {{"pid"}, "manifest.pid: missing"},
      {{"identity"}, "manifest.identity: missing"},
      {{"credentials", "groups"}, "manifest.credentials.groups: missing"},
      {{"mm", "auxv"}, "manifest.mm.auxv: missing"},
      {{"vdso", "vdso_hash"}, "manifest.vdso.vdso_hash: missing"},
      {{"libckpt", "images_dir"}, "manifest.libckpt.images_dir: missing"},
      {{"threads", "1", "rseq", "sig"}, "threads[1].rseq.sig: missing"},
      {{"threads", "0", "altstack"}, "threads[0].altstack: missing"},
      {{"regions", "4", "file"}, "regions[4].file: missing"},
      {{"files", "2", "deleted"}, "files[2].deleted: missing"},
      {{"open_files", "6", "rdev"}, "open_files[6].rdev: missing"},
      {{"open_files", "4", "socket", "nodelay"}, "open_files[4].socket.nodelay: missing"},
      {{"open_files", "1", "locks", "0", "len"}, "open_files[1].locks[0].len: missing"},
      {{"fds", "7", "open_file"}, "fds[7].open_file: missing"},
      {{"blobs", "2", "what"}, "blobs[2].what: missing"},
      {{"pending_signals", "0", "siginfo"}, "pending_signals[0].siginfo: missing"},
      {{"clocks", "boottime_ns"}, "manifest.clocks.boottime_ns: missing"},
      {{"ignored"}, "manifest.ignored: missing"},
      {{"signals", "1", "mask"}, "signals[1].mask: missing"},
      {{"rlimits", "0", "cur"}, "rlimits[0].cur: missing"},
  };
  for (const Case& c : cases) {
    json j = sample_json();
    json* at = &j;
    for (size_t i = 0; i + 1 < c.path.size(); i++)
      at = at->is_array() ? &(*at)[std::stoul(c.path[i])] : &(*at)[c.path[i]];
    at->erase(c.path.back());
    INFO("case: ", std::string(c.phrase));
    CHECK_PARSE_ERROR(j, c.phrase);
  }
}

TEST_CASE("manifest: wrong types and out-of-range values") {
  auto with = [](auto change) {
    json j = sample_json();
    change(j);
    return j;
  };
  CHECK_PARSE_ERROR(with([](json& j) { j["pid"] = "4242"; }), "manifest.pid: expected an integer");
  CHECK_PARSE_ERROR(with([](json& j) { j["pid"] = 4242.5; }), "manifest.pid: expected an integer");
  CHECK_PARSE_ERROR(with([](json& j) { j["pid"] = 0; }), "manifest.pid: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["pid"] = (1 << 30) + 1; }), "manifest.pid: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["exe_file"] = -2; }), "manifest.exe_file: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["exe"] = 5; }), "manifest.exe: expected a string");
  CHECK_PARSE_ERROR(with([](json& j) { j["cwd"] = std::string(4097, 'a'); }), "manifest.cwd: string too long");
  CHECK_PARSE_ERROR(with([](json& j) { j["cwd"] = std::string("/a\0b", 4); }), "manifest.cwd: string contains NUL");
  CHECK_PARSE_ERROR(with([](json& j) { j["argv"] = json::array({"a", 1}); }), "manifest.argv: expected strings");
  CHECK_PARSE_ERROR(with([](json& j) { j["argv"] = "a"; }), "manifest.argv: expected an array");
  CHECK_PARSE_ERROR(with([](json& j) { j["umask"] = 0x200; }), "manifest.umask: out of range (512 > 511)");
  CHECK_PARSE_ERROR(with([](json& j) { j["umask"] = -1; }), "manifest.umask: expected an unsigned integer");
  CHECK_PARSE_ERROR(with([](json& j) { j["personality"] = 1ULL << 32; }), "manifest.personality: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["dumpable"] = 1; }), "manifest.dumpable: expected true or false");
  CHECK_PARSE_ERROR(with([](json& j) { j["credentials"]["uid"] = json::array({1, 2, 3}); }),
                    "manifest.credentials.uid: expected 4 ids");
  CHECK_PARSE_ERROR(with([](json& j) { j["credentials"]["uid"] = json::array({1, 2, 3, 4, 5}); }),
                    "manifest.credentials.uid: too many items");
  CHECK_PARSE_ERROR(with([](json& j) { j["credentials"]["gid"] = json::array({1ULL, 2ULL, 3ULL, 1ULL << 32}); }),
                    "manifest.credentials.gid: id out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["credentials"]["groups"] = json::array({-1}); }),
                    "manifest.credentials.groups: expected unsigned integers");
  CHECK_PARSE_ERROR(with([](json& j) { j["credentials"] = 3; }), "manifest.credentials: expected an object");
  CHECK_PARSE_ERROR(with([](json& j) { j["rlimits"][0]["resource"] = 64; }), "rlimits[0].resource: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["mm"]["auxv"] = json::array({1, "x"}); }),
                    "manifest.mm.auxv: expected unsigned integers");
  CHECK_PARSE_ERROR(with([](json& j) { j["mm"]["auxv"] = json(std::vector<int>(513, 0)); }),
                    "manifest.mm.auxv: too many items");
  CHECK_PARSE_ERROR(with([](json& j) { j["signals"][0]["signo"] = 65; }), "signals[0].signo: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["signals"][0]["signo"] = 0; }), "signals[0].signo: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["signals"] = json(std::vector<json>(65, j["signals"][0])); }),
                    "manifest.signals: too many items");
  CHECK_PARSE_ERROR(with([](json& j) { j["threads"][0]["tid"] = 0; }), "threads[0].tid: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["threads"][1]["name"] = "sixteen-chars-xx"; }),
                    "threads[1].name: string too long");
  CHECK_PARSE_ERROR(with([](json& j) { j["threads"][0]["resume"]["fpu_cw"] = 0x10000; }),
                    "threads[0].resume.fpu_cw: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["threads"][0]["resume"]["mxcsr"] = 1ULL << 32; }),
                    "threads[0].resume.mxcsr: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["threads"][0]["resume"] = json::array(); }),
                    "threads[0].resume: expected an object");
  CHECK_PARSE_ERROR(with([](json& j) { j["threads"][0] = 7; }), "threads[0]: expected an object");
  CHECK_PARSE_ERROR(with([](json& j) { j["threads"][0]["affinity"] = json(std::vector<int>(1025, 1)); }),
                    "threads[0].affinity: too many items");
  CHECK_PARSE_ERROR(with([](json& j) { j["regions"][0]["kind"] = "heap"; }), "regions[0].kind: unknown region kind");
  CHECK_PARSE_ERROR(with([](json& j) { j["regions"][0]["prot"] = 8; }), "regions[0].prot: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["regions"][0]["vmflags"] = json::array({"rd"}); }),
                    "regions[0].vmflags: unknown flag rd");
  CHECK_PARSE_ERROR(with([](json& j) { j["regions"][0]["vmflags"] = json::array({"g"}); }), "regions[0].vmflags: unknown flag g");
  CHECK_PARSE_ERROR(with([](json& j) { j["regions"][0]["vmflags"] = json::array({1}); }), "regions[0].vmflags: expected strings");
  CHECK_PARSE_ERROR(with([](json& j) { j["regions"][0]["start"] = -4096; }),
                    "regions[0].start: expected an unsigned integer");
  CHECK_PARSE_ERROR(with([](json& j) { j["regions"][0]["file"] = -2; }), "regions[0].file: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["regions"][0]["libckpt_internal"] = "yes"; }),
                    "regions[0].libckpt_internal: expected true or false");
  CHECK_PARSE_ERROR(with([](json& j) { j["files"][0]["mtime_ns"] = 1.5; }), "files[0].mtime_ns: expected an integer");
  CHECK_PARSE_ERROR(with([](json& j) { j["files"][0]["mode"] = 1ULL << 32; }), "files[0].mode: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["open_files"][0]["kind"] = "socketpair"; }),
                    "open_files[0].kind: unknown file kind");
  CHECK_PARSE_ERROR(with([](json& j) { j["open_files"][1]["blob"] = CKPT_MAX_BLOBS + 1; }),
                    "open_files[1].blob: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["open_files"][1]["locks"][0]["kind"] = "lease"; }),
                    "open_files[1].locks[0].kind: unknown lock kind");
  CHECK_PARSE_ERROR(with([](json& j) { j["open_files"][1]["locks"][1]["start"] = -1; }),
                    "open_files[1].locks[1].start: negative range");
  CHECK_PARSE_ERROR(with([](json& j) { j["open_files"][4]["socket"]["family"] = 65; }),
                    "open_files[4].socket.family: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["open_files"][4]["socket"]["local"] = std::string(513, '0'); }),
                    "open_files[4].socket.local: string too long");
  CHECK_PARSE_ERROR(with([](json& j) { j["open_files"][7]["timerfd"]["clock"] = 17; }),
                    "open_files[7].timerfd.clock: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["open_files"][7]["timerfd"]["interval_ns"] = -1; }),
                    "open_files[7].timerfd.next_ns: negative time");
  CHECK_PARSE_ERROR(with([](json& j) { j["open_files"][9]["epoll"][0]["fd"] = -1; }),
                    "open_files[9].epoll[0].fd: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["open_files"][10]["inotify"][0]["wd"] = 0; }),
                    "open_files[10].inotify[0].wd: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["open_files"][0]["termios"] = std::string(513, '0'); }),
                    "open_files[0].termios: string too long");
  CHECK_PARSE_ERROR(with([](json& j) { j["fds"][0]["open_file"] = -1; }), "fds[0].open_file: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["blobs"][0]["size"] = (1ULL << 40) + 1; }), "blobs[0].size: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["blobs"] = json(std::vector<json>(CKPT_MAX_BLOBS + 1, j["blobs"][0])); }),
                    "manifest.blobs: too many items");
  CHECK_PARSE_ERROR(with([](json& j) { j["pending_signals"][0]["siginfo"] = std::string(257, '0'); }),
                    "pending_signals[0].siginfo: string too long");
  CHECK_PARSE_ERROR(with([](json& j) { j["pending_signals"][0]["tid"] = -1; }),
                    "pending_signals[0].tid: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["ignored"] = json::array({1}); }), "manifest.ignored: expected strings");
  CHECK_PARSE_ERROR(with([](json& j) { j["clocks"]["monotonic_ns"] = "now"; }),
                    "manifest.clocks.monotonic_ns: expected an integer");
  CHECK_PARSE_ERROR(with([](json& j) { j["regions"][3]["inode"] = -1; }),
                    "regions[3].inode: expected an unsigned integer");
  CHECK_PARSE_ERROR(with([](json& j) { j["fds"][0]["fd"] = -1; }), "fds[0].fd: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["fds"][0]["fd"] = (1 << 20) + 1; }), "fds[0].fd: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["libckpt"]["control_fd"] = (1 << 20) + 1; }),
                    "manifest.libckpt.control_fd: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["libckpt"]["ckpt_signal"] = 0; }),
                    "manifest.libckpt.ckpt_signal: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["identity"] = nullptr; }), "manifest.identity: expected a string");
  CHECK_PARSE_ERROR(with([](json& j) { j["threads"][0]["stack"] = json::array({1}); }),
                    "threads[0].stack: expected [lo, hi]");
  CHECK_PARSE_ERROR(with([](json& j) { j["threads"][0]["stack"] = json::array({1, 2, 3}); }),
                    "threads[0].stack: too many items");
  CHECK_PARSE_ERROR(with([](json& j) { j["threads"][0]["origin"] = std::string(33, 'o'); }),
                    "threads[0].origin: string too long");
  CHECK_PARSE_ERROR(with([](json& j) { j["threads"][1]["pthread"] = -1; }),
                    "threads[1].pthread: expected an unsigned integer");
  CHECK_PARSE_ERROR(with([](json& j) { j["timers"] = json::object(); }), "manifest.timers: expected an array");
  CHECK_PARSE_ERROR(with([](json& j) { j["timers"][0]["next_ns"] = -1; }), "timers[0].next_ns: negative time");
  CHECK_PARSE_ERROR(with([](json& j) { j["timers"][1]["interval_ns"] = -5; }), "negative time");
  CHECK_PARSE_ERROR(with([](json& j) { j["timers"][0]["signo"] = 65; }), "timers[0].signo: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["timers"][0]["notify"] = 8; }), "timers[0].notify: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["timers"][0]["clock"] = 65; }), "timers[0].clock: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["timers"][0]["id"] = -1; }), "timers[0].id: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["timers"][0].erase("value"); }), "timers[0].value: missing");
  CHECK_PARSE_ERROR(with([](json& j) { j["itimers"][0]["which"] = 3; }), "itimers[0].which: out of range");
  CHECK_PARSE_ERROR(with([](json& j) { j["itimers"][1]["next_us"] = -1; }), "itimers[1].next_us: negative time");
  CHECK_PARSE_ERROR(with([](json& j) { j["itimers"] = json(std::vector<json>(4, j["itimers"][0])); }),
                    "manifest.itimers: too many items");
  CHECK_PARSE_ERROR(with([](json& j) { j["libckpt"]["tracking"] = std::string(33, 't'); }),
                    "manifest.libckpt.tracking: string too long");
  CHECK_PARSE_ERROR(with([](json& j) { j["libckpt"]["parent_path"] = 3; }),
                    "manifest.libckpt.parent_path: expected a string");
}

// Paths, argv and thread names are bytes, not UTF-8: they round-trip exactly.
TEST_CASE("manifest: non-UTF-8 paths and arguments round-trip") {
  ProcessState st = sample_state();
  st.argv.push_back("caf\xe9");           // Latin-1 "café"
  st.files[2].path = "/tmp/\xff\xfe.log";
  st.argv.push_back("caf\xc3\xa9 \xef\x9e\x80 \xe2\x82");  // UTF-8, U+F780 (the escape range), a cut sequence
  st.cwd = "/tmp/\xed\xa0\x80";                            // an encoded surrogate: not UTF-8
  std::string text;
  CHECK_NOTHROW(text = manifest_to_json(st));
  if (!text.empty()) check_states_equal(st, manifest_from_json(text));
}

// Unsigned JSON integers above INT64_MAX must not wrap negative in signed fields.
TEST_CASE("manifest: integers above INT64_MAX in signed fields are out of range") {
  json j = sample_json();
  j["exe_file"] = UINT64_MAX;
  CHECK_PARSE_ERROR(j, "manifest.exe_file: out of range");
  j = sample_json();
  j["regions"][0]["file"] = UINT64_MAX;  // would read as -1
  CHECK_PARSE_ERROR(j, "regions[0].file: out of range");
  j = sample_json();
  j["open_files"][1]["offset"] = UINT64_MAX;  // would read as -1, "not seekable"
  CHECK_PARSE_ERROR(j, "open_files[1].offset");
}
