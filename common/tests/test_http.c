/*
 * test_http.c - the HTTP layer end to end: a real server on 127.0.0.1 (port 0) called with
 * libcurl. Routing precedence and parameters, 404/405/413, JSON body checks, problem+json,
 * bearer tokens (ES256 keys made here), correlation ids, health, drain and /metrics; the
 * connection limits (total, per address) and the header deadline with raw sockets. The cookie
 * parser and the response header check, as pure functions and through the server.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/http.h"
#include "common/jwt.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/util.h"

#define MAX_BODY (64 * 1024)

struct app {
    atomic_int ready; /* 1 = ready */
};

struct fixture {
    struct app app;
    struct http_server *srv;
    struct jwt_key *key;   /* the server's */
    struct jwt_key *other; /* not trusted by the server */
    char base[64];
};

static struct fixture fx;

/* ---- handlers ---- */

static void reply_string(struct http_resp *resp, int status, const char *name, const char *value)
{
    cJSON *json = cJSON_CreateObject();

    if (value)
        cJSON_AddStringToObject(json, name, value);
    else
        cJSON_AddNullToObject(json, name);
    http_reply_json(resp, status, json);
}

static void h_tree(struct http_req *req, struct http_resp *resp, void *app)
{
    (void)app;
    reply_string(resp, 200, "handler", req->route);
}

static void h_category(struct http_req *req, struct http_resp *resp, void *app)
{
    (void)app;
    reply_string(resp, strcmp(req->route, "/api/catalog/categories/{id}") ? 500 : 200, "id",
                 http_param(req, "id"));
}

static void h_sku(struct http_req *req, struct http_resp *resp, void *app)
{
    cJSON *json = cJSON_CreateObject();

    (void)app;
    cJSON_AddNumberToObject(json, "nparams", (double)req->nparams);
    cJSON_AddBoolToObject(json, "nope", http_param(req, "nope") != NULL);
    cJSON_AddStringToObject(json, "id", http_param(req, "id"));
    cJSON_AddStringToObject(json, "skuId", http_param(req, "skuId"));
    http_reply_json(resp, 200, json);
}

static void h_echo(struct http_req *req, struct http_resp *resp, void *app)
{
    cJSON *json = http_json_body(req, resp);

    (void)app;
    if (!json)
        return;
    snprintf(resp->location, sizeof(resp->location), "/api/echo/1");
    http_reply_json(resp, 201, json);
}

static void h_me(struct http_req *req, struct http_resp *resp, void *app)
{
    (void)app;
    if (!req->principal) /* the server must not call us without one */
        return;
    reply_string(resp, 200, "sub", req->principal->sub);
}

static void h_whoami(struct http_req *req, struct http_resp *resp, void *app)
{
    (void)app;
    reply_string(resp, 200, "sub", req->principal ? req->principal->sub : NULL);
}

static void h_admin_delete(struct http_req *req, struct http_resp *resp, void *app)
{
    (void)app;
    if (!req->principal || !(req->principal->roles & JWT_ROLE_ADMIN))
        return; /* 500: the server let a non-admin through */
    http_reply_json(resp, 204, NULL);
}

static void h_nostatus(struct http_req *req, struct http_resp *resp, void *app)
{
    (void)req;
    (void)app;
    resp->body = strdup("leaked unless the server frees it");
}

static void h_query(struct http_req *req, struct http_resp *resp, void *app)
{
    cJSON *json;
    long limit;

    (void)app;
    limit = http_query_long(req, resp, "limit", 20, 1, 100);
    if (limit < 0)
        return;
    json = cJSON_CreateObject();
    cJSON_AddNumberToObject(json, "limit", (double)limit);
    cJSON_AddStringToObject(json, "q", http_query(req, "q") ? http_query(req, "q") : "");
    cJSON_AddStringToObject(
        json, "header", http_header(req, "x-test-header") ? http_header(req, "X-Test-Header") : "");
    cJSON_AddStringToObject(json, "correlation", req->ctx.correlation_id);
    http_reply_json(resp, 200, json);
}

static void h_peer(struct http_req *req, struct http_resp *resp, void *app)
{
    (void)app;
    reply_string(resp, 200, "peer", req->remote_addr);
}

/* Answers {"rc", "value"} for the cookie "sid" and sets two headers: a cookie, and a problem
 * answer when the cookie is malformed (the headers stay). */
static void h_cookie(struct http_req *req, struct http_resp *resp, void *app)
{
    char value[64] = "";
    int rc = http_cookie(req, "sid", value, sizeof(value));
    cJSON *json;

    (void)app;
    if (rc == -EINVAL || rc == -E2BIG) {
        http_reply_problem(resp, 400, "COMMON-400-001", NULL, "bad cookie (%d)", rc);
    } else {
        json = cJSON_CreateObject();
        cJSON_AddNumberToObject(json, "rc", rc);
        cJSON_AddStringToObject(json, "value", value);
        http_reply_json(resp, 200, json);
    }
    if (http_resp_header(resp, "Set-Cookie", "sid=new; Path=/; HttpOnly") < 0 ||
        http_resp_header(resp, "X-Extra", "one") < 0)
        http_reply_problem(resp, 500, "COMMON-500-001", NULL, "header refused");
}

