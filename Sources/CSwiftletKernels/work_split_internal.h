// Shared by the kernels that split a product's output columns over a pool (swk_pool.h): how many
// parts pay for the hand-off.
#ifndef SWK_WORK_SPLIT_INTERNAL_H
#define SWK_WORK_SPLIT_INTERNAL_H

#include <stddef.h>

/// Parts worth running for `work` multiply-adds (per row of the input, or in all for a GEMV): each
/// should get some 64 Ki, since below that a hand-off costs more than it saves. At least 1, at most
/// `threads`.
static inline int swk_useful_parts(int threads, ptrdiff_t work) {
    if (threads < 1) threads = 1;
    const ptrdiff_t by_work = work / (64 * 1024);
    return by_work < threads ? (by_work < 1 ? 1 : (int)by_work) : threads;
}

#endif
