// Internal to the memory kernels (not part of the module's public headers).
#ifndef SWIFTLET_MEMORY_INTERNAL_H
#define SWIFTLET_MEMORY_INTERNAL_H

/// One part of a parallel job.
typedef void (*swl_memory_task)(void *context, int part);

/// Runs task(context, p) for every p in 0 ..< parts on up to `threads` threads, the caller included,
/// and returns when all are done. A small process-wide pool of workers is started on first use; if
/// another job holds the pool, or threads cannot be started, the caller runs every part itself.
void swiftlet_memory_parallel(int parts, int threads, swl_memory_task task, void *context);

#endif