/* the parameter route comes first: precedence must not depend on the table's order */
static const struct http_route routes[] = {
    {"GET", "/api/catalog/categories/{id}", HTTP_AUTH_NONE, h_category},
    {"GET", "/api/catalog/categories/tree", HTTP_AUTH_NONE, h_tree},
    {"GET", "/api/catalog/products/{id}/skus/{skuId}", HTTP_AUTH_NONE, h_sku},
    {"POST", "/api/echo", HTTP_AUTH_NONE, h_echo},
    {"GET", "/api/me", HTTP_AUTH_USER, h_me},
    {"GET", "/api/whoami", HTTP_AUTH_NONE, h_whoami},
    {"DELETE", "/api/admin/things/{id}", HTTP_AUTH_ADMIN, h_admin_delete},
    {"GET", "/api/nostatus", HTTP_AUTH_NONE, h_nostatus},
    {"GET", "/api/query", HTTP_AUTH_NONE, h_query},
    {"GET", "/api/peer", HTTP_AUTH_NONE, h_peer},
    {"GET", "/api/cookie", HTTP_AUTH_NONE, h_cookie},
};

static int app_ready(void *app, char *why, size_t whylen)
{
    struct app *a = app;

    if (atomic_load(&a->ready))
        return 0;
    snprintf(why, whylen, "database unreachable");
    return -EAGAIN;
}

/* ---- keys and tokens ---- */

static struct jwt_key *make_key(void)
{
    char err[128];
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    BIO *bio = BIO_new(BIO_s_mem());
    struct jwt_key *key;
    char *pem;
    long len;

    assert_non_null(pkey);
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL), 1);
    len = BIO_get_mem_data(bio, &pem);
    key = jwt_key_from_pem(pem, (size_t)len, err, sizeof(err));
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    assert_non_null(key);
    return key;
}

static char *make_token(const struct jwt_key *key, const char *sub, unsigned roles)
{
    struct jwt_principal p = {0};
    char *token = NULL;

    snprintf(p.sub, sizeof(p.sub), "%s", sub);
    snprintf(p.email, sizeof(p.email), "%s@example.com", sub);
    p.roles = roles;
    assert_int_equal(jwt_sign(key, &p, (int64_t)time(NULL), 900, &token), 0);
    return token;
}

/* ---- client ---- */

struct buf {
    char *p;
    size_t len;
};

struct reply {
    long status;
    struct buf body;
    struct buf headers;
    cJSON *json;
    curl_off_t uploaded; /* body bytes curl sent */
};

struct upload {
    size_t left;
};

static size_t collect(char *data, size_t size, size_t nmemb, void *arg)
{
    struct buf *b = arg;
    size_t n = size * nmemb;
    char *np = realloc(b->p, b->len + n + 1);

    if (!np)
        return 0;
    memcpy(np + b->len, data, n);
    b->p = np;
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

static size_t read_zeros(char *data, size_t size, size_t nmemb, void *arg)
{
    struct upload *up = arg;
    size_t n = size * nmemb < up->left ? size * nmemb : up->left;

    memset(data, ' ', n);
    up->left -= n;
    return n;
}

/* the local address the next calls come from (NULL: any) */
static const char *source_address;

/* Calls @method @path. @body (may be NULL) of @len bytes; @chunked streams @len spaces with
 * Transfer-Encoding: chunked instead. @headers NULL-terminated, may be NULL. */
static void call_ex(const char *method, const char *path, const char *token, const char *body,
                    size_t len, bool chunked, const char *const *headers, struct reply *r)
{
    struct curl_slist *list = NULL;
    struct upload up = {len};
    char url[512], auth[2048];
    CURL *curl = curl_easy_init();

    memset(r, 0, sizeof(*r));
    assert_non_null(curl);
    snprintf(url, sizeof(url), "%s%s", fx.base, path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r->headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
    if (source_address)
        curl_easy_setopt(curl, CURLOPT_INTERFACE, source_address);
    if (chunked) {
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_zeros);
        curl_easy_setopt(curl, CURLOPT_READDATA, &up);
        list = curl_slist_append(list, "Transfer-Encoding: chunked");
    } else if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if (token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        list = curl_slist_append(list, auth);
    }
    for (size_t i = 0; headers && headers[i]; i++)
        list = curl_slist_append(list, headers[i]);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    assert_int_equal(curl_easy_perform(curl), CURLE_OK);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(curl, CURLINFO_SIZE_UPLOAD_T, &r->uploaded);
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    if (r->body.p)
        r->json = cJSON_Parse(r->body.p);
}

static void call(const char *method, const char *path, const char *token, const char *body,
                 struct reply *r)
{
    call_ex(method, path, token, body, body ? strlen(body) : 0, false, NULL, r);
}

static void reply_free(struct reply *r)
{
    free(r->body.p);
    free(r->headers.p);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof(*r));
}

/* The value of response header @name (the last response's, after any 100 Continue). */
static const char *header(const struct reply *r, const char *name, char *out, size_t outlen)
{
    const char *p = r->headers.p;
    const char *found = NULL;
    size_t nlen = strlen(name);

    for (; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p))
        if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':')
            found = p + nlen + 1;
    if (!found)
        return NULL;
    while (*found == ' ')
        found++;
    snprintf(out, outlen, "%.*s", (int)strcspn(found, "\r\n"), found);
    return out;
}

static const char *jstr(const struct reply *r, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(r->json, name);

    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* Asserts @r is an RFC 9457 problem with @status and @code. */
static void assert_problem(const struct reply *r, long status, const char *code)
{
    char ct[128];

    assert_int_equal(r->status, status);
    assert_non_null(header(r, "Content-Type", ct, sizeof(ct)));
    assert_string_equal(ct, "application/problem+json");
    assert_non_null(r->json);
    assert_string_equal(jstr(r, "type"), "about:blank");
    assert_non_null(jstr(r, "title"));
    assert_true(strlen(jstr(r, "title")) > 0);
    assert_non_null(jstr(r, "detail"));
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(r->json, "status")->valuedouble, status);
    assert_string_equal(jstr(r, "code"), code);
}

