/*
 * it_catalog.c - catalog-service end to end on real MariaDB and Kafka: the binary is started
 * with a fresh database and its own topic, and driven only through HTTP; events are read back
 * from Kafka.
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

#include <cmocka.h>

#include "testsup.h"

struct fixture {
    struct ts_service svc;
    char db[64];
    char topic[64];
    char *admin;
    char *user;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char db_env[96], topic_env[128];
    const char *env[6];

    if (ts_create_database("it_catalog", f->db, sizeof(f->db)) < 0)
        return -1;
    ts_unique("it-catalog-products", f->topic, sizeof(f->topic));
    if (ts_create_topic(f->topic) < 0)
        return -1;
    snprintf(db_env, sizeof(db_env), "DB_NAME=%s", f->db);
    snprintf(topic_env, sizeof(topic_env), "TOPIC_PRODUCT_SKU_CREATED=%s", f->topic);
    env[0] = db_env;
    env[1] = topic_env;
    env[2] = "KAFKA_CREATE_TOPICS=true";
    env[3] = "MIGRATIONS_DIR=catalog-service/migrations";
    env[4] = "LOG_LEVEL=info";
    env[5] = NULL;
    if (ts_service_start("catalog-service", env, 60000, &f->svc) < 0)
        return -1;
    f->admin = ts_token("admin-1", "ADMIN");
    f->user = ts_token("user-1", "USER");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    /* a clean stop must exit 0 (and, under ASan, without leaks) */
    assert_int_equal(ts_service_stop(&f->svc, SIGTERM), 0);
    free(f->admin);
    free(f->user);
    free(f);
    return 0;
}

static void url(const struct fixture *f, char *out, size_t outlen, const char *path)
{
    snprintf(out, outlen, "%.63s%.180s", f->svc.url, path);
}

/* POSTs @body as admin to @path, asserts @status, returns the response's "id". */
static long long create(struct fixture *f, const char *path, const char *body, long status)
{
    struct ts_resp r;
    char u[256];
    long long id = 0;

    url(f, u, sizeof(u), path);
    assert_int_equal(ts_http("POST", u, f->admin, body, NULL, &r), 0);
    if (r.status != status)
        fail_msg("POST %s: status %ld, body %s", path, r.status, r.body);
    if (r.json && cJSON_GetObjectItem(r.json, "id"))
        id = (long long)cJSON_GetObjectItem(r.json, "id")->valuedouble;
    ts_resp_free(&r);
    return id;
}

static long long create_category(struct fixture *f, const char *name, long long parent)
{
    char body[256];

    if (parent)
        snprintf(body, sizeof(body), "{\"name\":\"%s\",\"parentId\":%lld,\"ordering\":1}", name,
                 parent);
    else
        snprintf(body, sizeof(body), "{\"name\":\"%s\",\"ordering\":1}", name);
    return create(f, "/api/catalog/categories", body, 201);
}

static const char *shirt_body_fmt =
    "{\"name\":\"Shirt %s\",\"description\":\"cotton\",\"price\":10000,\"categoryId\":%lld,"
    "\"brand\":\"acme\",\"initialQuantity\":7,\"optionGroups\":["
    "{\"name\":\"Color\",\"ordering\":1,\"options\":[{\"name\":\"Red\",\"additionalPrice\":0},"
    "{\"name\":\"Blue\",\"additionalPrice\":500},{\"name\":\"Black\",\"additionalPrice\":1000}]},"
    "{\"name\":\"Size\",\"ordering\":2,\"options\":[{\"name\":\"M\",\"additionalPrice\":0},"
    "{\"name\":\"L\",\"additionalPrice\":2000}]}]}";

static const char *const ce_headers[] = {
    "ce_specversion", "ce_id",          "ce_source",     "ce_type",
    "ce_subject",     "ce_time",        "ce_dataschema", "ce_correlationid",
    "ce_causationid", "ce_traceparent", "content-type",  NULL,
};

/* Finds the SKU with @id in the product response's "skus". */
static const cJSON *find_sku(const cJSON *product, long long id)
{
    const cJSON *s;

    cJSON_ArrayForEach (s, cJSON_GetObjectItem(product, "skus")) {
        if ((long long)cJSON_GetObjectItem(s, "id")->valuedouble == id)
            return s;
    }
    return NULL;
}

