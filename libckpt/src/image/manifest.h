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

}  // namespace ckpt
