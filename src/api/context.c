#include "api/context.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "algo/auto.h"
#include "util/error.h"
#include "util/memory.h"

static int online_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)(n > 1024 ? 1024 : n) : 1;
}

static cj_status context_init(cj_context *c, int num_threads, void *user_pool, int autotune) {
    if (autotune) {
        c->auto_cache = cj_auto_cache_create();
        if (!c->auto_cache) return cj_fail(CJ_ERR_OUT_OF_MEMORY, "cannot create the autotune cache");
    }
    for (int i = 0; i < CJ_SCRATCH_SLOTS; i++)
        if (pthread_mutex_init(&c->scratch[i].lock, NULL) != 0) {
            while (i-- > 0) pthread_mutex_destroy(&c->scratch[i].lock);
            cj_auto_cache_destroy(c->auto_cache);
            return cj_fail(CJ_ERR_OUT_OF_MEMORY, "cannot create a mutex");
        }
    if (user_pool) {
        c->pool = (pthreadpool_t)user_pool;
        c->owns_pool = false;
        c->num_threads = (int)pthreadpool_get_threads_count(c->pool);
        if (c->num_threads < 1) c->num_threads = 1;
        return CJ_OK;
    }
    c->num_threads = num_threads > 0 ? num_threads : online_cores();
#ifndef CJ_BUILTIN_THREADS
    if (c->num_threads > 1) {
        c->pool = cj_alloc_injected_failure() ? NULL : pthreadpool_create((size_t)c->num_threads);
        if (!c->pool) {
            for (int i = 0; i < CJ_SCRATCH_SLOTS; i++) pthread_mutex_destroy(&c->scratch[i].lock);
            cj_auto_cache_destroy(c->auto_cache);
            return cj_fail(CJ_ERR_OUT_OF_MEMORY, "cannot create a pool of %d threads", c->num_threads);
        }
        c->owns_pool = true;
    }
#endif
    return CJ_OK;
}

cj_status cj_context_create(const cj_context_options *options, cj_context **out) {
    cj_clear_error();
    CJ_FAIL_IF(!out, CJ_ERR_INVALID_ARGUMENT, "cj_context_create: out is NULL");
    const int threads = options ? options->num_threads : 0;
    CJ_FAIL_IF(threads < 0 || threads > 1024, CJ_ERR_INVALID_ARGUMENT,
               "cj_context_create: num_threads is %d, must be 0 (every core) to 1024", threads);
    cj_context *c = cj_calloc(sizeof *c);
    CJ_FAIL_IF(!c, CJ_ERR_OUT_OF_MEMORY, "cj_context_create: out of memory");
    cj_status st = context_init(c, threads, options ? options->threadpool : NULL, options ? options->autotune : 0);
    if (st != CJ_OK) {
        cj_free(c);
        return st;
    }
    *out = c;
    return CJ_OK;
}

void cj_context_destroy(cj_context *ctx) {
    if (!ctx) return;
    if (ctx->owns_pool) pthreadpool_destroy(ctx->pool);
    for (int i = 0; i < CJ_SCRATCH_SLOTS; i++) {
        pthread_mutex_destroy(&ctx->scratch[i].lock);
        cj_free(ctx->scratch[i].block);
    }
    cj_auto_cache_destroy(ctx->auto_cache);
    cj_free(ctx);
}

/* The default context, created on first use. Not with pthread_once: a creation that fails (no
 * memory for the pool's threads) must not leave ctx NULL failing forever, so the next call tries
 * again; once made, it is read without the lock. */
static cj_context g_default;
static atomic_bool g_default_ready;
static pthread_mutex_t g_default_lock = PTHREAD_MUTEX_INITIALIZER;

static int default_threads(void) {
    const char *s = getenv("CONJURE_NUM_THREADS");
    if (s && *s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (*end == '\0' && v > 0 && v <= 1024) return (int)v;
    }
    return 0;
}

cj_context *cj_context_resolve(cj_context *ctx) {
    if (ctx) return ctx;
    if (atomic_load_explicit(&g_default_ready, memory_order_acquire)) return &g_default;
    pthread_mutex_lock(&g_default_lock);
    bool ready = atomic_load_explicit(&g_default_ready, memory_order_relaxed);
    const char *tune = getenv("CONJURE_AUTOTUNE");
    if (!ready && context_init(&g_default, default_threads(), NULL, tune && strcmp(tune, "1") == 0) == CJ_OK) {
        ready = true;
        atomic_store_explicit(&g_default_ready, true, memory_order_release);
    }
    pthread_mutex_unlock(&g_default_lock);
    if (!ready) {
        cj_fail(CJ_ERR_OUT_OF_MEMORY, "cannot create the default context's thread pool");
        return NULL;
    }
    return &g_default;
}

