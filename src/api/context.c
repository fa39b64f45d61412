#include "api/context.h"

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
    if (pthread_mutex_init(&c->scratch_lock, NULL) != 0) {
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
    if (c->num_threads > 1) {
        c->pool = pthreadpool_create((size_t)c->num_threads);
        if (!c->pool) {
            pthread_mutex_destroy(&c->scratch_lock);
            cj_auto_cache_destroy(c->auto_cache);
            return cj_fail(CJ_ERR_OUT_OF_MEMORY, "cannot create a pool of %d threads", c->num_threads);
        }
        c->owns_pool = true;
    }
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
    pthread_mutex_destroy(&ctx->scratch_lock);
    cj_auto_cache_destroy(ctx->auto_cache);
    cj_free(ctx->scratch);
    cj_free(ctx);
}

static cj_context g_default;
static cj_status g_default_status = CJ_ERR_OUT_OF_MEMORY;
static pthread_once_t g_default_once = PTHREAD_ONCE_INIT;

static void default_init(void) {
    int threads = 0;
    const char *s = getenv("CONJURE_NUM_THREADS");
    if (s && *s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (*end == '\0' && v > 0 && v <= 1024) threads = (int)v;
    }
    const char *tune = getenv("CONJURE_AUTOTUNE");
    g_default_status = context_init(&g_default, threads, NULL, tune && strcmp(tune, "1") == 0);
}

cj_context *cj_context_resolve(cj_context *ctx) {
    if (ctx) return ctx;
    pthread_once(&g_default_once, default_init);
    if (g_default_status != CJ_OK) {
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
    s->cached = false;
    if (pthread_mutex_trylock(&ctx->scratch_lock) == 0) {
        if (ctx->scratch_bytes < bytes) {
            cj_free(ctx->scratch);
            ctx->scratch = cj_alloc(bytes);
            ctx->scratch_bytes = ctx->scratch ? bytes : 0;
        }
        if (ctx->scratch) {
            s->ptr = ctx->scratch;
            s->cached = true;
            return CJ_OK; /* the lock stays held until release */
        }
        pthread_mutex_unlock(&ctx->scratch_lock);
    }
    s->ptr = cj_alloc(bytes);
    if (!s->ptr)
        return cj_fail(CJ_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes of scratch memory", bytes);
    return CJ_OK;
}

void cj_scratch_release(cj_context *ctx, cj_scratch *s) {
    if (s->cached) pthread_mutex_unlock(&ctx->scratch_lock);
    else cj_free(s->ptr);
    s->ptr = NULL;
    s->cached = false;
}

void cj_parallel_for(cj_context *ctx, size_t n, cj_task_fn fn, void *arg) {
    if (ctx->pool && n > 1) {
        pthreadpool_parallelize_1d(ctx->pool, fn, arg, n, 0);
    } else {
        for (size_t i = 0; i < n; i++) fn(arg, i);
    }
}
