/*
 * e2e_catalog_cache.c - catalog-service's read cache across instances (README "Catalog read
 * cache"): two catalog-service processes on one database. Reads are served from each one's
 * cache (X-Cache: hit); a change made through instance A is answered by A at once and by B
 * within the stated bound (polled here with a generous deadline, never timed); ETag /
 * If-None-Match → 304, hostile If-None-Match values never a 5xx; a 404 is never cached as
 * found.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "testsup.h"

#define DEADLINE_MS 10000 /* far above the bound (CATALOG_CACHE_STALE_MS, 1 s by default) */

struct fixture {
    struct ts_service a, b;
    char db[64];
    char topic[64];
    char *admin;
    long long cat;
};

/* One answer with the headers this test looks at. */
struct answer {
    long status;
    char etag[64];
    char x_cache[16];
    char cache_control[64];
    char *body; /* owned */
    size_t len;
};

static size_t on_body(char *ptr, size_t size, size_t n, void *arg)
{
    struct answer *ans = arg;
    char *p = realloc(ans->body, ans->len + size * n + 1);

    if (!p)
        return 0;
    memcpy(p + ans->len, ptr, size * n);
    ans->len += size * n;
    p[ans->len] = '\0';
    ans->body = p;
    return size * n;
}

/* Copies the value of header line @line into @out when its name is @name. */
static void header_value(const char *line, size_t len, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name), vlen;

    if (len <= nlen + 1 || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
        return;
    line += nlen + 1;
    len -= nlen + 1;
    while (len && (*line == ' ' || *line == '\t')) {
        line++;
        len--;
    }
    vlen = len;
    while (vlen && (line[vlen - 1] == '\r' || line[vlen - 1] == '\n'))
        vlen--;
    snprintf(out, outlen, "%.*s", (int)vlen, line);
}

static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
    struct answer *ans = arg;

    header_value(line, size * n, "ETag", ans->etag, sizeof(ans->etag));
    header_value(line, size * n, "X-Cache", ans->x_cache, sizeof(ans->x_cache));
    header_value(line, size * n, "Cache-Control", ans->cache_control, sizeof(ans->cache_control));
    return size * n;
}

/* GET @path from @svc with the extra header @header ("Name: value"; may be NULL). */
static void get(const struct ts_service *svc, const char *path, const char *header,
                struct answer *ans)
{
    char url[512];
    struct curl_slist *hdrs = NULL;
    CURL *curl = curl_easy_init();
    CURLcode rc;

    memset(ans, 0, sizeof(*ans));
    assert_non_null(curl);
    snprintf(url, sizeof(url), "%s%s", svc->url, path);
    if (header)
        hdrs = curl_slist_append(hdrs, header);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, ans);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, ans);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    rc = curl_easy_perform(curl);
    assert_int_equal(rc, CURLE_OK);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &ans->status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(curl);
}

static void answer_free(struct answer *ans)
{
    free(ans->body);
    ans->body = NULL;
}

static int start(struct fixture *f, struct ts_service *svc)
{
    char db_env[96], topic_env[128];
    const char *env[] = {db_env,
                         topic_env,
                         "KAFKA_CREATE_TOPICS=true",
                         "MIGRATIONS_DIR=catalog-service/migrations",
                         "LOG_LEVEL=info",
                         NULL};

    snprintf(db_env, sizeof(db_env), "DB_NAME=%s", f->db);
    snprintf(topic_env, sizeof(topic_env), "TOPIC_PRODUCT_SKU_CREATED=%s", f->topic);
    return ts_service_start("catalog-service", env, 60000, svc);
}

/* POSTs @body as admin to instance A's @path; returns the new "id". */
static long long create(struct fixture *f, const char *path, const char *body)
{
    struct ts_resp r;
    char url[256];
    long long id;

    snprintf(url, sizeof(url), "%s%s", f->a.url, path);
    assert_int_equal(ts_http("POST", url, f->admin, body, NULL, &r), 0);
    assert_int_equal(r.status, 201);
    id = (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(r.json, "id"));
    ts_resp_free(&r);
    return id;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char body[128], name[64];

    if (!f || ts_create_database("e2e_catalog_cache", f->db, sizeof(f->db)) < 0)
        return -1;
    ts_unique("e2e-catalog-cache", f->topic, sizeof(f->topic));
    if (ts_create_topic(f->topic) < 0)
        return -1;
    /* A first: it applies the migrations; B finds them applied */
    if (start(f, &f->a) < 0 || start(f, &f->b) < 0)
        return -1;
    f->admin = ts_token("admin-1", "ADMIN");
    ts_unique("Mugs", name, sizeof(name));
    snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
    f->cat = create(f, "/api/catalog/categories", body);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(ts_service_stop(&f->a, SIGTERM), 0);
    assert_int_equal(ts_service_stop(&f->b, SIGTERM), 0);
    free(f->admin);
    free(f);
    return 0;
}

