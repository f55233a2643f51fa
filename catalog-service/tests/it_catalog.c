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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_product_3x2_publishes_six_events),
        cmocka_unit_test(test_broker_down_write_still_succeeds),
        cmocka_unit_test(test_bad_input_answers_4xx_problem),
        cmocka_unit_test(test_one_mib_body_is_413),
        cmocka_unit_test(test_tree_listing_search_update_delete),
        cmocka_unit_test(test_health_and_metrics),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
