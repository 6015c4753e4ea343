// Spreads independent pieces of restore work (blocks to decompress) over the
// CPUs the launcher may use.
#pragma once
#include <cstddef>
#include <functional>

namespace ckpt {

// How many threads restore work may use: the CPUs in our affinity mask
// (at most 8), or CKPT_RESTORE_THREADS.
unsigned restore_threads();

// Calls work(i, worker) for every i in [0, n), on up to `threads` threads
// (the caller's included; worker < threads). The first exception stops the
// others and is rethrown here, after every thread has ended and its tid is
// free again (the restorer re-creates the application's threads with their
// original tids, which a helper could have been given).
void parallel_for(size_t n, unsigned threads, const std::function<void(size_t i, unsigned worker)>& work);

}  // namespace ckpt
