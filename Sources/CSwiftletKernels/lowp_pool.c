// A small thread pool for the compact-weight kernels. Each worker has its own mailbox (a sequence
// number): the caller posts a job to the workers it needs, runs part 0 itself, and waits for their
// acknowledgements. Workers spin briefly after a job — decoding calls the pool dozens of times per
// token, microseconds apart — then sleep on a condition variable so that an idle pool costs nothing.
#define _GNU_SOURCE
#include "swiftlet_lowp.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#define POOL_MAX 64
// Spin iterations before a worker sleeps (each a pause, ~10–40 ns): tens of microseconds.
#define WORKER_SPINS 4000
// Spin iterations of the caller before it yields while waiting for the workers.
#define CALLER_SPINS 2000

typedef void (*pool_fn)(void *, int, int);

typedef struct {
    _Atomic unsigned posted;   // incremented by the caller for each job
    _Atomic unsigned done;     // set to `posted` by the worker when its part is finished
    _Atomic int sleeping;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    int index;
    int started;
} worker_t;

static struct {
    pthread_mutex_t dispatch;  // held by the thread using the pool
    pthread_mutex_t start;     // serialises starting workers
    worker_t workers[POOL_MAX];
    _Atomic int running;       // workers started (indices 1 ... running)
    // The current job, written under `dispatch` before the mailboxes are bumped.
    pool_fn fn;
    void *context;
    int count;
} pool = {
    .dispatch = PTHREAD_MUTEX_INITIALIZER,
    .start = PTHREAD_MUTEX_INITIALIZER,
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *worker_main(void *arg) {
    worker_t *w = arg;
    // Mailboxes start at 0; a job may have been posted before this thread first runs.
    unsigned seen = 0;
    for (;;) {
        unsigned now;
        int spins = 0;
        while ((now = atomic_load_explicit(&w->posted, memory_order_acquire)) == seen) {
            if (++spins < WORKER_SPINS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&w->mutex);
            atomic_store_explicit(&w->sleeping, 1, memory_order_seq_cst);
            while (atomic_load_explicit(&w->posted, memory_order_seq_cst) == seen) {
                pthread_cond_wait(&w->wake, &w->mutex);
            }
            atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
            pthread_mutex_unlock(&w->mutex);
            spins = 0;
        }
        seen = now;
        pool.fn(pool.context, w->index, pool.count);
        atomic_store_explicit(&w->done, now, memory_order_release);
    }
    return NULL;
}

/// Starts workers 1 ... n - 1 that are not running yet; returns how many parts can run in parallel.
static int ensure_workers(int n) {
    if (atomic_load_explicit(&pool.running, memory_order_acquire) >= n - 1) return n;
    pthread_mutex_lock(&pool.start);
    int have = atomic_load_explicit(&pool.running, memory_order_relaxed);
    while (have < n - 1) {
        worker_t *w = &pool.workers[have + 1];
        w->index = have + 1;
        atomic_store(&w->posted, 0);
        atomic_store(&w->done, 0);
        atomic_store(&w->sleeping, 0);
        pthread_mutex_init(&w->mutex, NULL);
        pthread_cond_init(&w->wake, NULL);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        pthread_t tid;
        int rc = pthread_create(&tid, &attr, worker_main, w);
        pthread_attr_destroy(&attr);
        if (rc != 0) break;  // run with the workers we have
        pthread_detach(tid);
        w->started = 1;
        have += 1;
    }
    atomic_store_explicit(&pool.running, have, memory_order_release);
    pthread_mutex_unlock(&pool.start);
    return have + 1 < n ? have + 1 : n;
}

void swl_pool_run(int count, void (*fn)(void *, int, int), void *context) {
    if (count < 1) count = 1;
    if (count > POOL_MAX) count = POOL_MAX;
    if (count == 1 || pthread_mutex_trylock(&pool.dispatch) != 0) {
        for (int i = 0; i < count; i++) fn(context, i, count);
        return;
    }
    int parallel = ensure_workers(count);
    pool.fn = fn;
    pool.context = context;
    pool.count = count;
    unsigned tickets[POOL_MAX];
    for (int i = 1; i < parallel; i++) {
        worker_t *w = &pool.workers[i];
        tickets[i] = atomic_fetch_add_explicit(&w->posted, 1, memory_order_seq_cst) + 1;
        if (atomic_load_explicit(&w->sleeping, memory_order_seq_cst)) {
            pthread_mutex_lock(&w->mutex);
            pthread_cond_signal(&w->wake);
            pthread_mutex_unlock(&w->mutex);
        }
    }
    fn(context, 0, count);
    // Parts without a worker (thread creation failed) run here.
    for (int i = parallel; i < count; i++) fn(context, i, count);
    for (int i = 1; i < parallel; i++) {
        worker_t *w = &pool.workers[i];
        int spins = 0;
        while (atomic_load_explicit(&w->done, memory_order_acquire) != tickets[i]) {
            if (++spins < CALLER_SPINS) {
                cpu_relax();
            } else {
                sched_yield();  // the worker may be descheduled on a busy machine: give it the core
            }
        }
    }
    pthread_mutex_unlock(&pool.dispatch);
}
