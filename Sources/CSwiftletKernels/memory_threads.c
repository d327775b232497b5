// A tiny worker pool for the memory kernels. A gather of a long prompt is milliseconds of scattered
// row reads: a second thread doubles the cache misses in flight. Workers spin briefly after a job
// (the next gather usually follows within microseconds), then sleep on a condition variable.
//
// One job runs at a time. A caller that finds the pool busy (another session's job) simply runs its
// parts itself, so concurrent sessions never wait on each other. Workers live for the process.

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "memory_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define RELAX() _mm_pause()
#else
#define RELAX() ((void)0)
#endif

enum {
    MAX_WORKERS = 31,
    SPIN_ROUNDS = 2000,  // pauses before a worker sleeps: ~75 µs on Zen 4 (a pause is ~37 ns)
};

static pthread_mutex_t submit_lock = PTHREAD_MUTEX_INITIALIZER;  // held by the job's caller
static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cond = PTHREAD_COND_INITIALIZER;
static int workers;  // started so far (under submit_lock)

// The job. Its fields are written before `next_part` is reset and `generation` bumped; a worker reads
// them only after claiming a part, so it always sees the job the part belongs to.
static swl_memory_task job_task;
static void *job_context;
static int job_parts;
static atomic_int next_part;
static atomic_int done_parts;
static atomic_int helpers_wanted;
static atomic_ulong generation;
static atomic_int sleepers;

static void run_parts(void) {
    for (;;) {
        int p = atomic_fetch_add(&next_part, 1);
        if (p >= job_parts) return;
        job_task(job_context, p);
        atomic_fetch_add(&done_parts, 1);
    }
}

static void *worker_main(void *unused) {
    (void)unused;
    unsigned long seen = atomic_load(&generation);
    for (;;) {
        int spins = 0;
        while (atomic_load(&generation) == seen && spins < SPIN_ROUNDS) {
            RELAX();
            spins++;
        }
        if (atomic_load(&generation) == seen) {
            pthread_mutex_lock(&wake_lock);
            atomic_fetch_add(&sleepers, 1);
            // seq_cst on both sides: either the submitter sees this sleeper, or this load sees its bump.
            while (atomic_load(&generation) == seen) pthread_cond_wait(&wake_cond, &wake_lock);
            atomic_fetch_sub(&sleepers, 1);
            pthread_mutex_unlock(&wake_lock);
        }
        seen = atomic_load(&generation);
        if (atomic_fetch_sub(&helpers_wanted, 1) > 0) run_parts();
    }
    return NULL;
}

static void run_serially(int parts, swl_memory_task task, void *context) {
    for (int p = 0; p < parts; p++) task(context, p);
}

void swiftlet_memory_parallel(int parts, int threads, swl_memory_task task, void *context) {
    if (parts <= 1 || threads <= 1 || pthread_mutex_trylock(&submit_lock) != 0) {
        run_serially(parts, task, context);
        return;
    }
    int helpers = threads - 1 < MAX_WORKERS ? threads - 1 : MAX_WORKERS;
    if (helpers > parts - 1) helpers = parts - 1;
    while (workers < helpers) {
        pthread_t thread;
        pthread_attr_t attributes;
        if (pthread_attr_init(&attributes) != 0) break;
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&thread, &attributes, worker_main, NULL);
        pthread_attr_destroy(&attributes);
        if (failed) break;
        workers++;
    }
    if (workers == 0) {
        pthread_mutex_unlock(&submit_lock);
        run_serially(parts, task, context);
        return;
    }
    job_task = task;
    job_context = context;
    job_parts = parts;
    atomic_store(&done_parts, 0);
    atomic_store(&next_part, 0);
    atomic_store(&helpers_wanted, helpers);
    atomic_fetch_add(&generation, 1);
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&wake_lock);
        pthread_cond_broadcast(&wake_cond);
        pthread_mutex_unlock(&wake_lock);
    }
    run_parts();
    // Parts are about equal, so the others finish soon; yield now and then in case a worker was
    // descheduled on a busy machine.
    for (int spins = 0; atomic_load(&done_parts) < parts; spins++) {
        RELAX();
        if ((spins & 1023) == 1023) sched_yield();
    }
    pthread_mutex_unlock(&submit_lock);
}
