// The one thread pool of the kernels. A session (or stream) owns one pool of its thread count; every
// kernel that splits work takes that pool, so each session runs on exactly the threads it asked for
// and two sessions never share or fight over workers.
//
// Parts are claimed from a shared counter by whichever thread is free, the caller included: a helper
// that the OS does not schedule only costs time, never a stall. Helpers spin briefly after a job (the
// next step of a forward pass follows within microseconds), then sleep, so an idle pool costs no CPU.
#ifndef SWK_POOL_H
#define SWK_POOL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct swk_pool swk_pool;

/// A pool for `threads` threads in all: the caller of `swk_pool_run` plus `threads - 1` helpers,
/// started here. Fewer helpers are kept if the system refuses to start one. NULL when `threads` ≤ 1
/// or memory runs out; every function takes NULL as "the calling thread only".
swk_pool *swk_pool_create(int threads);

/// Stops the helpers and frees the pool. NULL is a no-op.
void swk_pool_free(swk_pool *pool);

/// Threads a job can run on: helpers + 1 (1 for NULL).
int swk_pool_threads(const swk_pool *pool);

/// Runs `fn(context, part, parts)` for every part in [0, parts) and returns when all have finished.
/// Parts run concurrently, so they must write disjoint memory. A call made from inside a part, or
/// while another thread is using the pool, runs every part on the calling thread (same results).
void swk_pool_run(swk_pool *pool, int parts, void (*fn)(void *context, int part, int parts), void *context);

/// Bit i set: helper i + 1 ran at least one part since the last `swk_pool_take_used` (bit 63 for
/// helpers past 63). Clears the record. Lets a caller report how many threads a call really used.
uint64_t swk_pool_take_used(swk_pool *pool);

/// Nanoseconds callers of `swk_pool_run` spent waiting for parts that helpers had claimed, since the
/// last call; clears the record. Large against the work means a helper is not getting a core (another
/// process holds it): a caller may then do better alone.
uint64_t swk_pool_take_waited_ns(swk_pool *pool);

#ifdef __cplusplus
}
#endif

#endif