static long long new_product(struct fixture *f, const char *name)
{
    char body[256];

    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"price\":12000,\"categoryId\":%lld}", name,
             f->cat);
    return create(f, "/api/catalog/products", body);
}

/* Whether @svc answers @path 200 from its cache with @needle in the body. */
struct probe {
    const struct ts_service *svc;
    const char *path;
    const char *needle; /* NULL: any body */
    const char *x_cache;
    long status;
};

static bool probe_ok(void *arg)
{
    struct probe *p = arg;
    struct answer ans;
    bool ok;

    get(p->svc, p->path, NULL, &ans);
    ok = ans.status == p->status && (!p->x_cache || strcmp(ans.x_cache, p->x_cache) == 0) &&
         (!p->needle || (ans.body && strstr(ans.body, p->needle)));
    answer_free(&ans);
    return ok;
}

/* Reads @path from @svc until it is a cache hit (the first read fills the cache, which serves
 * hits once the instance read the generation). */
static void until_cached(const struct ts_service *svc, const char *path, const char *needle)
{
    struct probe p = {svc, path, needle, "hit", 200};

    assert_true(ts_poll_until(probe_ok, &p, DEADLINE_MS));
}

static void rename_product(struct fixture *f, long long id, const char *name)
{
    struct ts_resp r;
    char url[256], body[256];

    snprintf(url, sizeof(url), "%s/api/catalog/products/%lld", f->a.url, id);
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"categoryId\":%lld}", name, f->cat);
    assert_int_equal(ts_http("PUT", url, f->admin, body, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    ts_resp_free(&r);
}

/* A change through A: A answers it at once, B within the bound (the price itself cannot change
 * through the API, README: the name and the status stand for any committed change). */
static void test_a_change_through_a_reaches_both_instances(void **state)
{
    struct fixture *f = *state;
    char path[128];
    struct answer ans;
    long long id = new_product(f, "Mug before");

    snprintf(path, sizeof(path), "/api/catalog/products/%lld", id);
    until_cached(&f->a, path, "Mug before");
    until_cached(&f->b, path, "Mug before");

    rename_product(f, id, "Mug after");
    /* A dropped its cache after the commit: the very next read is the new name */
    get(&f->a, path, NULL, &ans);
    assert_int_equal(ans.status, 200);
    assert_non_null(strstr(ans.body, "Mug after"));
    answer_free(&ans);
    {
        /* B: once its poll saw the generation move (CATALOG_CACHE_POLL_MS) */
        struct probe p = {&f->b, path, "Mug after", NULL, 200};
        assert_true(ts_poll_until(probe_ok, &p, DEADLINE_MS));
    }
    /* and B caches the new answer again */
    until_cached(&f->b, path, "Mug after");

    /* INACTIVE hides it from the public at once on A, within the bound on B */
    {
        struct ts_resp r;
        char url[256];
        snprintf(url, sizeof(url), "%s/api/catalog/products/%lld/status", f->a.url, id);
        assert_int_equal(ts_http("PUT", url, f->admin, "{\"status\":\"INACTIVE\"}", NULL, &r), 0);
        assert_int_equal(r.status, 200);
        ts_resp_free(&r);
    }
    get(&f->a, path, NULL, &ans);
    assert_int_equal(ans.status, 404);
    answer_free(&ans);
    {
        struct probe p = {&f->b, path, NULL, NULL, 404};
        assert_true(ts_poll_until(probe_ok, &p, DEADLINE_MS));
    }
}

static void test_skus_and_tree_are_cached_and_follow_writes(void **state)
{
    struct fixture *f = *state;
    char path[128], body[160], name[64];
    long long id = new_product(f, "Cup");

    snprintf(path, sizeof(path), "/api/catalog/products/%lld/skus", id);
    until_cached(&f->b, path, "\"price\":12000");
    until_cached(&f->b, "/api/catalog/categories/tree", NULL);
    /* a new category through A shows in B's tree within the bound */
    ts_unique("Plates", name, sizeof(name));
    snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
    create(f, "/api/catalog/categories", body);
    {
        struct probe p = {&f->b, "/api/catalog/categories/tree", name, NULL, 200};
        assert_true(ts_poll_until(probe_ok, &p, DEADLINE_MS));
    }
}

static void test_etag_and_if_none_match(void **state)
{
    struct fixture *f = *state;
    char path[128], inm[160], etag[64];
    struct answer ans;
    long long id = new_product(f, "Bowl");

    snprintf(path, sizeof(path), "/api/catalog/products/%lld", id);
    get(&f->a, path, NULL, &ans);
    assert_int_equal(ans.status, 200);
    assert_int_equal(ans.etag[0], '"'); /* strong */
    assert_string_equal(ans.cache_control, "no-cache");
    snprintf(etag, sizeof(etag), "%s", ans.etag);
    answer_free(&ans);
    /* the same bytes from the other instance: the same validator */
    get(&f->b, path, NULL, &ans);
    assert_string_equal(ans.etag, etag);
    answer_free(&ans);

    const char *matching[] = {"%s", "W/%s", "\"nope\", %s", "*", "\"a\",W/%s , \"b\""};
    for (size_t i = 0; i < sizeof(matching) / sizeof(matching[0]); i++) {
        char value[128];
        snprintf(value, sizeof(value), matching[i], etag);
        snprintf(inm, sizeof(inm), "If-None-Match: %s", value);
        get(&f->b, path, inm, &ans);
        assert_int_equal(ans.status, 304);
        assert_int_equal(ans.len, 0);
        assert_string_equal(ans.etag, etag);
        answer_free(&ans);
    }
    const char *not_matching[] = {"If-None-Match: \"0000000000000000\"",
                                  "If-None-Match: garbage",
                                  "If-None-Match: \"unterminated",
                                  "If-None-Match: ,,,",
                                  "If-None-Match: W/",
                                  "If-None-Match: \"\\u0000\""};
    for (size_t i = 0; i < sizeof(not_matching) / sizeof(not_matching[0]); i++) {
        get(&f->b, path, not_matching[i], &ans);
        assert_int_equal(ans.status, 200);
        assert_non_null(strstr(ans.body, "\"Bowl\""));
        answer_free(&ans);
    }
    /* a huge header: refused or ignored, never a 5xx */
    {
        size_t n = 64 * 1024;
        char *big = malloc(n + 32);
        assert_non_null(big);
        strcpy(big, "If-None-Match: ");
        for (size_t i = strlen(big); i < n; i++)
            big[i] = (i % 20 == 0) ? ',' : '"';
        big[n] = '\0';
        get(&f->b, path, big, &ans);
        assert_true(ans.status >= 200 && ans.status < 500);
        answer_free(&ans);
        memset(big + 15, 'x', n - 15); /* one long token */
        get(&f->b, path, big, &ans);
        assert_true(ans.status >= 200 && ans.status < 500);
        answer_free(&ans);
        free(big);
    }
    /* after a change the old validator no longer matches: the new body comes */
    rename_product(f, id, "Bowl renamed");
    snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
    get(&f->a, path, inm, &ans);
    assert_int_equal(ans.status, 200);
    assert_string_not_equal(ans.etag, etag);
    assert_non_null(strstr(ans.body, "Bowl renamed"));
    answer_free(&ans);
}

static void test_a_missing_product_is_not_cached_as_found(void **state)
{
    struct fixture *f = *state;
    char path[128];
    struct answer ans;

    /* ids far above what this database handed out: 404, twice, never from the cache */
    snprintf(path, sizeof(path), "/api/catalog/products/%lld", 900000000000LL);
    for (int i = 0; i < 2; i++) {
        get(&f->b, path, "If-None-Match: *", &ans);
        assert_int_equal(ans.status, 404);
        assert_string_equal(ans.etag, "");
        assert_string_not_equal(ans.x_cache, "hit");
        answer_free(&ans);
    }
    /* a malformed id answers as before */
    get(&f->b, "/api/catalog/products/abc", NULL, &ans);
    assert_int_equal(ans.status, 404);
    answer_free(&ans);
    /* a product created after a 404 of its id is found at once through either instance */
    {
        long long id = new_product(f, "Late");
        snprintf(path, sizeof(path), "/api/catalog/products/%lld", id + 1);
        get(&f->b, path, NULL, &ans);
        assert_int_equal(ans.status, 404);
        answer_free(&ans);
        assert_int_equal(new_product(f, "Later"), id + 1); /* the id that answered 404 */
        get(&f->b, path, NULL, &ans);
        assert_int_equal(ans.status, 200);
        answer_free(&ans);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_change_through_a_reaches_both_instances),
        cmocka_unit_test(test_skus_and_tree_are_cached_and_follow_writes),
        cmocka_unit_test(test_etag_and_if_none_match),
        cmocka_unit_test(test_a_missing_product_is_not_cached_as_found),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, setup, teardown);
}
