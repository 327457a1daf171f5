/*
 * The CUDA backend's plan cache: what prepare() measured (cuDNN algorithm
 * searches), so that the next start of the same model on the same GPU,
 * cuDNN version and precision skips the measuring.
 *
 * One text file per (model hash, GPU, compute capability, cuDNN version,
 * precision) under the cache directory:
 *     vidpipe-plan-cache 1
 *     KEY V0 V1 ...        one line per entry; KEY has no spaces
 * A line that does not parse is ignored (with a warning), so a damaged file
 * costs a search, never a failure; the file is rewritten whole (to a
 * temporary name, then renamed) when the engine is freed and something
 * was added. Entries are few (one per distinct convolution shape), so a
 * linear search is enough.
 */
#include "engine/cuda/cuda.h"
#include "base/log.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAX_VALS 8
#define CACHE_MAGIC "vidpipe-plan-cache 1"

typedef struct cache_entry {
    char *key;
    int n;
    long v[CACHE_MAX_VALS];
} cache_entry;

typedef struct vp_cuda_cache {
    char *path;
    cache_entry *e;
    int n, cap;
    int dirty;
} vp_cuda_cache;

static cache_entry *find(vp_cuda_cache *k, const char *key)
{
    for (int i = 0; i < k->n; i++)
        if (!strcmp(k->e[i].key, key))
            return &k->e[i];
    return NULL;
}

static int add(vp_cuda_cache *k, const char *key, const long *v, int n)
{
    cache_entry *e = find(k, key);
    if (!e) {
        if (k->n == k->cap) {
            int cap = k->cap ? 2 * k->cap : 64;
            cache_entry *ne = realloc(k->e, sizeof *ne * (size_t)cap);
            if (!ne)
                return VP_ERR_NOMEM;
            k->e = ne;
            k->cap = cap;
        }
        e = &k->e[k->n];
        if (!(e->key = strdup(key)))
            return VP_ERR_NOMEM;
        k->n++;
    }
    e->n = n;
    memcpy(e->v, v, sizeof(long) * (size_t)n);
    return VP_OK;
}

/* mkdir -p */
static int make_dirs(const char *dir)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp)
        return -1;
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(tmp, 0755) && errno != EEXIST ? -1 : 0;
}

static void load(vp_cuda_cache *k)
{
    FILE *f = fopen(k->path, "r");
    char line[1024];
    int bad = 0;
    if (!f)
        return; /* first start */
    if (!fgets(line, sizeof line, f) || strncmp(line, CACHE_MAGIC, strlen(CACHE_MAGIC))) {
        VP_LOGW("plan cache %s: not a vidpipe plan cache; it will be rewritten", k->path);
        fclose(f);
        k->dirty = 1;
        return;
    }
    while (fgets(line, sizeof line, f)) {
        char *save = NULL, *key = strtok_r(line, " \n", &save), *tok;
        long v[CACHE_MAX_VALS];
        int n = 0, ok = key != NULL;
        while (ok && (tok = strtok_r(NULL, " \n", &save))) {
            char *end;
            errno = 0;
            long x = strtol(tok, &end, 10);
            ok = !*end && !errno && n < CACHE_MAX_VALS;
            if (ok)
                v[n++] = x;
        }
        if (!ok || !n || add(k, key, v, n) != VP_OK)
            bad++;
    }
    fclose(f);
    if (bad) {
        VP_LOGW("plan cache %s: %d damaged line(s) ignored", k->path, bad);
        k->dirty = 1;
    }
    VP_LOGI("plan cache %s: %d entries", k->path, k->n);
}

int vp_cuda_cache_attach(void *ctx, const char *dir, uint64_t model_hash)
{
    vp_cuda_ctx *c = ctx;
    char gpu[128], path[4096];
    struct cudaDeviceProp prop;
    if (c->cache)
        return VP_OK;
    if (cudaGetDeviceProperties(&prop, c->device) != cudaSuccess)
        return VP_ERR_BACKEND;
    /* the GPU's name as a file-name word */
    size_t j = 0;
    for (const char *s = prop.name; *s && j + 1 < sizeof gpu; s++)
        gpu[j++] = isalnum((unsigned char)*s) ? *s : '-';
    gpu[j] = 0;
    if (snprintf(path, sizeof path, "%s/%016llx-%s-sm%d-cudnn%zu-%s.plan", dir, (unsigned long long)model_hash,
                 gpu, c->sm, cudnnGetVersion(), c->fp16 ? "fp16" : "fp32") >= (int)sizeof path)
        return VP_ERR_INVALID;
    if (make_dirs(dir)) {
        VP_LOGW("plan cache: cannot create %s (%s); running without", dir, strerror(errno));
        return VP_ERR_IO;
    }
    vp_cuda_cache *k = calloc(1, sizeof *k);
    if (!k || !(k->path = strdup(path))) {
        free(k);
        return VP_ERR_NOMEM;
    }
    c->cache = k;
    load(k);
    return VP_OK;
}

int vp_cuda_cache_get(vp_cuda_ctx *c, const char *key, long *v, int n)
{
    cache_entry *e = c->cache ? find(c->cache, key) : NULL;
    if (!e || e->n != n)
        return 0;
    memcpy(v, e->v, sizeof(long) * (size_t)n);
    return 1;
}

void vp_cuda_cache_put(vp_cuda_ctx *c, const char *key, const long *v, int n)
{
    if (!c->cache || n > CACHE_MAX_VALS || strchr(key, ' ') || strchr(key, '\n'))
        return;
    if (add(c->cache, key, v, n) == VP_OK)
        c->cache->dirty = 1;
}

void vp_cuda_cache_close(vp_cuda_ctx *c)
{
    vp_cuda_cache *k = c->cache;
    if (!k)
        return;
    if (k->dirty) {
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.%d.tmp", k->path, (int)getpid());
        FILE *f = fopen(tmp, "w");
        int ok = f != NULL && fprintf(f, "%s\n", CACHE_MAGIC) > 0;
        for (int i = 0; ok && i < k->n; i++) {
            ok = fprintf(f, "%s", k->e[i].key) > 0;
            for (int j = 0; ok && j < k->e[i].n; j++)
                ok = fprintf(f, " %ld", k->e[i].v[j]) > 0;
            ok = ok && fputc('\n', f) != EOF;
        }
        if (f && fclose(f))
            ok = 0;
        if (ok && rename(tmp, k->path) == 0)
            VP_LOGI("plan cache %s: wrote %d entries", k->path, k->n);
        else {
            VP_LOGW("plan cache %s: cannot write it (%s)", k->path, strerror(errno));
            unlink(tmp);
        }
    }
    for (int i = 0; i < k->n; i++)
        free(k->e[i].key);
    free(k->e);
    free(k->path);
    free(k);
    c->cache = NULL;
}