static void check_events(struct fixture *f, const cJSON *product, const char *correlation_id)
{
    struct ts_consumer *c = ts_consumer_new(f->topic);
    struct ts_record *recs = NULL;
    size_t n = ts_consume(c, 6, 60000, &recs);
    long long seen[6] = {0};

    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++) {
        cJSON *ev = cJSON_ParseWithLength(recs[i].value, recs[i].len);
        const cJSON *data = cJSON_GetObjectItem(ev, "data");
        long long sku_id = (long long)cJSON_GetObjectItem(data, "skuId")->valuedouble;
        const cJSON *sku = find_sku(product, sku_id);
        char key[32];

        assert_non_null(ev);
        for (size_t h = 0; ce_headers[h]; h++) {
            if (!ts_record_header(&recs[i], ce_headers[h]))
                fail_msg("event lacks header %s", ce_headers[h]);
        }
        assert_string_equal(ts_record_header(&recs[i], "ce_type"), "product.sku.created");
        assert_string_equal(ts_record_header(&recs[i], "ce_specversion"), "1.0");
        assert_string_equal(ts_record_header(&recs[i], "ce_id"),
                            cJSON_GetObjectItem(ev, "id")->valuestring);
        /* the request's correlation id travels into every event */
        assert_string_equal(ts_record_header(&recs[i], "ce_correlationid"), correlation_id);
        assert_string_equal(cJSON_GetObjectItem(ev, "correlationid")->valuestring, correlation_id);
        /* keyed by SKU id, and the price is the SKU's */
        snprintf(key, sizeof(key), "%lld", sku_id);
        assert_string_equal(recs[i].key, key);
        assert_non_null(sku);
        assert_int_equal((long long)cJSON_GetObjectItem(data, "price")->valuedouble,
                         (long long)cJSON_GetObjectItem(sku, "price")->valuedouble);
        assert_int_equal((long long)cJSON_GetObjectItem(data, "initialQuantity")->valuedouble, 7);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(data, "optionValues")), 2);
        assert_string_equal(cJSON_GetObjectItem(data, "productCode")->valuestring,
                            cJSON_GetObjectItem(product, "code")->valuestring);
        for (size_t k = 0; k < i; k++)
            assert_true(seen[k] != sku_id);
        seen[i] = sku_id;
        cJSON_Delete(ev);
    }
    /* and no more than six */
    ts_records_free(recs, n);
    n = ts_consume(c, 1, 2000, &recs);
    assert_int_equal(n, 0);
    ts_records_free(recs, n);
    ts_consumer_free(c);
}

static void test_product_3x2_publishes_six_events(void **state)
{
    struct fixture *f = *state;
    long long cat = create_category(f, "Shirts", 0);
    const char *hdrs[] = {"X-Correlation-Id: it-catalog-corr-1", NULL};
    struct ts_resp r;
    char body[2048], u[256];
    const long long want[] = {10000, 12000, 10500, 12500, 11000, 13000};
    int i = 0;
    const cJSON *s;

    snprintf(body, sizeof(body), shirt_body_fmt, "A", cat);
    url(f, u, sizeof(u), "/api/catalog/products");
    assert_int_equal(ts_http("POST", u, f->admin, body, hdrs, &r), 0);
    assert_int_equal(r.status, 201);
    assert_non_null(strstr(r.location, "/api/catalog/products/"));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "skus")), 6);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "optionGroups")), 2);
    cJSON_ArrayForEach (s, cJSON_GetObjectItem(r.json, "skus")) {
        assert_int_equal((long long)cJSON_GetObjectItem(s, "price")->valuedouble, want[i]);
        i++;
    }
    check_events(f, r.json, "it-catalog-corr-1");
    ts_resp_free(&r);
}

static void test_broker_down_write_still_succeeds(void **state)
{
    struct fixture *f = *state;
    long long cat = create_category(f, "Offline", 0);
    const char *hdrs[] = {"X-Correlation-Id: it-catalog-corr-2", NULL};
    struct ts_resp r;
    char body[2048], u[256];
    struct ts_consumer *c;
    struct ts_record *recs = NULL;
    size_t n;

    /* start reading after the previous test's events: drain them first */
    c = ts_consumer_new(f->topic);
    n = ts_consume(c, 6, 30000, &recs);
    ts_records_free(recs, n);

    assert_int_equal(ts_infra("kafka-stop"), 0);
    snprintf(body, sizeof(body), shirt_body_fmt, "B", cat);
    url(f, u, sizeof(u), "/api/catalog/products");
    assert_int_equal(ts_http("POST", u, f->admin, body, hdrs, &r), 0);
    /* the broker is down, the write is not: the events wait in the outbox */
    assert_int_equal(r.status, 201);
    assert_int_equal(ts_infra("kafka-start"), 0);

    n = ts_consume(c, 6, 120000, &recs);
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(ts_record_header(&recs[i], "ce_correlationid"), "it-catalog-corr-2");
    ts_records_free(recs, n);
    ts_consumer_free(c);
    ts_resp_free(&r);
}

struct bad_case {
    const char *method;
    const char *path;
    const char *body; /* "%c" is replaced by a valid category id */
    int token;        /* 0 none, 1 user, 2 admin */
    long status;
    const char *code; /* expected problem code, NULL = any */
};

