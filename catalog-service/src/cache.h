/*
 * cache.h - catalog-service's in-process read cache: whole response bodies of the public
 * catalog reads by key, kept correct across instances by the catalog's generation (README
 * "Catalog read cache"). Pure: no I/O, the clock is passed in (monotonic milliseconds); one
 * mutex makes every function thread-safe.
 *
 * Invariants:
 *  - A hit is served only while the cache is in sync: the last successful generation read
 *    (catalog_cache_sync()) *started* less than @stale_ms ago. Every write raises the
 *    generation in its own transaction, so a write committed before that read started was seen
 *    by it and its change flushed: nothing older than @stale_ms can be served, whether the
 *    generation reads succeed or not.
 *  - A reader takes catalog_cache_epoch() before it reads the database; catalog_cache_put()
 *    drops the body when a flush happened since (the read may predate the write that caused
 *    it), so a flush is never undone by a read that was in flight.
 *  - At most @max_entries entries (least recently used evicted) of at most
 *    CATALOG_CACHE_MAX_BODY bytes; an entry older than @max_age_ms is never served.
 */
#ifndef CATALOG_CACHE_H
#define CATALOG_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CATALOG_ETAG_MAX 24              /* "\"" + 16 hex + "\"" + NUL, rounded up */
#define CATALOG_CACHE_KEY_MAX 64         /* with the NUL */
#define CATALOG_CACHE_MAX_BODY (1 << 20) /* a larger body is not cached */

struct catalog_cache_opts {
    size_t max_entries; /* > 0 */
    long max_age_ms;    /* an entry's longest life */
    long stale_ms;      /* hits only this long after the last successful sync started */
};

struct catalog_cache_stats {
    uint64_t hits, misses, flushes;
    size_t entries;
};

struct catalog_cache;

/* A cache of @opts (copied). NULL on allocation failure. Caller owns it: catalog_cache_free(). */
struct catalog_cache *catalog_cache_new(const struct catalog_cache_opts *opts);

/* Frees every entry and @cache. Accepts NULL. */
void catalog_cache_free(struct catalog_cache *cache);

/*
 * The entry @key at @now_ms: 0 and a copy of its body (NUL-terminated; caller frees) in
 * *@ret_body, its length in *@ret_len and its ETag in @ret_etag (CATALOG_ETAG_MAX bytes).
 * -ENOENT no fresh entry (an expired one is dropped), -ESTALE the cache is out of sync (no hit
 * until the next successful sync), -ENOMEM. Outputs written only on success.
 */
int catalog_cache_get(struct catalog_cache *cache, const char *key, int64_t now_ms, char **ret_body,
                      size_t *ret_len, char *ret_etag);

/* The flush counter to take before reading what will be put (see the invariants). */
uint64_t catalog_cache_epoch(struct catalog_cache *cache);

/*
 * Stores a copy of @body (@len bytes) with @etag under @key, read after catalog_cache_epoch()
 * returned @epoch. 0; -ESTALE a flush happened since @epoch (nothing stored); -E2BIG key or
 * body too long; -ENOMEM. Replaces an entry of the same key; evicts the least recently used one
 * when full.
 */
int catalog_cache_put(struct catalog_cache *cache, const char *key, const char *body, size_t len,
                      const char *etag, uint64_t epoch, int64_t now_ms);

/*
 * Records a successful generation read that started at @started_ms and returned @generation:
 * flushes every entry when it differs from the previous one (or is the first), and keeps the
 * cache in sync until @started_ms + stale_ms.
 */
void catalog_cache_sync(struct catalog_cache *cache, long long generation, int64_t started_ms);

/* Drops every entry now (a write of this instance, after its commit). */
void catalog_cache_flush(struct catalog_cache *cache);

void catalog_cache_stats(struct catalog_cache *cache, struct catalog_cache_stats *ret);

/* The strong ETag of @len bytes at @body (a quoted 64-bit FNV-1a hash in hex) into @out
 * (CATALOG_ETAG_MAX bytes). */
void catalog_etag(const char *body, size_t len, char *out);

/*
 * Whether the If-None-Match header value @inm matches @etag (RFC 9110 13.1.2): "*", or a
 * comma-separated list of entity-tags of which one is weakly equal to @etag (W/ ignored). A
 * malformed value (bad syntax, control characters, an unterminated tag) matches nothing: the
 * header is ignored and the full answer sent.
 */
bool catalog_etag_match(const char *inm, const char *etag);

#endif