/* ---- fixture ---- */

static struct http_server *start_server_with(struct app *app, const struct http_opts *limits)
{
    struct http_opts opts = {
        .bind = "127.0.0.1",
        .port = 0,
        .threads = 2,
        .max_body = MAX_BODY,
        .jwt_key = fx.key,
        .ready = app_ready,
    };
    char err[256] = "";

    if (limits) {
        opts.threads = limits->threads ? limits->threads : opts.threads;
        opts.max_connections = limits->max_connections;
        opts.max_connections_per_ip = limits->max_connections_per_ip;
        opts.idle_timeout_s = limits->idle_timeout_s;
        opts.header_timeout_ms = limits->header_timeout_ms;
    }
    struct http_server *srv =
        http_server_start(&opts, routes, sizeof(routes) / sizeof(routes[0]), app, err, sizeof(err));

    if (!srv)
        fail_msg("http_server_start: %s", err);
    assert_true(http_port(srv) > 0);
    return srv;
}

static struct http_server *start_server(struct app *app)
{
    return start_server_with(app, NULL);
}

static int group_setup(void **state)
{
    (void)state;
    log_init("test_http", LOG_WARN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fx.key = make_key();
    fx.other = make_key();
    atomic_init(&fx.app.ready, 1);
    fx.srv = start_server(&fx.app);
    snprintf(fx.base, sizeof(fx.base), "http://127.0.0.1:%u", http_port(fx.srv));
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    http_server_stop(fx.srv);
    jwt_key_free(fx.key);
    jwt_key_free(fx.other);
    metrics_reset();
    curl_global_cleanup();
    return 0;
}

/* ---- tests ---- */

static void test_exact_segment_beats_parameter(void **state)
{
    struct reply r;

    (void)state;
    call("GET", "/api/catalog/categories/tree", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(&r, "handler"), "/api/catalog/categories/tree");
    reply_free(&r);

    call("GET", "/api/catalog/categories/42", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(&r, "id"), "42");
    reply_free(&r);

    /* trailing slash tolerated, query string not part of the path */
    call("GET", "/api/catalog/categories/tree/", NULL, NULL, &r);
    assert_string_equal(jstr(&r, "handler"), "/api/catalog/categories/tree");
    reply_free(&r);
    call("GET", "/api/catalog/categories/7?expand=true", NULL, NULL, &r);
    assert_string_equal(jstr(&r, "id"), "7");
    reply_free(&r);
}

static void test_two_parameters(void **state)
{
    struct reply r;

    (void)state;
    call("GET", "/api/catalog/products/p-1/skus/s-9", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(&r, "id"), "p-1");
    assert_string_equal(jstr(&r, "skuId"), "s-9");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(r.json, "nparams")->valuedouble, 2);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r.json, "nope")));
    reply_free(&r);

    /* one segment short or long: no match */
    call("GET", "/api/catalog/products/p-1/skus", NULL, NULL, &r);
    assert_problem(&r, 404, "COMMON-404-001");
    reply_free(&r);
    call("GET", "/api/catalog/products/p-1/skus/s-9/x", NULL, NULL, &r);
    assert_problem(&r, 404, "COMMON-404-001");
    reply_free(&r);
}

static void test_unknown_path_is_404_problem(void **state)
{
    struct reply r;
    char v[128];

    (void)state;
    call("GET", "/api/nope", NULL, NULL, &r);
    assert_problem(&r, 404, "COMMON-404-001");
    assert_string_equal(jstr(&r, "title"), "Not Found");
    assert_non_null(header(&r, "X-Correlation-Id", v, sizeof(v)));
    reply_free(&r);
}

static void test_other_method_is_405_with_allow(void **state)
{
    struct reply r;
    char allow[128];

    (void)state;
    call("POST", "/api/catalog/categories/tree", NULL, "{}", &r);
    assert_problem(&r, 405, "COMMON-405-001");
    assert_non_null(header(&r, "Allow", allow, sizeof(allow)));
    assert_string_equal(allow, "GET");
    reply_free(&r);

    call("DELETE", "/health/live", NULL, NULL, &r);
    assert_problem(&r, 405, "COMMON-405-001");
    assert_non_null(header(&r, "Allow", allow, sizeof(allow)));
    assert_non_null(strstr(allow, "GET"));
    reply_free(&r);
}

static void test_body_too_large_is_413(void **state)
{
    static const char *const expect[] = {"Expect: 100-continue", NULL};
    size_t big = 1024 * 1024;
    char *body = malloc(big);
    struct reply r;

    (void)state;
    assert_non_null(body);
    memset(body, ' ', big);

    /* declared Content-Length over the limit: refused before the body is read (no
     * 100 Continue, so curl never sends it) */
    call_ex("POST", "/api/echo", NULL, body, big, false, expect, &r);
    assert_problem(&r, 413, "COMMON-413-001");
    assert_int_equal(r.uploaded, 0);
    reply_free(&r);

    /* chunked: no declared length, the accumulated upload crosses the limit */
    call_ex("POST", "/api/echo", NULL, NULL, big, true, NULL, &r);
    assert_problem(&r, 413, "COMMON-413-001");
    reply_free(&r);

    /* just under the limit is read and parsed (spaces only: not JSON) */
    call_ex("POST", "/api/echo", NULL, body, MAX_BODY, false, NULL, &r);
    assert_problem(&r, 400, "COMMON-400-001");
    reply_free(&r);
    free(body);
}