static void test_bad_input_answers_4xx_problem(void **state)
{
    struct fixture *f = *state;
    long long cat = create_category(f, "Bad input", 0);
    char valid[2048], body[4096], u[256], path[256];
    const struct bad_case cases[] = {
        {"POST", "/api/catalog/products", "{not json", 2, 400, "COMMON-400-001"},
        {"POST", "/api/catalog/products", "[1,2]", 2, 400, "COMMON-400-002"},
        {"POST", "/api/catalog/products", "{\"name\":5,\"price\":\"x\",\"categoryId\":%c}", 2, 400,
         "CATALOG-400-001"},
        {"POST", "/api/catalog/products", "{\"name\":\"n\",\"price\":-1,\"categoryId\":%c}", 2, 400,
         "CATALOG-400-001"},
        {"POST", "/api/catalog/products", "{\"name\":\"n\",\"price\":1.5,\"categoryId\":%c}", 2,
         400, "CATALOG-400-001"},
        {"POST", "/api/catalog/products", "{\"name\":\"n\",\"price\":100,\"categoryId\":999999}", 2,
         422, "CATALOG-422-001"},
        {"POST", "/api/catalog/products",
         "{\"name\":\"n\",\"price\":100,\"categoryId\":%c,\"optionGroups\":[{\"name\":\"g\","
         "\"options\":[]}]}",
         2, 400, "CATALOG-400-001"},
        {"POST", "/api/catalog/products", "{\"name\":\"n\",\"price\":100,\"categoryId\":%c}", 1,
         403, "COMMON-403-001"},
        {"POST", "/api/catalog/products", "{\"name\":\"n\",\"price\":100,\"categoryId\":%c}", 0,
         401, "COMMON-401-001"},
        {"POST", "/api/catalog/categories", "{\"name\":\"\"}", 2, 400, "CATALOG-400-001"},
        {"POST", "/api/catalog/categories", "{\"name\":\"x\",\"parentId\":999999}", 2, 422,
         "CATALOG-422-003"},
        {"POST", "/api/catalog/categories", "{\"name\":\"x\",\"parentId\":\"1\"}", 2, 400,
         "CATALOG-400-001"},
        {"POST", "/api/catalog/categories", "{\"name\":\"Bad input\"}", 2, 409, "CATALOG-409-001"},
        {"GET", "/api/catalog/products/999999", NULL, 0, 404, "CATALOG-404-002"},
        {"GET", "/api/catalog/products/abc", NULL, 0, 404, "CATALOG-404-002"},
        {"GET", "/api/catalog/products/999999/skus", NULL, 0, 404, "CATALOG-404-002"},
        {"GET", "/api/catalog/categories/999999", NULL, 0, 404, "CATALOG-404-001"},
        {"GET", "/api/catalog/products?page=-1", NULL, 0, 400, NULL},
        {"GET", "/api/catalog/products?size=100000", NULL, 0, 400, NULL},
        {"GET", "/api/catalog/products?categoryId=x", NULL, 0, 400, "CATALOG-400-001"},
        {"GET", "/api/catalog/categories?parentId=-3", NULL, 0, 400, "CATALOG-400-001"},
        {"PUT", "/api/catalog/products/999999", "{\"name\":\"n\",\"categoryId\":%c}", 2, 404,
         "CATALOG-404-002"},
        {"DELETE", "/api/catalog/products/999999", NULL, 2, 404, "CATALOG-404-002"},
        {"PATCH", "/api/catalog/products/1", "{}", 2, 405, "COMMON-405-001"},
        {"GET", "/api/nothing-here", NULL, 0, 404, "COMMON-404-001"},
    };

    snprintf(valid, sizeof(valid), "%lld", cat);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct bad_case *c = &cases[i];
        const char *tok = c->token == 2 ? f->admin : c->token == 1 ? f->user : NULL;
        const char *p;
        struct ts_resp r;
        size_t o = 0;

        if (c->body) {
            for (p = c->body; *p && o < sizeof(body) - 24; p++) {
                if (p[0] == '%' && p[1] == 'c') {
                    o += (size_t)snprintf(body + o, sizeof(body) - o, "%s", valid);
                    p++;
                } else {
                    body[o++] = *p;
                }
            }
            body[o] = '\0';
        }
        snprintf(path, sizeof(path), "%s", c->path);
        url(f, u, sizeof(u), path);
        assert_int_equal(ts_http(c->method, u, tok, c->body ? body : NULL, NULL, &r), 0);
        if (r.status != c->status)
            fail_msg("%s %s %s: want %ld, got %ld: %s", c->method, c->path, c->body ? body : "",
                     c->status, r.status, r.body);
        if (!strstr(r.content_type, "application/problem+json"))
            fail_msg("%s %s: content type '%s'", c->method, c->path, r.content_type);
        assert_non_null(r.json);
        assert_int_equal((long)cJSON_GetObjectItem(r.json, "status")->valuedouble, c->status);
        assert_non_null(cJSON_GetObjectItem(r.json, "title"));
        if (c->code && strcmp(cJSON_GetObjectItem(r.json, "code")->valuestring, c->code) != 0)
            fail_msg("%s %s: code %s, want %s", c->method, c->path,
                     cJSON_GetObjectItem(r.json, "code")->valuestring, c->code);
        if (c->status == 400 && c->code && strcmp(c->code, "CATALOG-400-001") == 0)
            assert_true(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "errors")) > 0);
        ts_resp_free(&r);
    }
}

