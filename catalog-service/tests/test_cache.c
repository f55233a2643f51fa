/* test_cache.c - the read cache's rules and ETags (cache.h): sync window, flushes, the epoch
 * guard against reads in flight, max age, LRU bound, If-None-Match matching. No I/O: the
 * clock is passed in. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../src/cache.h"

#define STALE 1000
#define MAX_AGE 60000

static struct catalog_cache *new_cache(size_t max_entries)
{
    struct catalog_cache_opts opts = {
        .max_entries = max_entries, .max_age_ms = MAX_AGE, .stale_ms = STALE};
    struct catalog_cache *cache = catalog_cache_new(&opts);

    assert_non_null(cache);
    return cache;
}

static int put(struct catalog_cache *cache, const char *key, const char *body, int64_t now)
{
    char etag[CATALOG_ETAG_MAX];

    catalog_etag(body, strlen(body), etag);
    return catalog_cache_put(cache, key, body, strlen(body), etag, catalog_cache_epoch(cache), now);
}

/* The body under @key at @now, or NULL (with the return code in *@ret_rc). Caller frees. */
static char *get(struct catalog_cache *cache, const char *key, int64_t now, int *ret_rc)
{
    char etag[CATALOG_ETAG_MAX], *body = NULL;
    size_t len = 0;
    int rc = catalog_cache_get(cache, key, now, &body, &len, etag);

    if (ret_rc)
        *ret_rc = rc;
    if (rc == 0)
        assert_int_equal(len, strlen(body));
    return rc == 0 ? body : NULL;
}

static void assert_hit(struct catalog_cache *cache, const char *key, int64_t now, const char *want)
{
    int rc;
    char *body = get(cache, key, now, &rc);

    assert_int_equal(rc, 0);
    assert_string_equal(body, want);
    free(body);
}

static void assert_miss(struct catalog_cache *cache, const char *key, int64_t now, int want_rc)
{
    int rc;
    char *body = get(cache, key, now, &rc);

    assert_null(body);
    assert_int_equal(rc, want_rc);
}

static void test_no_hit_before_the_first_sync(void **state)
{
    struct catalog_cache *cache = new_cache(8);

    (void)state;
    assert_int_equal(put(cache, "p:1:0", "{\"price\":100}", 0), 0);
    assert_miss(cache, "p:1:0", 0, -ESTALE);
    catalog_cache_sync(cache, 7, 10);
    /* the first sync flushes: it cannot know what the entry was read under */
    assert_miss(cache, "p:1:0", 20, -ENOENT);
    assert_int_equal(put(cache, "p:1:0", "{\"price\":100}", 20), 0);
    assert_hit(cache, "p:1:0", 30, "{\"price\":100}");
    catalog_cache_free(cache);
}

static void test_same_generation_keeps_a_changed_one_flushes(void **state)
{
    struct catalog_cache *cache = new_cache(8);

    (void)state;
    catalog_cache_sync(cache, 7, 0);
    assert_int_equal(put(cache, "p:1:0", "old", 1), 0);
    catalog_cache_sync(cache, 7, 100);
    assert_hit(cache, "p:1:0", 101, "old");
    catalog_cache_sync(cache, 8, 200);
    assert_miss(cache, "p:1:0", 201, -ENOENT);
    /* any change counts, a lower generation too (a restored database) */
    assert_int_equal(put(cache, "p:1:0", "new", 202), 0);
    catalog_cache_sync(cache, 3, 300);
    assert_miss(cache, "p:1:0", 301, -ENOENT);
    catalog_cache_free(cache);
}