static void test_json_bodies(void **state)
{
    struct reply r;
    char loc[128], ct[128];

    (void)state;
    call("POST", "/api/echo", NULL, "{\"name\":\"x\",\"n\":[1,{\"a\":2}]}", &r);
    assert_int_equal(r.status, 201);
    assert_string_equal(jstr(&r, "name"), "x");
    assert_non_null(header(&r, "Location", loc, sizeof(loc)));
    assert_string_equal(loc, "/api/echo/1");
    assert_non_null(header(&r, "Content-Type", ct, sizeof(ct)));
    assert_string_equal(ct, "application/json");
    reply_free(&r);

    call("POST", "/api/echo", NULL, "{\"name\":", &r);
    assert_problem(&r, 400, "COMMON-400-001");
    reply_free(&r);
    call("POST", "/api/echo", NULL, "{} trailing", &r);
    assert_problem(&r, 400, "COMMON-400-001");
    reply_free(&r);
    call("POST", "/api/echo", NULL, "", &r);
    assert_problem(&r, 400, "COMMON-400-001");
    reply_free(&r);
    call("POST", "/api/echo", NULL, "[1,2]", &r);
    assert_problem(&r, 400, "COMMON-400-002");
    reply_free(&r);
}

/* {"a":[[[ … ]]]} with @depth levels in all. */
static char *nested(int depth)
{
    char *s = malloc((size_t)depth * 2 + 16);
    size_t n = 0;

    assert_non_null(s);
    n += (size_t)sprintf(s, "{\"a\":");
    for (int i = 1; i < depth; i++)
        s[n++] = '[';
    for (int i = 1; i < depth; i++)
        s[n++] = ']';
    n += (size_t)sprintf(s + n, "}");
    return s;
}

static void test_json_bodies_must_be_utf8_without_nul(void **state)
{
    static const char *const bad[] = {
        "{\"name\":\"\xff\"}",                      /* not UTF-8 at all */
        "{\"name\":\"\xc0\xaf\"}",                  /* overlong '/' */
        "{\"name\":\"\xed\xa0\x80\"}",              /* a UTF-16 surrogate */
        "{\"name\":\"caf\xc3\"}",                   /* cut short */
        "{\"email\":\"a@x.test\\u0000@evil.com\"}", /* NUL would cut the string */
        "{\"\xfe\":1}",                             /* a key */
    };
    struct reply r;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        call("POST", "/api/echo", NULL, bad[i], &r);
        assert_problem(&r, 400, "COMMON-400-001");
        reply_free(&r);
    }
    /* real UTF-8, and a backslash followed by the text u0000, are fine */
    call("POST", "/api/echo", NULL, "{\"name\":\"caf\xc3\xa9 \xf0\x9f\x91\x95\"}", &r);
    assert_int_equal(r.status, 201);
    assert_string_equal(jstr(&r, "name"), "caf\xc3\xa9 \xf0\x9f\x91\x95");
    reply_free(&r);
    call("POST", "/api/echo", NULL, "{\"name\":\"\\\\u0000\"}", &r);
    assert_int_equal(r.status, 201);
    assert_string_equal(jstr(&r, "name"), "\\u0000");
    reply_free(&r);
}

static void test_escapes_are_decoded_per_segment(void **state)
{
    struct reply r;

    (void)state;
    /* an escaped '?' or '/' stays inside its segment: never a cut or a different route */
    call("GET", "/api/catalog/categories/1%3F", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(&r, "id"), "1?");
    reply_free(&r);
    call("GET", "/api/catalog/categories/1%3Fx=y", NULL, NULL, &r);
    assert_string_equal(jstr(&r, "id"), "1?x=y");
    reply_free(&r);
    call("GET", "/api/catalog/categories/a%2Fb", NULL, NULL, &r);
    assert_string_equal(jstr(&r, "id"), "a/b");
    reply_free(&r);
    call("GET", "/api/catalog/products/p%2Fskus%2Fs", NULL, NULL, &r);
    assert_problem(&r, 404, "COMMON-404-001");
    reply_free(&r);
    call("GET", "/api/catalog%2Fcategories/tree", NULL, NULL, &r);
    assert_problem(&r, 404, "COMMON-404-001");
    reply_free(&r);
    /* other escapes decode as before, literals included */
    call("GET", "/api/catalog/categories/tr%65e", NULL, NULL, &r);
    assert_string_equal(jstr(&r, "handler"), "/api/catalog/categories/tree");
    reply_free(&r);
    call("GET", "/api/catalog/categories/caf%C3%A9", NULL, NULL, &r);
    assert_string_equal(jstr(&r, "id"), "caf\xc3\xa9");
    reply_free(&r);
    /* the query string is still decoded by its own rules */
    call("GET", "/api/query?q=a%2Fb%3F", NULL, NULL, &r);
    assert_string_equal(jstr(&r, "q"), "a/b?");
    reply_free(&r);
    /* malformed escapes and %00 */
    call("GET", "/api/catalog/categories/%zz", NULL, NULL, &r);
    assert_problem(&r, 400, "COMMON-400-004");
    reply_free(&r);
    call("GET", "/api/catalog/categories/1%00", NULL, NULL, &r);
    assert_problem(&r, 400, "COMMON-400-004");
    reply_free(&r);
    call("GET", "/api/catalog/categories/1%4", NULL, NULL, &r);
    assert_problem(&r, 400, "COMMON-400-004");
    reply_free(&r);
}

