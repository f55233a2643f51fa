/*
 * e2e_openapi_served.c - every service serves its OpenAPI document: GET /openapi.yaml answers
 * 200, public (no token), content type application/yaml, with the bytes of
 * docs/openapi/<service>.yaml (OPENAPI_FILE's default, read at start relative to the working
 * directory: the checkout's root, as under the harness and `make up`), and with
 * Access-Control-Allow-Origin: * so that Swagger UI (docker-compose's `tools` profile) can read
 * it from another origin. A service whose OPENAPI_FILE cannot be read does not start.
 */
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

#include "common/util.h"
#include "saga.h"
#include "testsup.h"

#define DOC_MAX (4 * 1024 * 1024)

/* The header @name of a GET of @url (without the token), into @out; "" when absent. */
struct hdr_want {
    const char *name;
    char *out;
    size_t outlen;
};

static size_t hdr_cb(char *buf, size_t size, size_t n, void *arg)
{
    struct hdr_want *w = arg;
    size_t len = size * n, nlen = strlen(w->name);

    if (len > nlen + 1 && strncasecmp(buf, w->name, nlen) == 0 && buf[nlen] == ':') {
        size_t start = nlen + 1, end = len;

        while (start < end && buf[start] == ' ')
            start++;
        while (end > start && (buf[end - 1] == '\r' || buf[end - 1] == '\n'))
            end--;
        snprintf(w->out, w->outlen, "%.*s", (int)(end - start), buf + start);
    }
    return len;
}

static size_t discard_cb(char *buf, size_t size, size_t n, void *arg)
{
    (void)buf;
    (void)arg;
    return size * n;
}

static void header_of(const char *url, const char *name, char *out, size_t outlen)
{
    struct hdr_want w = {name, out, outlen};
    CURL *curl = curl_easy_init();

    out[0] = '\0';
    assert_non_null(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, hdr_cb);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &w);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_cb);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    assert_int_equal(curl_easy_perform(curl), CURLE_OK);
    curl_easy_cleanup(curl);
}

static int setup(void **state)
{
    struct saga_stack *st = calloc(1, sizeof(*st));
    struct saga_opts opts = {
        .prefix = "e2e_oas", .payment_deadline_s = 900, .gateway_timeout_ms = 300};

    if (!st)
        return -1;
    if (saga_stack_start(st, &opts) < 0) {
        free(st);
        return -1;
    }
    *state = st;
    return 0;
}

static int teardown(void **state)
{
    struct saga_stack *st = *state;

    assert_int_equal(saga_stack_stop(st), 0);
    free(st);
    return 0;
}

static void check_served(const struct ts_service *svc, const char *name)
{
    char path[128], url[256], acao[64];
    struct ts_resp resp = {0};
    size_t len;
    char *doc;

    snprintf(path, sizeof(path), "docs/openapi/%s.yaml", name);
    assert_int_equal(util_read_file(path, DOC_MAX, &doc, &len), 0);
    assert_true(len > 0);
    snprintf(url, sizeof(url), "%s/openapi.yaml", svc->url);
    assert_int_equal(ts_http("GET", url, NULL, NULL, NULL, &resp), 0);
    if (resp.status != 200 || strcmp(resp.content_type, "application/yaml") != 0 ||
        strcmp(resp.body, doc) != 0)
        fail_msg("%s: GET /openapi.yaml → %ld %s, %zu bytes; want 200 application/yaml with the "
                 "%zu bytes of %s",
                 name, resp.status, resp.content_type, strlen(resp.body), len, path);
    header_of(url, "Access-Control-Allow-Origin", acao, sizeof(acao));
    assert_string_equal(acao, "*");
    ts_resp_free(&resp);
    free(doc);
}

/* all six, each its own document */
static void test_each_service_serves_its_document(void **state)
{
    struct saga_stack *st = *state;

    check_served(&st->auth, "auth");
    check_served(&st->user, "user");
    check_served(&st->catalog, "catalog");
    check_served(&st->inventory, "inventory");
    check_served(&st->order, "order");
    check_served(&st->payment, "payment");
}

/* OPENAPI_FILE names the document; one that cannot be read stops the start */
static void test_openapi_file_setting(void **state)
{
    struct saga_stack *st = *state;
    char db[96], auth[96], ok[96];
    const char *env[] = {db,   "MIGRATIONS_DIR=user-service/migrations",
                         auth, "AUTH_SERVICE_TOKEN=" SAGA_SERVICE_TOKEN,
                         ok,   NULL};
    struct ts_service svc;
    struct ts_resp resp = {0};
    char url[256], *doc;

    snprintf(db, sizeof(db), "DB_NAME=%s", st->user_db);
    snprintf(auth, sizeof(auth), "AUTH_URL=%s", st->auth.url);
    /* a second user-service with order-service's document: it serves what it is told */
    snprintf(ok, sizeof(ok), "OPENAPI_FILE=docs/openapi/order.yaml");
    assert_int_equal(ts_service_start("user-service", env, 30000, &svc), 0);
    snprintf(url, sizeof(url), "%s/openapi.yaml", svc.url);
    assert_int_equal(ts_http("GET", url, NULL, NULL, NULL, &resp), 0);
    assert_int_equal(util_read_file("docs/openapi/order.yaml", DOC_MAX, &doc, NULL), 0);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body, doc);
    ts_resp_free(&resp);
    free(doc);
    assert_int_equal(ts_service_stop(&svc, SIGTERM), 0);

    snprintf(ok, sizeof(ok), "OPENAPI_FILE=docs/openapi/no-such-document.yaml");
    assert_int_not_equal(ts_service_start("user-service", env, 10000, &svc), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_service_serves_its_document),
        cmocka_unit_test(test_openapi_file_setting),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
