// The manifest: ProcessState as JSON (nlohmann/json), stored in every image.
// Serialising never fails; parsing checks every field's presence, type and
// range and reports the first problem with its JSON path.
#pragma once
#include <stdexcept>
#include <string>

#include "process_state.h"

namespace ckpt {

struct ManifestError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string manifest_to_json(const ProcessState& st);
ProcessState manifest_from_json(const std::string& text);  // throws ManifestError

// Range images (ckpt_save_range) carry a small manifest instead:
// {"kind": "range", "start": S, "end": E, "parent_path": P}.
std::string range_manifest_to_json(uint64_t start, uint64_t end, const std::string& parent_path);
// True if `text` is a range manifest (fills start/end/parent_path); throws
// ManifestError if it claims to be one but is malformed.
bool range_manifest_from_json(const std::string& text, uint64_t& start, uint64_t& end, std::string& parent_path);

}  // namespace ckpt