static void test_one_mib_body_is_413(void **state)
{
    struct fixture *f = *state;
    size_t len = 1024 * 1024;
    char *big = malloc(len + 32), u[256];
    struct ts_resp r;

    memset(big, 'a', len + 31);
    memcpy(big, "{\"name\":\"", 9);
    memcpy(big + len + 28, "\"}", 3);
    url(f, u, sizeof(u), "/api/catalog/products");
    assert_int_equal(ts_http("POST", u, f->admin, big, NULL, &r), 0);
    assert_int_equal(r.status, 413);
    assert_non_null(strstr(r.content_type, "application/problem+json"));
    ts_resp_free(&r);
    free(big);
}

static void test_tree_listing_search_update_delete(void **state)
{
    struct fixture *f = *state;
    long long root = create_category(f, "Fashion", 0);
    long long child = create_category(f, "Men", root);
    long long grandchild = create_category(f, "Shoes", child);
    char u[256], body[2048], path[128];
    struct ts_resp r;
    const cJSON *node = NULL, *n;
    long long pid;

    /* listing children */
    snprintf(path, sizeof(path), "/api/catalog/categories?parentId=%lld", child);
    url(f, u, sizeof(u), path);
    assert_int_equal(ts_http("GET", u, NULL, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(cJSON_GetArraySize(r.json), 1);
    assert_int_equal(
        (long long)cJSON_GetObjectItem(cJSON_GetArrayItem(r.json, 0), "id")->valuedouble,
        grandchild);
    ts_resp_free(&r);

    /* the tree nests Fashion > Men > Shoes */
    url(f, u, sizeof(u), "/api/catalog/categories/tree");
    assert_int_equal(ts_http("GET", u, NULL, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    cJSON_ArrayForEach (n, r.json) {
        if ((long long)cJSON_GetObjectItem(n, "id")->valuedouble == root)
            node = n;
    }
    assert_non_null(node);
    node = cJSON_GetArrayItem(cJSON_GetObjectItem(node, "children"), 0);
    assert_int_equal((long long)cJSON_GetObjectItem(node, "id")->valuedouble, child);
    node = cJSON_GetArrayItem(cJSON_GetObjectItem(node, "children"), 0);
    assert_int_equal((long long)cJSON_GetObjectItem(node, "id")->valuedouble, grandchild);
    assert_int_equal((long long)cJSON_GetObjectItem(node, "depth")->valuedouble, 2);
    ts_resp_free(&r);

    /* a product without options has one SKU; keyword search finds it (wildcards literal) */
    snprintf(body, sizeof(body),
             "{\"name\":\"Runner 100%%\",\"price\":50000,\"categoryId\":%lld,\"brand\":\"fleet\"}",
             grandchild);
    pid = create(f, "/api/catalog/products", body, 201);
    snprintf(path, sizeof(path), "/api/catalog/products/%lld/skus", pid);
    url(f, u, sizeof(u), path);
    assert_int_equal(ts_http("GET", u, NULL, NULL, NULL, &r), 0);
    assert_int_equal(cJSON_GetArraySize(r.json), 1);
    ts_resp_free(&r);
    snprintf(path, sizeof(path), "/api/catalog/products?categoryId=%lld&keyword=100%%25&size=5",
             grandchild);
    url(f, u, sizeof(u), path);
    assert_int_equal(ts_http("GET", u, NULL, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal((long long)cJSON_GetObjectItem(r.json, "totalElements")->valuedouble, 1);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "content")), 1);
    ts_resp_free(&r);

    /* update: descriptive fields change, the price may not */
    snprintf(path, sizeof(path), "/api/catalog/products/%lld", pid);
    url(f, u, sizeof(u), path);
    snprintf(body, sizeof(body), "{\"name\":\"Runner 2\",\"categoryId\":%lld,\"price\":50000}",
             child);
    assert_int_equal(ts_http("PUT", u, f->admin, body, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(cJSON_GetObjectItem(r.json, "name")->valuestring, "Runner 2");
    assert_int_equal((long long)cJSON_GetObjectItem(r.json, "categoryId")->valuedouble, child);
    ts_resp_free(&r);
    snprintf(body, sizeof(body), "{\"name\":\"Runner 2\",\"categoryId\":%lld,\"price\":1}", child);
    assert_int_equal(ts_http("PUT", u, f->admin, body, NULL, &r), 0);
    assert_int_equal(r.status, 422);
    ts_resp_free(&r);

    /* soft delete: gone from reads, a second delete is 404 */
    assert_int_equal(ts_http("DELETE", u, f->admin, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 204);
    ts_resp_free(&r);
    assert_int_equal(ts_http("GET", u, NULL, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 404);
    ts_resp_free(&r);
    assert_int_equal(ts_http("DELETE", u, f->admin, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 404);
    ts_resp_free(&r);
}

static void test_health_and_metrics(void **state)
{
    struct fixture *f = *state;
    char u[256];
    struct ts_resp r;

    url(f, u, sizeof(u), "/health/ready");
    assert_int_equal(ts_http("GET", u, NULL, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    ts_resp_free(&r);
    url(f, u, sizeof(u), "/metrics");
    assert_int_equal(ts_http("GET", u, NULL, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "commerce_http_requests_total{route=\"/api/catalog/products\""));
    assert_non_null(strstr(r.body, "commerce_outbox_backlog"));
    ts_resp_free(&r);
}

/* @method @path as @token (NULL = none) with @body; returns the status, the response in @r. */
static long call(struct fixture *f, const char *method, const char *path, const char *token,
                 const char *body, struct ts_resp *r)
{
    char u[512];

    snprintf(u, sizeof(u), "%.63s%.400s", f->svc.url, path);
    assert_int_equal(ts_http(method, u, token, body, NULL, r), 0);
    return r->status;
}

/* Asserts a problem answer with @status and @code (and, when @field, a field error on it). */
static void expect_problem(struct fixture *f, const char *method, const char *path,
                           const char *token, const char *body, long status, const char *code,
                           const char *field)
{
    struct ts_resp r;
    const cJSON *e;
    int seen = field == NULL;

    if (call(f, method, path, token, body, &r) != status)
        fail_msg("%s %s %s: want %ld, got %ld: %s", method, path, body ? body : "", status,
                 r.status, r.body);
    assert_non_null(strstr(r.content_type, "application/problem+json"));
    if (code && strcmp(cJSON_GetObjectItem(r.json, "code")->valuestring, code) != 0)
        fail_msg("%s %s: code %s, want %s", method, path,
                 cJSON_GetObjectItem(r.json, "code")->valuestring, code);
    cJSON_ArrayForEach (e, cJSON_GetObjectItem(r.json, "errors")) {
        if (field && strcmp(cJSON_GetObjectItem(e, "field")->valuestring, field) == 0)
            seen = 1;
    }
    if (!seen)
        fail_msg("%s %s: no field error on '%s': %s", method, path, field, r.body);
    ts_resp_free(&r);
}

static void test_sku_lookup_by_option_names(void **state)
{
    struct fixture *f = *state;
    long long cat = create_category(f, "Lookup", 0);
    char body[2048], path[256], base[128];
    struct ts_resp r;
    long long pid;
    const struct {
        const char *query;
        long status;
        const char *code, *field;
    } bad[] = {
        {"?Color=Green&Size=M", 404, "CATALOG-404-003", NULL},             /* no such option */
        {"?Color=Red", 400, "CATALOG-400-002", "Size"},                    /* a group missing */
        {"?Color=Red&Size=M&Fit=x", 400, "CATALOG-400-002", "Fit"},        /* unknown group */
        {"?Color=Red&Size=M&Color=Blue", 400, "CATALOG-400-002", "Color"}, /* repeated */
        {"?color=Red&Size=M", 400, "CATALOG-400-002", "color"},            /* names are exact */
        {"?Color&Size=M", 400, "CATALOG-400-002", "Color"},                /* no option */
        {"?Color=&Size=M", 400, "CATALOG-400-002", "Color"},
        {"?Color=Red%00Blue&Size=M", 400, "CATALOG-400-002", "query"}, /* NUL */
        {"?Color=%FF&Size=M", 400, "CATALOG-400-002", "query"},        /* not UTF-8 */
        {"?a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9&j=10&k=11", 400, "CATALOG-400-002", "query"},
    };

    snprintf(body, sizeof(body), shirt_body_fmt, "Lookup", cat);
    pid = create(f, "/api/catalog/products", body, 201);
    snprintf(base, sizeof(base), "/api/catalog/products/%lld/skus", pid);

    /* every group named once, in any order: the one SKU of that combination */
    snprintf(path, sizeof(path), "%s?Size=L&Color=Blue", base);
    assert_int_equal(call(f, "GET", path, NULL, NULL, &r), 200);
    assert_int_equal((long long)cJSON_GetObjectItem(r.json, "price")->valuedouble, 12500);
    assert_non_null(strstr(cJSON_GetObjectItem(r.json, "code")->valuestring, "-2-2"));
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "optionValues"), 0),
                            "option")
            ->valuestring,
        "Blue");
    ts_resp_free(&r);
    snprintf(path, sizeof(path), "%s?Color=Black&Size=M", base);
    assert_int_equal(call(f, "GET", path, NULL, NULL, &r), 200);
    assert_int_equal((long long)cJSON_GetObjectItem(r.json, "price")->valuedouble, 11000);
    ts_resp_free(&r);
    /* without a query: every SKU, as before */
    assert_int_equal(call(f, "GET", base, NULL, NULL, &r), 200);
    assert_int_equal(cJSON_GetArraySize(r.json), 6);
    ts_resp_free(&r);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(path, sizeof(path), "%s%s", base, bad[i].query);
        expect_problem(f, "GET", path, NULL, NULL, bad[i].status, bad[i].code, bad[i].field);
    }
    expect_problem(f, "GET", "/api/catalog/products/999999/skus?Color=Red&Size=M", NULL, NULL, 404,
                   "CATALOG-404-002", NULL);

    /* option names with spaces and non-ASCII letters, percent-encoded in the query */
    snprintf(body, sizeof(body),
             "{\"name\":\"Mug\",\"price\":3000,\"categoryId\":%lld,\"optionGroups\":["
             "{\"name\":\"Glaze colour\",\"options\":[{\"name\":\"Deep blue\"},"
             "{\"name\":\"Cr\\u00e8me\",\"additionalPrice\":700}]}]}",
             cat);
    pid = create(f, "/api/catalog/products", body, 201);
    snprintf(path, sizeof(path), "/api/catalog/products/%lld/skus?Glaze%%20colour=Cr%%C3%%A8me",
             pid);
    assert_int_equal(call(f, "GET", path, NULL, NULL, &r), 200);
    assert_int_equal((long long)cJSON_GetObjectItem(r.json, "price")->valuedouble, 3700);
    ts_resp_free(&r);
}

/* Counts the nodes of a GET /categories/tree answer. */
static int count_nodes(const cJSON *list)
{
    const cJSON *n;
    int count = 0;

    cJSON_ArrayForEach (n, list)
        count += 1 + count_nodes(cJSON_GetObjectItem(n, "children"));
    return count;
}

static int category_count(struct fixture *f)
{
    struct ts_resp r;
    int n;

    assert_int_equal(call(f, "GET", "/api/catalog/categories/tree", NULL, NULL, &r), 200);
    n = count_nodes(r.json);
    ts_resp_free(&r);
    return n;
}

static void test_category_tree_in_one_call(void **state)
{
    struct fixture *f = *state;
    const char *tree = "{\"name\":\"Outdoor\",\"ordering\":3,\"children\":["
                       "{\"name\":\"Camping\",\"children\":[{\"name\":\"Tents\"},"
                       "{\"name\":\"Stoves\",\"ordering\":2}]},{\"name\":\"Climbing\"}]}";
    char body[8192], path[128];
    const cJSON *camping, *tents;
    struct ts_resp r;
    long long root, deep;
    int before;
    size_t o;

    assert_int_equal(call(f, "POST", "/api/catalog/categories/tree", f->admin, tree, &r), 201);
    root = (long long)cJSON_GetObjectItem(r.json, "id")->valuedouble;
    snprintf(path, sizeof(path), "/api/catalog/categories/%lld", root);
    assert_non_null(strstr(r.location, path));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r.json, "parentId")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "children")), 2);
    camping = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "children"), 0);
    assert_int_equal((long long)cJSON_GetObjectItem(camping, "parentId")->valuedouble, root);
    tents = cJSON_GetArrayItem(cJSON_GetObjectItem(camping, "children"), 0);
    assert_string_equal(cJSON_GetObjectItem(tents, "name")->valuestring, "Tents");
    assert_int_equal((long long)cJSON_GetObjectItem(tents, "depth")->valuedouble, 2);
    /* the ids are real: the created child reads back with its parent */
    snprintf(path, sizeof(path), "/api/catalog/categories/%lld",
             (long long)cJSON_GetObjectItem(tents, "id")->valuedouble);
    ts_resp_free(&r);
    assert_int_equal(call(f, "GET", path, NULL, NULL, &r), 200);
    assert_string_equal(cJSON_GetObjectItem(r.json, "name")->valuestring, "Tents");
    ts_resp_free(&r);

    /* all or nothing: a taken root name creates none of the tree */
    before = category_count(f);
    expect_problem(f, "POST", "/api/catalog/categories/tree", f->admin, tree, 409,
                   "CATALOG-409-001", NULL);
    assert_int_equal(category_count(f), before);

    /* under an existing parent: depths continue from it; too deep is 422 */
    snprintf(body, sizeof(body),
             "{\"parentId\":%lld,\"name\":\"Outdoor\",\"children\":"
             "[{\"name\":\"Bags\"}]}",
             root);
    assert_int_equal(call(f, "POST", "/api/catalog/categories/tree", f->admin, body, &r), 201);
    assert_int_equal((long long)cJSON_GetObjectItem(r.json, "parentId")->valuedouble, root);
    assert_int_equal((long long)cJSON_GetObjectItem(r.json, "depth")->valuedouble, 1);
    deep = (long long)cJSON_GetObjectItem(
               cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "children"), 0), "id")
               ->valuedouble;
    ts_resp_free(&r);
    before = category_count(f);
    snprintf(body, sizeof(body),
             "{\"parentId\":%lld,\"name\":\"a\",\"children\":[{\"name\":"
             "\"b\",\"children\":[{\"name\":\"c\"}]}]}",
             deep);
    expect_problem(f, "POST", "/api/catalog/categories/tree", f->admin, body, 422,
                   "CATALOG-422-004", NULL);
    assert_int_equal(category_count(f), before);
    expect_problem(f, "POST", "/api/catalog/categories/tree", f->admin,
                   "{\"parentId\":999999,\"name\":\"x\"}", 422, "CATALOG-422-003", NULL);

    /* bad nodes: field errors with their paths; only admins */
    expect_problem(f, "POST", "/api/catalog/categories/tree", f->admin,
                   "{\"name\":\"T\",\"children\":[{\"name\":\"a\"},{\"name\":\"a\"}]}", 400,
                   "CATALOG-400-001", "children[1].name");
    expect_problem(f, "POST", "/api/catalog/categories/tree", f->admin,
                   "{\"name\":\"T\",\"children\":[{\"name\":7}]}", 400, "CATALOG-400-001",
                   "children[0].name");
    expect_problem(f, "POST", "/api/catalog/categories/tree", f->admin,
                   "{\"name\":\"T\",\"children\":[{\"name\":\"a\",\"children\":[\"x\"]}]}", 400,
                   "CATALOG-400-001", "children[0].children[0]");
    expect_problem(f, "POST", "/api/catalog/categories/tree", f->admin,
                   "{\"name\":\"T\",\"children\":{\"name\":\"a\"}}", 400, "CATALOG-400-001",
                   "children");
    expect_problem(f, "POST", "/api/catalog/categories/tree", f->admin,
                   "{\"name\":\"T\",\"children\":[{\"name\":\"a\",\"parentId\":1}]}", 400,
                   "CATALOG-400-001", "children[0].parentId");
    expect_problem(f, "POST", "/api/catalog/categories/tree", f->admin,
                   "{\"name\":\"T\",\"ordering\":-1}", 400, "CATALOG-400-001", "ordering");
    expect_problem(f, "POST", "/api/catalog/categories/tree", f->admin,
                   "{\"name\":\"1\",\"children\":[{\"name\":\"2\",\"children\":[{\"name\":\"3\","
                   "\"children\":[{\"name\":\"4\",\"children\":[{\"name\":\"5\",\"children\":"
                   "[{\"name\":\"6\"}]}]}]}]}]}",
                   400, "CATALOG-400-001",
                   "children[0].children[0].children[0].children[0]."
                   "children");
    expect_problem(f, "POST", "/api/catalog/categories/tree", f->admin, "[]", 400, "COMMON-400-002",
                   NULL);
    /* 101 categories: one root, 100 children */
    o = (size_t)snprintf(body, sizeof(body), "{\"name\":\"Big\",\"children\":[");
    for (int i = 0; i < 100; i++)
        o += (size_t)snprintf(body + o, sizeof(body) - o, "%s{\"name\":\"c%d\"}", i ? "," : "", i);
    snprintf(body + o, sizeof(body) - o, "]}");
    expect_problem(f, "POST", "/api/catalog/categories/tree", f->admin, body, 400,
                   "CATALOG-400-001", "children");
    expect_problem(f, "POST", "/api/catalog/categories/tree", f->user, tree, 403, "COMMON-403-001",
                   NULL);
    expect_problem(f, "POST", "/api/catalog/categories/tree", NULL, tree, 401, "COMMON-401-001",
                   NULL);
}

