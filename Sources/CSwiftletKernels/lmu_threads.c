// The helper threads of swiftlet_lmu_parallel. A whole LMUFormer clip is a few dozen column-split
// steps of tens to hundreds of microseconds each, so helpers spin briefly after a job (the next one
// usually follows at once) and then sleep on a condition variable.
//
// Parts are claimed from a counter by whoever is free, the calling thread included: when a helper
// is not scheduled (a busy machine), the caller simply runs its parts. A caller that finds the pool
// in use by another thread runs all of its parts itself instead of waiting.

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "lmu_internal.h"

#ifdef SWL_LMU_X86
#define RELAX() _mm_pause()
#else
#define RELAX() ((void)0)
#endif

enum {
    MAX_HELPERS = 7,
    SPIN_ROUNDS = 30000,  // pauses before a helper sleeps (some tens of microseconds)
};

static pthread_mutex_t submit_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cond = PTHREAD_COND_INITIALIZER;
static int helpers;  // started so far (under submit_lock)

// The job. `ticket` packs the job's generation (high 32 bits), its number of parts (16 bits) and
// the next unclaimed part (low 16 bits): a part is claimed by a compare-and-swap on the whole
// word, so a helper that is late for one job can never claim a part of the next. `job_fn`/`job_ctx`
// are written before the ticket is published (release) and read after a successful claim.
static void (*job_fn)(void *, int, int);
static void *job_ctx;
static atomic_ulong ticket;
static atomic_int done_parts;
static atomic_ulong generation;

static void run_parts(unsigned long gen) {
    unsigned long t = atomic_load(&ticket);
    for (;;) {
        if ((t >> 32) != (gen & 0xFFFFFFFFul)) return;
        int parts = (int)((t >> 16) & 0xFFFF), p = (int)(t & 0xFFFF);
        if (p >= parts) return;
        if (!atomic_compare_exchange_weak(&ticket, &t, t + 1)) continue;
        void (*fn)(void *, int, int) = job_fn;
        void *ctx = job_ctx;
        fn(ctx, p, parts);
        atomic_fetch_add(&done_parts, 1);
        t = atomic_load(&ticket);
    }
}

static void *helper_main(void *unused) {
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
            while (atomic_load(&generation) == seen) pthread_cond_wait(&wake_cond, &wake_lock);
            pthread_mutex_unlock(&wake_lock);
        }
        seen = atomic_load(&generation);
        run_parts(seen);
    }
    return NULL;
}

void swiftlet_lmu_parallel(int parts, void (*fn)(void *ctx, int index, int parts), void *ctx) {
    if (parts <= 1) {
        fn(ctx, 0, 1);
        return;
    }
    if (parts > 0xFFFF || pthread_mutex_trylock(&submit_lock) != 0) {
        for (int i = 0; i < parts; i++) fn(ctx, i, parts);
        return;
    }
    int want = parts - 1 < MAX_HELPERS ? parts - 1 : MAX_HELPERS;
    while (helpers < want) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&t, &attr, helper_main, NULL);
        pthread_attr_destroy(&attr);
        if (failed) break;
        helpers++;
    }
    job_fn = fn;
    job_ctx = ctx;
    atomic_store(&done_parts, 0);
    unsigned long gen = atomic_load(&generation) + 1;
    atomic_store(&ticket, ((gen & 0xFFFFFFFFul) << 32) | ((unsigned long)parts << 16));
    pthread_mutex_lock(&wake_lock);
    atomic_store(&generation, gen);
    pthread_cond_broadcast(&wake_cond);
    pthread_mutex_unlock(&wake_lock);
    run_parts(gen);
    long spins = 0;
    while (atomic_load(&done_parts) < parts) {
        RELAX();
        if (++spins % 4096 == 0) sched_yield();
    }
    pthread_mutex_unlock(&submit_lock);
}
