/* cache.c - catalog-service's read cache and ETags (see cache.h): a chained hash table whose
 * entries are also on a least-recently-used list, under one mutex. */
#include "cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cache_entry {
    char key[CATALOG_CACHE_KEY_MAX];
    char etag[CATALOG_ETAG_MAX];
    char *body; /* NUL-terminated */
    size_t len;
    int64_t stored_ms;
    struct cache_entry *hnext;       /* bucket chain */
    struct cache_entry *prev, *next; /* LRU list: head = most recently used */
};

struct catalog_cache {
    struct catalog_cache_opts opts;
    pthread_mutex_t lock;
    struct cache_entry **buckets;
    size_t nbuckets; /* a power of two */
    size_t nentries;
    struct cache_entry *head, *tail;
    uint64_t epoch; /* flushes so far */
    long long generation;
    bool have_generation;
    bool synced;
    int64_t synced_ms; /* start of the last successful sync */
    struct catalog_cache_stats stats;
};

static uint64_t cache_hash(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a 64 */

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

struct catalog_cache *catalog_cache_new(const struct catalog_cache_opts *opts)
{
    struct catalog_cache *cache = calloc(1, sizeof(*cache));

    if (!cache)
        return NULL;
    cache->opts = *opts;
    if (cache->opts.max_entries == 0)
        cache->opts.max_entries = 1;
    cache->nbuckets = 16;
    while (cache->nbuckets < 2 * cache->opts.max_entries)
        cache->nbuckets *= 2;
    cache->buckets = calloc(cache->nbuckets, sizeof(*cache->buckets));
    if (!cache->buckets || pthread_mutex_init(&cache->lock, NULL) != 0) {
        free(cache->buckets);
        free(cache);
        return NULL;
    }
    return cache;
}

static void entry_free(struct cache_entry *e)
{
    if (e)
        free(e->body);
    free(e);
}

/* Unlinks @e from its bucket and the LRU list and frees it. Lock held. */
static void cache_remove(struct catalog_cache *cache, struct cache_entry *e)
{
    struct cache_entry **pp =
        &cache->buckets[cache_hash(e->key, strlen(e->key)) & (cache->nbuckets - 1)];

    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    if (e->prev)
        e->prev->next = e->next;
    else
        cache->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        cache->tail = e->prev;
    cache->nentries--;
    entry_free(e);
}

/* Drops every entry. Lock held. */
static void cache_clear(struct catalog_cache *cache)
{
    while (cache->head)
        cache_remove(cache, cache->head);
    cache->epoch++;
    cache->stats.flushes++;
}

void catalog_cache_free(struct catalog_cache *cache)
{
    if (!cache)
        return;
    cache_clear(cache);
    pthread_mutex_destroy(&cache->lock);
    free(cache->buckets);
    free(cache);
}

static struct cache_entry *cache_find(struct catalog_cache *cache, const char *key)
{
    struct cache_entry *e = cache->buckets[cache_hash(key, strlen(key)) & (cache->nbuckets - 1)];

    while (e && strcmp(e->key, key) != 0)
        e = e->hnext;
    return e;
}

/* Moves @e to the head of the LRU list. Lock held. */
static void cache_touch(struct catalog_cache *cache, struct cache_entry *e)
{
    if (cache->head == e)
        return;
    e->prev->next = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        cache->tail = e->prev;
    e->prev = NULL;
    e->next = cache->head;
    cache->head->prev = e;
    cache->head = e;
}

static bool cache_in_sync(const struct catalog_cache *cache, int64_t now_ms)
{
    return cache->synced && now_ms - cache->synced_ms < cache->opts.stale_ms;
}

int catalog_cache_get(struct catalog_cache *cache, const char *key, int64_t now_ms, char **ret_body,
                      size_t *ret_len, char *ret_etag)
{
    struct cache_entry *e;
    char *body;
    int rc = -ENOENT;

    pthread_mutex_lock(&cache->lock);
    if (!cache_in_sync(cache, now_ms)) {
        rc = -ESTALE;
        goto miss;
    }
    e = cache_find(cache, key);
    if (!e)
        goto miss;
    if (now_ms - e->stored_ms >= cache->opts.max_age_ms) {
        cache_remove(cache, e);
        goto miss;
    }
    body = malloc(e->len + 1);
    if (!body) {
        rc = -ENOMEM;
        goto miss;
    }
    memcpy(body, e->body, e->len + 1);
    cache_touch(cache, e);
    *ret_body = body;
    *ret_len = e->len;
    memcpy(ret_etag, e->etag, CATALOG_ETAG_MAX);
    cache->stats.hits++;
    pthread_mutex_unlock(&cache->lock);
    return 0;
miss:
    cache->stats.misses++;
    pthread_mutex_unlock(&cache->lock);
    return rc;
}

uint64_t catalog_cache_epoch(struct catalog_cache *cache)
{
    uint64_t epoch;

    pthread_mutex_lock(&cache->lock);
    epoch = cache->epoch;
    pthread_mutex_unlock(&cache->lock);
    return epoch;
}

int catalog_cache_put(struct catalog_cache *cache, const char *key, const char *body, size_t len,
                      const char *etag, uint64_t epoch, int64_t now_ms)
{
    struct cache_entry *e, *old;
    size_t bucket;

    if (strlen(key) >= CATALOG_CACHE_KEY_MAX || len > CATALOG_CACHE_MAX_BODY ||
        strlen(etag) >= CATALOG_ETAG_MAX)
        return -E2BIG;
    e = calloc(1, sizeof(*e));
    if (!e || !(e->body = malloc(len + 1))) {
        entry_free(e);
        return -ENOMEM;
    }
    memcpy(e->body, body, len);
    e->body[len] = '\0';
    e->len = len;
    e->stored_ms = now_ms;
    snprintf(e->key, sizeof(e->key), "%s", key);
    snprintf(e->etag, sizeof(e->etag), "%s", etag);

    pthread_mutex_lock(&cache->lock);
    if (cache->epoch != epoch) {
        pthread_mutex_unlock(&cache->lock);
        entry_free(e);
        return -ESTALE;
    }
    old = cache_find(cache, key);
    if (old)
        cache_remove(cache, old);
    while (cache->nentries >= cache->opts.max_entries && cache->tail)
        cache_remove(cache, cache->tail);
    bucket = cache_hash(key, strlen(key)) & (cache->nbuckets - 1);
    e->hnext = cache->buckets[bucket];
    cache->buckets[bucket] = e;
    e->next = cache->head;
    if (cache->head)
        cache->head->prev = e;
    cache->head = e;
    if (!cache->tail)
        cache->tail = e;
    cache->nentries++;
    pthread_mutex_unlock(&cache->lock);
    return 0;
}

void catalog_cache_sync(struct catalog_cache *cache, long long generation, int64_t started_ms)
{
    pthread_mutex_lock(&cache->lock);
    if (!cache->have_generation || cache->generation != generation)
        cache_clear(cache);
    cache->generation = generation;
    cache->have_generation = true;
    cache->synced = true;
    cache->synced_ms = started_ms;
    pthread_mutex_unlock(&cache->lock);
}

void catalog_cache_flush(struct catalog_cache *cache)
{
    pthread_mutex_lock(&cache->lock);
    cache_clear(cache);
    pthread_mutex_unlock(&cache->lock);
}

void catalog_cache_stats(struct catalog_cache *cache, struct catalog_cache_stats *ret)
{
    pthread_mutex_lock(&cache->lock);
    *ret = cache->stats;
    ret->entries = cache->nentries;
    pthread_mutex_unlock(&cache->lock);
}

void catalog_etag(const char *body, size_t len, char *out)
{
    snprintf(out, CATALOG_ETAG_MAX, "\"%016llx\"", (unsigned long long)cache_hash(body, len));
}

/* An etagc (RFC 9110 8.8.3): %x21 / %x23-7E / obs-text. */
static bool etagc(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c != 0x7f);
}

bool catalog_etag_match(const char *inm, const char *etag)
{
    const char *p = inm, *q;
    size_t elen;
    bool match;

    if (!inm || !etag)
        return false;
    if (etag[0] == 'W' && etag[1] == '/')
        etag += 2;
    elen = strlen(etag);
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            return false;
        if (*p == '*') {
            match = true;
            p++;
        } else {
            if (p[0] == 'W' && p[1] == '/')
                p += 2;
            if (*p != '"')
                return false;
            for (q = p + 1; *q && *q != '"'; q++) {
                if (!etagc((unsigned char)*q))
                    return false;
            }
            if (*q != '"')
                return false;
            q++;
            match = (size_t)(q - p) == elen && memcmp(p, etag, elen) == 0;
            p = q;
        }
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p && *p != ',')
            return false; /* "\"a\"b" and the like: not a list of entity-tags */
        if (match)
            return true;
    }
}
