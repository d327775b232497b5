// The kernels' thread pool (swk_pool.h). One job at a time per pool. The job is published as one
// 64-bit ticket — generation (32 bits), number of claim slots (16), next unclaimed slot (16) — and a
// slot is claimed by a compare-and-swap on the whole word, so a helper that wakes late for one job
// can never claim a slot of the next.
#define _GNU_SOURCE
#include "swk_pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define RELAX() _mm_pause()
#elif defined(__aarch64__)
#define RELAX() __asm__ __volatile__("yield")
#else
#define RELAX() ((void)0)
#endif

enum {
    MAX_THREADS = 256,
    MAX_SLOTS = 0xFFFF,
    // How long a helper spins for the next job before it sleeps. A forward pass posts its next step
    // within microseconds; between calls (a streamed frame every 10 ms) the helpers sleep. 300 µs made
    // two-thread DeiT-Tiny 20-30 % slower when another process held the second core (the spinning
    // helper took that core's time slices); 50 µs measured as fast as the old pools there.
    SPIN_NANOSECONDS = 50 * 1000,
};

typedef struct {
    swk_pool *pool;
    int index; // 1 ... helpers
    pthread_t thread;
} helper_t;

struct swk_pool {
    pthread_mutex_t dispatch; // held by the thread whose job runs
    pthread_mutex_t wake_lock;
    pthread_cond_t wake;
    atomic_int sleepers;
    atomic_int stopping;
    int helpers;
    helper_t *helper;
    // The job: written before the ticket is published, read after a slot is claimed.
    void (*fn)(void *, int, int);
    void *context;
    int parts;
    int slots;
    atomic_ullong ticket;
    atomic_int done;
    atomic_ullong used;
    atomic_ullong waited; // ns the caller spent waiting for helpers' parts, since the last take
};

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline unsigned ticket_generation(unsigned long long t) { return (unsigned)(t >> 32); }

/// Claims and runs slots of job `generation` until none is left; returns how many it ran.
static int run_slots(swk_pool *p, unsigned generation) {
    int ran = 0;
    unsigned long long t = atomic_load(&p->ticket);
    for (;;) {
        if (ticket_generation(t) != generation) return ran;
        int slots = (int)((t >> 16) & 0xFFFF), s = (int)(t & 0xFFFF);
        if (s >= slots) return ran;
        if (!atomic_compare_exchange_weak(&p->ticket, &t, t + 1)) continue;
        // Slot s runs parts [s·parts/slots, (s+1)·parts/slots): one part per slot unless parts > MAX_SLOTS.
        int parts = p->parts;
        long long lo = (long long)s * parts / slots, hi = (long long)(s + 1) * parts / slots;
        for (long long i = lo; i < hi; i++) p->fn(p->context, (int)i, parts);
        ran++;
        atomic_fetch_add(&p->done, 1);
        t = atomic_load(&p->ticket);
    }
}

static void *helper_main(void *arg) {
    helper_t *h = arg;
    swk_pool *p = h->pool;
    // Generation 0 is the pool's state at creation: a job posted before this thread got going is
    // still seen as new.
    unsigned seen = 0;
    uint64_t bit = h->index <= 63 ? 1ull << (h->index - 1) : 1ull << 63;
    for (;;) {
        uint64_t start = now_ns();
        for (int spins = 0; ticket_generation(atomic_load(&p->ticket)) == seen && !atomic_load(&p->stopping); spins++) {
            RELAX();
            if ((spins & 63) == 63 && now_ns() - start > SPIN_NANOSECONDS) break;
        }
        if (ticket_generation(atomic_load(&p->ticket)) == seen && !atomic_load(&p->stopping)) {
            pthread_mutex_lock(&p->wake_lock);
            atomic_fetch_add(&p->sleepers, 1);
            // seq_cst on both sides: either the poster sees this sleeper, or this load sees its ticket.
            while (ticket_generation(atomic_load(&p->ticket)) == seen && !atomic_load(&p->stopping)) {
                pthread_cond_wait(&p->wake, &p->wake_lock);
            }
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->wake_lock);
        }
        if (atomic_load(&p->stopping)) return NULL;
        seen = ticket_generation(atomic_load(&p->ticket));
        if (run_slots(p, seen) > 0) atomic_fetch_or(&p->used, bit);
    }
}

swk_pool *swk_pool_create(int threads) {
    if (threads <= 1) return NULL;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    swk_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->helper = calloc((size_t)(threads - 1), sizeof *p->helper);
    if (!p->helper) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->dispatch, NULL);
    pthread_mutex_init(&p->wake_lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    for (int i = 0; i < threads - 1; i++) {
        helper_t *h = &p->helper[i];
        h->pool = p;
        h->index = i + 1;
        pthread_attr_t attr;
        if (pthread_attr_init(&attr) != 0) break;
        // 4 MiB of address space, touched only as used: an unoptimised (debug) build of the few-row
        // kernels keeps every accumulator case in one frame of ~360 KiB (row_linear.c), which a 256 KiB
        // stack overflowed on the helper threads.
        pthread_attr_setstacksize(&attr, 4 * 1024 * 1024);
        int failed = pthread_create(&h->thread, &attr, helper_main, h);
        pthread_attr_destroy(&attr);
        if (failed) break; // run with the helpers that started
        p->helpers++;
    }
    return p;
}

void swk_pool_free(swk_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->wake_lock);
    atomic_store(&p->stopping, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->wake_lock);
    for (int i = 0; i < p->helpers; i++) pthread_join(p->helper[i].thread, NULL);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->wake_lock);
    pthread_mutex_destroy(&p->dispatch);
    free(p->helper);
    free(p);
}

int swk_pool_threads(const swk_pool *p) { return p ? p->helpers + 1 : 1; }

uint64_t swk_pool_take_used(swk_pool *p) { return p ? atomic_exchange(&p->used, 0) : 0; }

uint64_t swk_pool_take_waited_ns(swk_pool *p) { return p ? atomic_exchange(&p->waited, 0) : 0; }

void swk_pool_run(swk_pool *p, int parts, void (*fn)(void *, int, int), void *context) {
    if (parts <= 0) return;
    if (!p || p->helpers == 0 || parts == 1 || pthread_mutex_trylock(&p->dispatch) != 0) {
        for (int i = 0; i < parts; i++) fn(context, i, parts);
        return;
    }
    p->fn = fn;
    p->context = context;
    p->parts = parts;
    p->slots = parts < MAX_SLOTS ? parts : MAX_SLOTS;
    atomic_store(&p->done, 0);
    unsigned generation = ticket_generation(atomic_load(&p->ticket)) + 1;
    atomic_store(&p->ticket, ((unsigned long long)generation << 32) | ((unsigned long long)p->slots << 16));
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->wake_lock);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->wake_lock);
    }
    run_slots(p, generation);
    // The rest are claimed: wait for their threads, yielding now and then in case one was descheduled.
    if (atomic_load(&p->done) < p->slots) {
        uint64_t start = now_ns();
        for (int spins = 0; atomic_load(&p->done) < p->slots; spins++) {
            RELAX();
            if ((spins & 255) == 255) sched_yield();
        }
        atomic_fetch_add(&p->waited, now_ns() - start);
    }
    pthread_mutex_unlock(&p->dispatch);
}