static void test_hits_stop_stale_ms_after_the_last_good_sync_started(void **state)
{
    struct catalog_cache *cache = new_cache(8);

    (void)state;
    catalog_cache_sync(cache, 1, 1000);
    assert_int_equal(put(cache, "tree", "[]", 1000), 0);
    assert_hit(cache, "tree", 1000 + STALE - 1, "[]");
    /* the polls fail from here: no hit once the window passed */
    assert_miss(cache, "tree", 1000 + STALE, -ESTALE);
    assert_miss(cache, "tree", 1000 + 10 * STALE, -ESTALE);
    /* a good read again, same generation: the entry was never wrong */
    catalog_cache_sync(cache, 1, 20000);
    assert_hit(cache, "tree", 20001, "[]");
    catalog_cache_free(cache);
}

static void test_a_put_of_a_read_that_raced_a_flush_is_dropped(void **state)
{
    struct catalog_cache *cache = new_cache(8);
    uint64_t epoch;

    (void)state;
    catalog_cache_sync(cache, 1, 0);
    epoch = catalog_cache_epoch(cache); /* a reader starts, reads the old row … */
    catalog_cache_flush(cache);         /* … a write of this instance commits and flushes … */
    assert_int_equal(catalog_cache_put(cache, "p:1:0", "old", 3, "\"x\"", epoch, 1), -ESTALE);
    assert_miss(cache, "p:1:0", 2, -ENOENT);
    /* the same through a generation change seen by the poll */
    epoch = catalog_cache_epoch(cache);
    catalog_cache_sync(cache, 2, 5);
    assert_int_equal(catalog_cache_put(cache, "p:1:0", "old", 3, "\"x\"", epoch, 6), -ESTALE);
    assert_miss(cache, "p:1:0", 7, -ENOENT);
    catalog_cache_free(cache);
}

static void test_entries_expire_after_max_age(void **state)
{
    struct catalog_cache *cache = new_cache(8);
    struct catalog_cache_stats st;

    (void)state;
    catalog_cache_sync(cache, 1, 0);
    assert_int_equal(put(cache, "c:1", "{}", 0), 0);
    for (int64_t t = 500; t < MAX_AGE; t += 500)
        catalog_cache_sync(cache, 1, t); /* in sync all along */
    assert_hit(cache, "c:1", MAX_AGE - 1, "{}");
    assert_miss(cache, "c:1", MAX_AGE, -ENOENT);
    catalog_cache_stats(cache, &st);
    assert_int_equal(st.entries, 0);
    catalog_cache_free(cache);
}

static void test_bounded_by_max_entries_least_recently_used_goes(void **state)
{
    struct catalog_cache *cache = new_cache(3);
    struct catalog_cache_stats st;
    char key[16];

    (void)state;
    catalog_cache_sync(cache, 1, 0);
    assert_int_equal(put(cache, "a", "A", 1), 0);
    assert_int_equal(put(cache, "b", "B", 1), 0);
    assert_int_equal(put(cache, "c", "C", 1), 0);
    assert_hit(cache, "a", 2, "A"); /* a is now the most recent: b goes first */
    assert_int_equal(put(cache, "d", "D", 3), 0);
    assert_miss(cache, "b", 4, -ENOENT);
    assert_hit(cache, "a", 4, "A");
    assert_hit(cache, "c", 4, "C");
    assert_hit(cache, "d", 4, "D");
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(put(cache, key, key, 5), 0);
    }
    catalog_cache_stats(cache, &st);
    assert_int_equal(st.entries, 3);
    assert_hit(cache, "k999", 6, "k999");
    /* same key: replaced, not duplicated */
    assert_int_equal(put(cache, "k999", "new", 7), 0);
    assert_hit(cache, "k999", 8, "new");
    catalog_cache_stats(cache, &st);
    assert_int_equal(st.entries, 3);
    catalog_cache_free(cache);
}

static void test_oversized_key_or_body_is_not_cached(void **state)
{
    struct catalog_cache *cache = new_cache(3);
    char key[CATALOG_CACHE_KEY_MAX + 8];
    char *big = malloc(CATALOG_CACHE_MAX_BODY + 2);

    (void)state;
    assert_non_null(big);
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    memset(big, 'x', CATALOG_CACHE_MAX_BODY + 1);
    big[CATALOG_CACHE_MAX_BODY + 1] = '\0';
    catalog_cache_sync(cache, 1, 0);
    assert_int_equal(put(cache, key, "{}", 0), -E2BIG);
    assert_int_equal(put(cache, "big", big, 0), -E2BIG);
    assert_miss(cache, "big", 1, -ENOENT);
    free(big);
    catalog_cache_free(cache);
}

