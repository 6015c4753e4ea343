// CPU facts an image depends on, and the compatibility rule between an
// image's CPU and a host: every feature bit the source had must be present,
// every xsave component it enabled must be enabled, and the xsave area may
// not be larger than the source's (glibc sized its buffers at start-up).
#pragma once
#include <string>
#include <vector>

#include "image/image_format.h"

namespace ckpt {

ckpt_cpu_features read_cpu_features();

// Differences that make `host` unable to run code captured on `image`, each
// named ("missing CPU feature avx512f", "xsave area 2696 > 2440 bytes").
std::vector<std::string> cpu_incompatibilities(const ckpt_cpu_features& image,
                                               const ckpt_cpu_features& host);

}  // namespace ckpt
