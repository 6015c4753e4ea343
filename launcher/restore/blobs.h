// Saved contents of files, pipes and memfds carried by an image.
#pragma once
#include <string>
#include <vector>

#include "image/image_reader.h"

namespace ckpt {

std::vector<std::string> load_blobs(const ImageReader& img);  // blobs[i] = blob i

}  // namespace ckpt