static void test_peer_address_is_exposed(void **state)
{
    struct reply r;

    (void)state;
    source_address = "127.0.0.3";
    call("GET", "/api/peer", NULL, NULL, &r);
    source_address = NULL;
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(&r, "peer"), "127.0.0.3");
    reply_free(&r);
    /* a forwarding header is not the peer */
    {
        const char *const hdrs[] = {"X-Forwarded-For: 203.0.113.9", NULL};
        call_ex("GET", "/api/peer", NULL, NULL, 0, false, hdrs, &r);
    }
    assert_string_equal(jstr(&r, "peer"), "127.0.0.1");
    reply_free(&r);
}

static void test_json_depth_is_capped_at_32(void **state)
{
    char *ok = nested(32), *deep = nested(33);
    struct reply r;

    (void)state;
    call("POST", "/api/echo", NULL, ok, &r);
    assert_int_equal(r.status, 201);
    reply_free(&r);
    call("POST", "/api/echo", NULL, deep, &r);
    assert_problem(&r, 400, "COMMON-400-001");
    reply_free(&r);
    /* brackets inside strings do not count */
    call("POST", "/api/echo", NULL,
         "{\"s\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[[\"}", &r);
    assert_int_equal(r.status, 201);
    reply_free(&r);
    free(ok);
    free(deep);
}

static void test_handler_without_status_is_500(void **state)
{
    struct reply r;

    (void)state;
    call("GET", "/api/nostatus", NULL, NULL, &r);
    assert_problem(&r, 500, "COMMON-500-001");
    reply_free(&r);
}

static void test_missing_or_bad_token_is_401(void **state)
{
    char *foreign = make_token(fx.other, "u1", JWT_ROLE_USER);
    struct reply r;
    char v[128];

    (void)state;
    call("GET", "/api/me", NULL, NULL, &r);
    assert_problem(&r, 401, "COMMON-401-001");
    assert_non_null(header(&r, "WWW-Authenticate", v, sizeof(v)));
    assert_int_equal(strncmp(v, "Bearer", 6), 0);
    reply_free(&r);

    call("GET", "/api/me", "not.a.token", NULL, &r);
    assert_problem(&r, 401, "COMMON-401-001");
    assert_non_null(header(&r, "WWW-Authenticate", v, sizeof(v)));
    assert_int_equal(strncmp(v, "Bearer", 6), 0);
    reply_free(&r);

    call("GET", "/api/me", foreign, NULL, &r);
    assert_problem(&r, 401, "COMMON-401-001");
    reply_free(&r);
    free(foreign);
}

static void test_roles(void **state)
{
    char *user = make_token(fx.key, "user-1", JWT_ROLE_USER);
    char *admin = make_token(fx.key, "admin-1", JWT_ROLE_ADMIN);
    struct reply r;

    (void)state;
    call("GET", "/api/me", user, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(&r, "sub"), "user-1");
    reply_free(&r);
    call("GET", "/api/me", admin, NULL, &r); /* ADMIN may use USER routes */
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(&r, "sub"), "admin-1");
    reply_free(&r);

    call("DELETE", "/api/admin/things/5", user, NULL, &r);
    assert_problem(&r, 403, "COMMON-403-001");
    reply_free(&r);
    call("DELETE", "/api/admin/things/5", admin, NULL, &r);
    assert_int_equal(r.status, 204);
    reply_free(&r);

    /* public route: a valid token fills the principal, an invalid one is ignored */
    call("GET", "/api/whoami", user, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(&r, "sub"), "user-1");
    reply_free(&r);
    call("GET", "/api/whoami", "garbage", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r.json, "sub")));
    reply_free(&r);
    free(user);
    free(admin);
}

static void test_query_headers_and_correlation(void **state)
{
    static const char *const hdrs[] = {"X-Correlation-Id: saga-123", "X-Test-Header: hello", NULL};
    struct reply r;
    char v[128];

    (void)state;
    call_ex("GET", "/api/query?limit=5&q=shoes", NULL, NULL, 0, false, hdrs, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(r.json, "limit")->valuedouble, 5);
    assert_string_equal(jstr(&r, "q"), "shoes");
    assert_string_equal(jstr(&r, "header"), "hello");
    assert_string_equal(jstr(&r, "correlation"), "saga-123");
    assert_non_null(header(&r, "X-Correlation-Id", v, sizeof(v)));
    assert_string_equal(v, "saga-123");
    reply_free(&r);

    /* defaults; a fresh correlation id when the client sends none */
    call("GET", "/api/query", NULL, NULL, &r);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(r.json, "limit")->valuedouble, 20);
    assert_non_null(header(&r, "X-Correlation-Id", v, sizeof(v)));
    assert_int_equal(strlen(v), 36);
    assert_string_equal(jstr(&r, "correlation"), v);
    reply_free(&r);

    call("GET", "/api/query?limit=500", NULL, NULL, &r);
    assert_problem(&r, 400, "COMMON-400-003");
    cJSON *errors = cJSON_GetObjectItemCaseSensitive(r.json, "errors");
    assert_true(cJSON_IsArray(errors));
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(errors, 0), "field")->valuestring,
        "limit");
    reply_free(&r);
    call("GET", "/api/query?limit=5x", NULL, NULL, &r);
    assert_problem(&r, 400, "COMMON-400-003");
    reply_free(&r);
}

static int cookie(const char *header, const char *name, char *out, size_t outlen)
{
    snprintf(out, outlen, "untouched");
    return http_cookie_parse(header, name, out, outlen);
}