static void test_etag_is_strong_and_follows_the_bytes(void **state)
{
    char a[CATALOG_ETAG_MAX], b[CATALOG_ETAG_MAX], c[CATALOG_ETAG_MAX];

    (void)state;
    catalog_etag("{\"price\":100}", 13, a);
    catalog_etag("{\"price\":100}", 13, b);
    catalog_etag("{\"price\":101}", 13, c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(strlen(a), 18);
    assert_int_equal(a[0], '"');
    assert_int_equal(a[17], '"');
}

static void test_if_none_match(void **state)
{
    const char *e = "\"0123456789abcdef\"";

    (void)state;
    assert_true(catalog_etag_match("\"0123456789abcdef\"", e));
    assert_true(catalog_etag_match("W/\"0123456789abcdef\"", e)); /* weak comparison */
    assert_true(catalog_etag_match("*", e));
    assert_true(catalog_etag_match(" * ", e));
    assert_true(catalog_etag_match("\"x\", \"0123456789abcdef\"", e));
    assert_true(catalog_etag_match("\"x\",W/\"y\" ,\t\"0123456789abcdef\"", e));
    assert_true(catalog_etag_match(",,\"0123456789abcdef\",", e));
    assert_false(catalog_etag_match("\"0123456789abcdee\"", e));
    assert_false(catalog_etag_match("\"0123456789abcdef", e)); /* unterminated */
    assert_false(catalog_etag_match("0123456789abcdef", e));   /* not quoted */
    assert_false(catalog_etag_match("\"0123456789abcdef\"x", e));
    assert_false(catalog_etag_match("w/\"0123456789abcdef\"", e));        /* W is case-sensitive */
    assert_false(catalog_etag_match("\"a b\", \"0123456789abcdef\"", e)); /* SP is no etagc */
    assert_false(catalog_etag_match("\"\x01\", \"0123456789abcdef\"", e));
    assert_false(catalog_etag_match("", e));
    assert_false(catalog_etag_match("   ,  ", e));
    assert_false(catalog_etag_match("**", e));
    assert_false(catalog_etag_match(NULL, e));
    assert_false(catalog_etag_match("\"\"", e));
}

static void test_if_none_match_garbage_never_matches(void **state)
{
    const char *e = "\"0123456789abcdef\"";
    char buf[4096];
    unsigned seed = 12345;

    (void)state;
    for (int round = 0; round < 2000; round++) {
        size_t n = (size_t)(rand_r(&seed) % (sizeof(buf) - 1));
        for (size_t i = 0; i < n; i++) {
            buf[i] = (char)(1 + rand_r(&seed) % 255);
            if (buf[i] == '*')
                buf[i] = '+';
        }
        buf[n] = '\0';
        /* random bytes hold the 16 hex digits in quotes practically never: no match, no crash */
        assert_false(catalog_etag_match(buf, e));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_hit_before_the_first_sync),
        cmocka_unit_test(test_same_generation_keeps_a_changed_one_flushes),
        cmocka_unit_test(test_hits_stop_stale_ms_after_the_last_good_sync_started),
        cmocka_unit_test(test_a_put_of_a_read_that_raced_a_flush_is_dropped),
        cmocka_unit_test(test_entries_expire_after_max_age),
        cmocka_unit_test(test_bounded_by_max_entries_least_recently_used_goes),
        cmocka_unit_test(test_oversized_key_or_body_is_not_cached),
        cmocka_unit_test(test_etag_is_strong_and_follows_the_bytes),
        cmocka_unit_test(test_if_none_match),
        cmocka_unit_test(test_if_none_match_garbage_never_matches),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