int cj_context_num_threads(const cj_context *ctx) {
    const cj_context *c = cj_context_resolve((cj_context *)ctx);
    return c ? c->num_threads : 1;
}

cj_status cj_scratch_acquire(cj_context *ctx, size_t bytes, cj_scratch *s) {
    s->ptr = NULL;
    s->slot = NULL;
    for (int i = 0; i < CJ_SCRATCH_SLOTS; i++) {
        cj_scratch_slot *slot = &ctx->scratch[i];
        if (pthread_mutex_trylock(&slot->lock) != 0) continue;
        if (slot->bytes < bytes) {
            cj_free(slot->block);
            slot->block = cj_alloc(bytes);
            slot->bytes = slot->block ? bytes : 0;
        }
        if (slot->block) {
            s->ptr = slot->block;
            s->slot = slot;
            return CJ_OK; /* the lock stays held until release */
        }
        pthread_mutex_unlock(&slot->lock);
        break; /* no memory for it: the fresh allocation below fails or succeeds alike */
    }
    s->ptr = cj_alloc(bytes);
    if (!s->ptr)
        return cj_fail(CJ_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes of scratch memory", bytes);
    return CJ_OK;
}

void cj_scratch_release(cj_context *ctx, cj_scratch *s) {
    (void)ctx;
    if (s->slot) pthread_mutex_unlock(&s->slot->lock);
    else cj_free(s->ptr);
    s->ptr = NULL;
    s->slot = NULL;
}

#ifdef CJ_BUILTIN_THREADS
/* The parallel-for of the ThreadSanitizer build (CMake CONJURE_THREADPOOL=builtin): Debian's
 * pthreadpool is not instrumented, so TSan cannot see the happens-before edges of its atomics and
 * futexes and reports every hand-off between the caller and the workers as a race, hiding any real
 * one. Here the hand-offs are pthread_create and pthread_join, which TSan models exactly. Threads
 * are spawned per call: slow, but this build exists to check, not to run fast. Worker t runs
 * indices t, t + w, t + 2w, ... (w workers, worker 0 being the caller); a worker that cannot be
 * spawned runs on the caller afterwards, so the result never depends on it. */
typedef struct spawn_arg {
    cj_task_fn fn;
    void      *arg;
    size_t     first, step, n;
} spawn_arg;

static void *spawn_main(void *p) {
    const spawn_arg *a = p;
    for (size_t i = a->first; i < a->n; i += a->step) a->fn(a->arg, i);
    return NULL;
}

static void builtin_parallel_for(int threads, size_t n, cj_task_fn fn, void *arg) {
    enum { MAX_WORKERS = 1024 };
    pthread_t th[MAX_WORKERS];
    spawn_arg args[MAX_WORKERS];
    bool started[MAX_WORKERS];
    const size_t w = n < (size_t)threads ? n : (size_t)threads;
    for (size_t t = 0; t < w; t++) {
        args[t] = (spawn_arg){fn, arg, t, w, n};
        started[t] = t > 0 && pthread_create(&th[t], NULL, spawn_main, &args[t]) == 0;
    }
    spawn_main(&args[0]);
    for (size_t t = 1; t < w; t++) {
        if (started[t]) pthread_join(th[t], NULL);
        else spawn_main(&args[t]);
    }
}
#endif

void cj_parallel_for(cj_context *ctx, size_t n, cj_task_fn fn, void *arg) {
    if (ctx->pool && n > 1) {
        pthreadpool_parallelize_1d(ctx->pool, fn, arg, n, 0);
        return;
    }
#ifdef CJ_BUILTIN_THREADS
    if (ctx->num_threads > 1 && n > 1) {
        builtin_parallel_for(ctx->num_threads, n, fn, arg);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++) fn(arg, i);
}

void cj_split_weighted(int64_t tasks, int64_t parts, int64_t part, int64_t (*weight)(const void *arg, int64_t t),
                       const void *arg, int64_t *begin, int64_t *end) {
    int64_t total = 0;
    for (int64_t t = 0; t < tasks; t++) total += weight(arg, t);
    *begin = *end = tasks;
    for (int64_t t = 0, before = 0; t < tasks; t++) {
        const int64_t w = weight(arg, t);
        const int64_t p = cj_min64(parts - 1, (2 * before + w) * parts / (2 * total)); /* part of the midpoint */
        if (p >= part && *begin == tasks) *begin = t;
        if (p > part) {
            *end = t;
            return;
        }
        before += w;
    }
}