static void test_cookie_parse(void **state)
{
    char v[64], big[HTTP_COOKIE_MAX_LEN + 64];
    size_t n = 0;

    (void)state;
    assert_int_equal(cookie("sid=abc", "sid", v, sizeof(v)), 0);
    assert_string_equal(v, "abc");
    assert_int_equal(cookie("a=1; sid=x-Y_z.~; b=2", "sid", v, sizeof(v)), 0);
    assert_string_equal(v, "x-Y_z.~");
    assert_int_equal(cookie("a=1;sid=2;", "sid", v, sizeof(v)), 0); /* no space, trailing ';' */
    assert_string_equal(v, "2");
    assert_int_equal(cookie("sid=\"quoted\"", "sid", v, sizeof(v)), 0);
    assert_string_equal(v, "quoted");
    assert_int_equal(cookie("sid=", "sid", v, sizeof(v)), 0);
    assert_string_equal(v, "");
    /* absent: other names, other case, a prefix */
    assert_int_equal(cookie("SID=1; sidx=2; xsid=3", "sid", v, sizeof(v)), -ENOENT);
    assert_string_equal(v, "untouched");
    /* malformed, whatever cookie it is in */
    static const char *const bad[] = {
        "",
        "  ",
        "sid",
        "=1",
        "sid=a b",
        "a=1; sid=2,3",
        "sid=\"x",
        "sid=x\"",
        "a=1;;sid=2",
        "a b=1; sid=2",
        "sid=1; x=\\",
        "sid=\x01",
        "sid=\xc3\xa9",
        "a=1 ;sid=2",
        "sid=1\r\nX: y",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (cookie(bad[i], "sid", v, sizeof(v)) != -EINVAL)
            fail_msg("'%s' was not refused as malformed", bad[i]);
    assert_string_equal(v, "untouched");
    /* a name twice is ambiguous */
    assert_int_equal(cookie("sid=1; sid=2", "sid", v, sizeof(v)), -EINVAL);
    /* bounded: the value must fit, the header and the count are capped */
    assert_int_equal(cookie("sid=0123456789", "sid", v, 10), -E2BIG);
    assert_int_equal(cookie("sid=0123456789", "sid", v, 11), 0);
    for (int i = 0; i < HTTP_COOKIE_MAX_COUNT; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "c%d=1; ", i);
    snprintf(big + n, sizeof(big) - n, "sid=1");
    assert_int_equal(cookie(big, "sid", v, sizeof(v)), -E2BIG);
    memset(big, 'a', sizeof(big));
    memcpy(big, "sid=", 4);
    big[HTTP_COOKIE_MAX_LEN + 1] = '\0';
    assert_int_equal(cookie(big, "sid", v, sizeof(v)), -E2BIG);
    big[HTTP_COOKIE_MAX_LEN] = '\0';
    assert_int_equal(cookie(big, "other", v, sizeof(v)), -ENOENT);
}

static void test_resp_header_refuses_injection(void **state)
{
    struct http_resp resp = {0};
    char longv[HTTP_RESP_HEADER_VALUE_MAX + 1];

    (void)state;
    assert_int_equal(http_resp_header(&resp, "Set-Cookie", "a=b; HttpOnly"), 0);
    assert_int_equal(http_resp_header(&resp, "X-Tab", "a\tb"), 0);
    assert_int_equal(http_resp_header(&resp, "Set-Cookie", "a=b\r\nX-Evil: 1"), -EINVAL);
    assert_int_equal(http_resp_header(&resp, "Set-Cookie", "a=b\nX-Evil: 1"), -EINVAL);
    assert_int_equal(http_resp_header(&resp, "Set-Cookie", "a=\x7f"), -EINVAL);
    assert_int_equal(http_resp_header(&resp, "X-Evil\r\nA", "1"), -EINVAL);
    assert_int_equal(http_resp_header(&resp, "X Space", "1"), -EINVAL);
    assert_int_equal(http_resp_header(&resp, "", "1"), -EINVAL);
    assert_int_equal(http_resp_header(&resp, "content-length", "0"), -EINVAL);
    assert_int_equal(http_resp_header(&resp, "Transfer-Encoding", "chunked"), -EINVAL);
    memset(longv, 'a', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    assert_int_equal(http_resp_header(&resp, "X-Long", longv), -E2BIG);
    assert_int_equal(resp.nheaders, 2);
    assert_string_equal(resp.headers[1].value, "a\tb");
    assert_int_equal(http_resp_header(&resp, "X-3", "3"), 0);
    assert_int_equal(http_resp_header(&resp, "X-4", "4"), 0);
    assert_int_equal(http_resp_header(&resp, "X-5", "5"), -ENOSPC);
}

static void test_cookie_and_headers_through_the_server(void **state)
{
    static const char *const one[] = {"Cookie: a=1; sid=s3cr3t", NULL};
    static const char *const none[] = {"Cookie: a=1", NULL};
    static const char *const bad[] = {"Cookie: sid=a b", NULL};
    static const char *const two[] = {"Cookie: sid=1", "Cookie: sid=2", NULL};
    struct reply r;
    char v[128];

    (void)state;
    call_ex("GET", "/api/cookie", NULL, NULL, 0, false, one, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(&r, "value"), "s3cr3t");
    assert_non_null(header(&r, "Set-Cookie", v, sizeof(v)));
    assert_string_equal(v, "sid=new; Path=/; HttpOnly");
    assert_non_null(header(&r, "X-Extra", v, sizeof(v)));
    assert_string_equal(v, "one");
    reply_free(&r);
    call_ex("GET", "/api/cookie", NULL, NULL, 0, false, none, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(r.json, "rc")->valuedouble, -ENOENT);
    reply_free(&r);
    call("GET", "/api/cookie", NULL, NULL, &r); /* no Cookie header */
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(r.json, "rc")->valuedouble, -ENOENT);
    reply_free(&r);
    /* a problem answer keeps the headers */
    call_ex("GET", "/api/cookie", NULL, NULL, 0, false, bad, &r);
    assert_problem(&r, 400, "COMMON-400-001");
    assert_non_null(header(&r, "Set-Cookie", v, sizeof(v)));
    reply_free(&r);
    call_ex("GET", "/api/cookie", NULL, NULL, 0, false, two, &r);
    assert_problem(&r, 400, "COMMON-400-001");
    reply_free(&r);
}

static void test_health(void **state)
{
    struct reply r;

    (void)state;
    call("GET", "/health/live", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(&r, "status"), "UP");
    reply_free(&r);
    call("GET", "/health/ready", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(&r, "status"), "UP");
    reply_free(&r);

    atomic_store(&fx.app.ready, 0);
    call("GET", "/health/ready", NULL, NULL, &r);
    atomic_store(&fx.app.ready, 1);
    assert_int_equal(r.status, 503);
    assert_string_equal(jstr(&r, "status"), "DOWN");
    assert_string_equal(jstr(&r, "reason"), "database unreachable");
    reply_free(&r);
}

static void test_drain_turns_readiness_down(void **state)
{
    struct app app;
    struct http_server *srv;
    struct reply r;
    char saved[64];

    (void)state;
    atomic_init(&app.ready, 1);
    srv = start_server(&app);
    memcpy(saved, fx.base, sizeof(saved));
    snprintf(fx.base, sizeof(fx.base), "http://127.0.0.1:%u", http_port(srv));

    call("GET", "/health/ready", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    http_server_drain(srv);
    call("GET", "/health/ready", NULL, NULL, &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(jstr(&r, "status"), "DOWN");
    assert_non_null(jstr(&r, "reason"));
    reply_free(&r);
    /* still serving */
    call("GET", "/health/live", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    call("GET", "/api/catalog/categories/1", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);

    memcpy(fx.base, saved, sizeof(saved));
    http_server_stop(srv);
    http_server_stop(NULL);
}

static void test_metrics_endpoint(void **state)
{
    struct reply r;
    char ct[128];

    (void)state;
    call("GET", "/api/catalog/categories/metrics-probe", NULL, NULL, &r);
    reply_free(&r);
    call("GET", "/api/no/such/path/for/metrics", NULL, NULL, &r);
    reply_free(&r);

    call("GET", "/metrics", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(header(&r, "Content-Type", ct, sizeof(ct)));
    assert_int_equal(strncmp(ct, "text/plain; version=0.0.4", 25), 0);
    assert_non_null(strstr(r.body.p, "# TYPE commerce_http_requests_total counter\n"));
    assert_non_null(strstr(r.body.p, "commerce_http_requests_total{route=\"/api/catalog/"
                                     "categories/{id}\",method=\"GET\",status=\"200\"} "));
    assert_non_null(strstr(r.body.p, "commerce_http_requests_total{route=\"unmatched\","
                                     "method=\"GET\",status=\"404\"} "));
    assert_non_null(strstr(r.body.p, "# TYPE commerce_http_request_duration_seconds histogram\n"));
    assert_non_null(strstr(r.body.p, "commerce_http_request_duration_seconds_bucket{route=\"/api/"
                                     "catalog/categories/{id}\",method=\"GET\",le=\"+Inf\"} "));
    /* raw paths never become label values */
    assert_null(strstr(r.body.p, "metrics-probe"));
    assert_null(strstr(r.body.p, "/api/no/such"));
    reply_free(&r);
}

/* ---- connection limits and the header deadline (raw sockets) ---- */

/* A TCP connection from @src (a loopback address: Linux accepts all of 127/8) to @port. */
static int raw_connect(const char *src, unsigned short port)
{
    struct sockaddr_in from = {.sin_family = AF_INET}, to = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_int_equal(inet_pton(AF_INET, src, &from.sin_addr), 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
    to.sin_port = htons(port);
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
    return fd;
}

/* True when the server closed @fd (end of stream or a reset), without waiting. */
static bool raw_closed(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);

    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* Polls until at least @want of the @n sockets are closed by the server or @timeout_ms passed;
 * returns how many are closed. */
static int raw_wait_closed(const int *fds, int n, int want, int timeout_ms)
{
    int64_t deadline = util_now_mono_ms() + timeout_ms;
    int closed;

    for (;;) {
        struct pollfd pfds[64];
        int i;

        assert_true(n <= 64);
        closed = 0;
        for (i = 0; i < n; i++)
            closed += raw_closed(fds[i]);
        if (closed >= want || util_now_mono_ms() >= deadline)
            return closed;
        for (i = 0; i < n; i++)
            pfds[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        poll(pfds, (nfds_t)n, 50);
    }
}

/* GET /health/live on @port from 127.0.0.1 with libcurl (a 5 s bound): the status, 0 if none. */
static long live_status(unsigned short port)
{
    char saved[64];
    struct reply r;
    long status;

    memcpy(saved, fx.base, sizeof(saved));
    snprintf(fx.base, sizeof(fx.base), "http://127.0.0.1:%u", port);
    call("GET", "/health/live", NULL, NULL, &r);
    status = r.status;
    reply_free(&r);
    memcpy(fx.base, saved, sizeof(saved));
    return status;
}

static void test_per_ip_limit_leaves_others_served(void **state)
{
    struct http_opts limits = {.threads = 1, .max_connections = 100, .max_connections_per_ip = 4};
    struct app app;
    struct http_server *srv;
    int fds[12], i;

    (void)state;
    atomic_init(&app.ready, 1);
    srv = start_server_with(&app, &limits);
    for (i = 0; i < 12; i++)
        fds[i] = raw_connect("127.0.0.2", http_port(srv));
    /* the 8 over the per-address limit are closed at once; 4 stay */
    assert_int_equal(raw_wait_closed(fds, 12, 8, 5000), 8);
    /* another address is served meanwhile */
    assert_int_equal(live_status(http_port(srv)), 200);
    assert_int_equal(raw_wait_closed(fds, 12, 8, 0), 8);
    for (i = 0; i < 12; i++)
        close(fds[i]);
    http_server_stop(srv);
}

static void test_total_limit_refuses_at_once(void **state)
{
    /* one worker: the count is exact (no two accepts in flight at once) */
    struct http_opts limits = {.threads = 1, .max_connections = 6, .max_connections_per_ip = 64};
    struct app app;
    struct http_server *srv;
    int fds[9], i;
    int64_t t0;

    (void)state;
    atomic_init(&app.ready, 1);
    srv = start_server_with(&app, &limits);
    t0 = util_now_mono_ms();
    for (i = 0; i < 9; i++)
        fds[i] = raw_connect("127.0.0.3", http_port(srv));
    /* 3 over the limit: closed, and quickly (not left in the listen queue) */
    assert_int_equal(raw_wait_closed(fds, 9, 3, 5000), 3);
    assert_true(util_now_mono_ms() - t0 < 3000);
    assert_true(raw_closed(fds[6]) && raw_closed(fds[7]) && raw_closed(fds[8]));
    /* full: a new client is refused too, until a connection goes away */
    {
        int extra = raw_connect("127.0.0.1", http_port(srv));

        assert_int_equal(raw_wait_closed(&extra, 1, 1, 5000), 1);
        close(extra);
    }
    for (i = 0; i < 9; i++)
        close(fds[i]);
    /* the slots come back once the server saw them close */
    {
        int64_t deadline = util_now_mono_ms() + 5000;
        long status = 0;

        while (status != 200 && util_now_mono_ms() < deadline) {
            int fd = raw_connect("127.0.0.1", http_port(srv));
            char buf[64] = "";
            static const char req[] = "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n";
            struct pollfd pfd = {.fd = fd, .events = POLLIN};

            if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof(req) - 1) &&
                poll(&pfd, 1, 1000) == 1 && recv(fd, buf, sizeof(buf) - 1, 0) > 0 &&
                strncmp(buf, "HTTP/1.1 200", 12) == 0)
                status = 200;
            close(fd);
        }
        assert_int_equal(status, 200);
    }
    http_server_stop(srv);
}

static void test_trickled_header_is_cut_at_the_deadline(void **state)
{
    struct http_opts limits = {.max_connections_per_ip = 64, .header_timeout_ms = 600};
    static const char req[] = "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n";
    struct app app;
    struct http_server *srv;
    int64_t t0, cut_after = -1;
    char buf[256];
    int fd;

    (void)state;
    atomic_init(&app.ready, 1);
    srv = start_server_with(&app, &limits);

    /* a complete header in time is answered, and the connection stays for the next request */
    fd = raw_connect("127.0.0.1", http_port(srv));
    assert_int_equal(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL), (ssize_t)(sizeof(req) - 1));
    {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ssize_t n;

        assert_int_equal(poll(&pfd, 1, 5000), 1);
        n = recv(fd, buf, sizeof(buf) - 1, 0);
        assert_true(n > 12);
        assert_int_equal(strncmp(buf, "HTTP/1.1 200", 12), 0);
    }
    close(fd);

    /* one byte every 100 ms: each resets libmicrohttpd's idle timeout, not the deadline */
    fd = raw_connect("127.0.0.1", http_port(srv));
    t0 = util_now_mono_ms();
    for (size_t i = 0; util_now_mono_ms() - t0 < 5000; i = (i + 1) % 20) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};

        if (send(fd, &"GET /health/live HTT"[i], 1, MSG_NOSIGNAL) < 0 || raw_closed(fd)) {
            cut_after = util_now_mono_ms() - t0;
            break;
        }
        /* pacing the trickle (the client's behaviour under test), not synchronisation */
        poll(&pfd, 1, 100);
    }
    close(fd);
    assert_true(cut_after >= 500);
    assert_true(cut_after < 3000);
    http_server_stop(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_segment_beats_parameter),
        cmocka_unit_test(test_two_parameters),
        cmocka_unit_test(test_unknown_path_is_404_problem),
        cmocka_unit_test(test_other_method_is_405_with_allow),
        cmocka_unit_test(test_body_too_large_is_413),
        cmocka_unit_test(test_json_bodies),
        cmocka_unit_test(test_json_depth_is_capped_at_32),
        cmocka_unit_test(test_json_bodies_must_be_utf8_without_nul),
        cmocka_unit_test(test_escapes_are_decoded_per_segment),
        cmocka_unit_test(test_peer_address_is_exposed),
        cmocka_unit_test(test_handler_without_status_is_500),
        cmocka_unit_test(test_missing_or_bad_token_is_401),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_query_headers_and_correlation),
        cmocka_unit_test(test_cookie_parse),
        cmocka_unit_test(test_resp_header_refuses_injection),
        cmocka_unit_test(test_cookie_and_headers_through_the_server),
        cmocka_unit_test(test_health),
        cmocka_unit_test(test_drain_turns_readiness_down),
        cmocka_unit_test(test_metrics_endpoint),
        cmocka_unit_test(test_per_ip_limit_leaves_others_served),
        cmocka_unit_test(test_total_limit_refuses_at_once),
        cmocka_unit_test(test_trickled_header_is_cut_at_the_deadline),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