static void test_status_and_thumbnail(void **state)
{
    struct fixture *f = *state;
    long long cat = create_category(f, "Status", 0);
    char body[4096], path[128], status_path[160], list[160], big[2049 + 1];
    struct ts_resp r;
    long long pid;

    /* a thumbnail is kept and shown */
    snprintf(body, sizeof(body),
             "{\"name\":\"Lamp zq\",\"price\":9000,\"categoryId\":%lld,"
             "\"thumbnailUrl\":\"https://cdn.example.com/lamp.png?w=200\"}",
             cat);
    assert_int_equal(call(f, "POST", "/api/catalog/products", f->admin, body, &r), 201);
    pid = (long long)cJSON_GetObjectItem(r.json, "id")->valuedouble;
    assert_string_equal(cJSON_GetObjectItem(r.json, "thumbnailUrl")->valuestring,
                        "https://cdn.example.com/lamp.png?w=200");
    assert_string_equal(cJSON_GetObjectItem(r.json, "status")->valuestring, "ACTIVE");
    ts_resp_free(&r);
    snprintf(path, sizeof(path), "/api/catalog/products/%lld", pid);
    snprintf(status_path, sizeof(status_path), "%s/status", path);
    snprintf(list, sizeof(list), "/api/catalog/products?categoryId=%lld", cat);

    /* bad thumbnails: scheme, characters, type, length */
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "https://e.com/", 14);
    {
        const char *urls[] = {"\"ftp://cdn.example.com/a.png\"",
                              "\"javascript:alert(1)\"",
                              "\"https://cdn.example.com/a b.png\"",
                              "\"https://user@cdn.example.com/\"",
                              "42",
                              NULL};
        for (size_t i = 0; i <= sizeof(urls) / sizeof(urls[0]) - 1; i++) {
            if (urls[i])
                snprintf(body, sizeof(body),
                         "{\"name\":\"n\",\"price\":100,\"categoryId\":%lld,\"thumbnailUrl\":%s}",
                         cat, urls[i]);
            else
                snprintf(body, sizeof(body),
                         "{\"name\":\"n\",\"price\":100,\"categoryId\":%lld,\"thumbnailUrl\":"
                         "\"%s\"}",
                         cat, big);
            expect_problem(f, "POST", "/api/catalog/products", f->admin, body, 400,
                           "CATALOG-400-001", "thumbnailUrl");
        }
    }
    /* PUT replaces the thumbnail; status is not a PUT field */
    snprintf(
        body, sizeof(body),
        "{\"name\":\"Lamp zq\",\"categoryId\":%lld,\"thumbnailUrl\":\"http://img.test/l.jpg\"}",
        cat);
    assert_int_equal(call(f, "PUT", path, f->admin, body, &r), 200);
    assert_string_equal(cJSON_GetObjectItem(r.json, "thumbnailUrl")->valuestring,
                        "http://img.test/l.jpg");
    ts_resp_free(&r);
    snprintf(body, sizeof(body),
             "{\"name\":\"Lamp zq\",\"categoryId\":%lld,\"status\":\"INACTIVE\"}", cat);
    expect_problem(f, "PUT", path, f->admin, body, 400, "CATALOG-400-001", "status");

    /* only admins change the status, to ACTIVE or INACTIVE */
    expect_problem(f, "PUT", status_path, f->user, "{\"status\":\"INACTIVE\"}", 403,
                   "COMMON-403-001", NULL);
    expect_problem(f, "PUT", status_path, NULL, "{\"status\":\"INACTIVE\"}", 401, "COMMON-401-001",
                   NULL);
    expect_problem(f, "PUT", status_path, f->admin, "{\"status\":\"DELETED\"}", 400,
                   "CATALOG-400-001", "status");
    expect_problem(f, "PUT", status_path, f->admin, "{\"status\":\"inactive\"}", 400,
                   "CATALOG-400-001", "status");
    expect_problem(f, "PUT", status_path, f->admin, "{\"status\":1}", 400, "CATALOG-400-001",
                   "status");
    expect_problem(f, "PUT", status_path, f->admin, "{}", 400, "CATALOG-400-001", "status");
    expect_problem(f, "PUT", "/api/catalog/products/999999/status", f->admin,
                   "{\"status\":\"INACTIVE\"}", 404, "CATALOG-404-002", NULL);
    assert_int_equal(call(f, "PUT", status_path, f->admin, "{\"status\":\"INACTIVE\"}", &r), 200);
    assert_string_equal(cJSON_GetObjectItem(r.json, "status")->valuestring, "INACTIVE");
    ts_resp_free(&r);
    /* the same status again is still 200 */
    assert_int_equal(call(f, "PUT", status_path, f->admin, "{\"status\":\"INACTIVE\"}", &r), 200);
    ts_resp_free(&r);

    /* hidden from the public and users, visible to admins */
    expect_problem(f, "GET", path, NULL, NULL, 404, "CATALOG-404-002", NULL);
    expect_problem(f, "GET", path, f->user, NULL, 404, "CATALOG-404-002", NULL);
    snprintf(body, sizeof(body), "%s/skus", path);
    expect_problem(f, "GET", body, NULL, NULL, 404, "CATALOG-404-002", NULL);
    assert_int_equal(call(f, "GET", path, f->admin, NULL, &r), 200);
    assert_string_equal(cJSON_GetObjectItem(r.json, "status")->valuestring, "INACTIVE");
    ts_resp_free(&r);
    assert_int_equal(call(f, "GET", list, NULL, NULL, &r), 200);
    assert_int_equal((long long)cJSON_GetObjectItem(r.json, "totalElements")->valuedouble, 0);
    ts_resp_free(&r);
    assert_int_equal(call(f, "GET", list, f->admin, NULL, &r), 200);
    assert_int_equal((long long)cJSON_GetObjectItem(r.json, "totalElements")->valuedouble, 1);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "content"), 0), "status")
            ->valuestring,
        "INACTIVE");
    ts_resp_free(&r);

    /* back to ACTIVE: public again */
    assert_int_equal(call(f, "PUT", status_path, f->admin, "{\"status\":\"ACTIVE\"}", &r), 200);
    ts_resp_free(&r);
    assert_int_equal(call(f, "GET", path, NULL, NULL, &r), 200);
    ts_resp_free(&r);
    assert_int_equal(call(f, "GET", list, NULL, NULL, &r), 200);
    assert_int_equal((long long)cJSON_GetObjectItem(r.json, "totalElements")->valuedouble, 1);
    ts_resp_free(&r);

    /* products are created ACTIVE; a deleted one cannot be revived */
    snprintf(body, sizeof(body),
             "{\"name\":\"Draft\",\"price\":100,\"categoryId\":%lld,\"status\":\"INACTIVE\"}", cat);
    expect_problem(f, "POST", "/api/catalog/products", f->admin, body, 400, "CATALOG-400-001",
                   "status");
    assert_int_equal(call(f, "DELETE", path, f->admin, NULL, &r), 204);
    ts_resp_free(&r);
    expect_problem(f, "PUT", status_path, f->admin, "{\"status\":\"ACTIVE\"}", 404,
                   "CATALOG-404-002", NULL);
    expect_problem(f, "GET", path, f->admin, NULL, 404, "CATALOG-404-002", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_product_3x2_publishes_six_events),
        cmocka_unit_test(test_broker_down_write_still_succeeds),
        cmocka_unit_test(test_bad_input_answers_4xx_problem),
        cmocka_unit_test(test_one_mib_body_is_413),
        cmocka_unit_test(test_tree_listing_search_update_delete),
        cmocka_unit_test(test_health_and_metrics),
        cmocka_unit_test(test_sku_lookup_by_option_names),
        cmocka_unit_test(test_category_tree_in_one_call),
        cmocka_unit_test(test_status_and_thumbnail),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
