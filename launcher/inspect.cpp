// ckpt-run --inspect IMAGE: the image as JSON (header, parent reference,
// block statistics and the whole manifest: threads, regions, fds, ...).
// ckpt-run --check IMAGE: can this host restore it?
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "actions.h"
#include "host_check.h"
#include "image/image_reader.h"
#include "program_check.h"
#include "image/chain.h"

namespace ckpt {

namespace {

std::string iso_time(uint64_t ns) {
  time_t t = time_t(ns / 1000000000ull);
  struct tm tm;
  gmtime_r(&t, &tm);
  char b[40];
  strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return b;
}

bool is_zero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return false;
  return true;
}

}  // namespace

int run_inspect(const Options& o) {
  using json = nlohmann::ordered_json;
  try {
    ImageReader img(o.target);
    if (o.verify) img.verify_pages();
    const ckpt_file_header& h = img.header();
    const ckpt_footer& f = img.footer();
    json out;
    out["image"] = {
        {"path", absolute_path(o.target)},
        {"format_version", h.format_version},
        {"image_id", hex_string(h.image_id, sizeof h.image_id)},
        {"created", iso_time(h.created_realtime_ns)},
        {"incremental", (h.flags & CKPT_HDR_INCREMENTAL) != 0},
        {"kernel", {{"sysname", h.uts_sysname}, {"release", h.uts_release}, {"version", h.uts_version},
                    {"machine", h.uts_machine}}},
        {"libckpt_build_id", hex_string(h.build_id, h.build_id_len)},
        {"cpu", {{"vendor", std::string(h.cpu.vendor, strnlen(h.cpu.vendor, 12))},
                 {"family", h.cpu.family}, {"model", h.cpu.model},
                 {"xcr0", h.cpu.xcr0}, {"xsave_size", h.cpu.xsave_size}}},
        {"file_size", img.file_size()},
        {"blocks", f.block_count},
        {"data_pages", f.data_pages},
        {"zero_pages", f.zero_pages},
        {"parent_pages", f.parent_pages},
        {"content_hash", f.file_hash},
        {"verified", o.verify},
    };
    if (is_zero(h.parent.image_id, sizeof h.parent.image_id))
      out["parent"] = nullptr;
    else
      out["parent"] = {{"file_name", std::string(h.parent.file_name, strnlen(h.parent.file_name, sizeof h.parent.file_name))},
                       {"image_id", hex_string(h.parent.image_id, sizeof h.parent.image_id)},
                       {"content_hash", h.parent.content_hash}};
    json manifest = json::parse(img.manifest_text());
    for (auto& [k, v] : manifest.items()) out[k] = v;
    printf("%s\n", out.dump(2).c_str());
    return 0;
  } catch (const std::exception& e) {
    fprintf(stderr, "ckpt-run: --inspect: %s\n", e.what());
    return kExitFailure;
  }
}

int run_check(const Options& o) {
  try {
    ImageChain chain(o.target);
    chain.verify_pages();
    if (chain.newest().is_range()) {  // as --restore says
      fprintf(stderr, "ckpt-run: %s is a range image (ckpt_save_range); load it with ckpt_load_range\n",
              o.target.c_str());
      return kExitFailure;
    }
    auto problems = host_problems(chain.newest(), find_library());
    if (problems.empty()) {
      printf("ok: %s can be restored on this host%s\n", o.target.c_str(),
             chain.size() > 1 ? (" (chain of " + std::to_string(chain.size()) + " images)").c_str() : "");
      return 0;
    }
    fprintf(stderr, "ckpt-run: %s cannot be restored on this host:\n", o.target.c_str());
    for (const std::string& p : problems) fprintf(stderr, "  - %s\n", p.c_str());
    return kExitFailure;
  } catch (const std::exception& e) {
    fprintf(stderr, "ckpt-run: --check: %s\n", e.what());
    return kExitFailure;
  }
}

}  // namespace ckpt
