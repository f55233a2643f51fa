/*
 * e2e_security_auth.c - issue 12, login throttling, tokens and input defects, through the
 * public HTTP APIs of the six services (tests/support/saga.h starts them):
 *
 *   - 50 parallel wrong passwords for one account from one address run at most
 *     LOGIN_FREE_ATTEMPTS password checks (the others are answered 429 with Retry-After before
 *     any check: commerce_login_password_checks_total moves by exactly the non-429 answers),
 *     and the owner logging in from another address (127.0.0.3) is not locked out;
 *   - invalid UTF-8 in a category name is 400, not 500;
 *   - "\u0000" inside a sign-up email is 400 and stores nothing (the cut address is free);
 *   - skuId 2^63 - 1 (and other ids past 2^53) are refused, never wrapped;
 *   - "%3F" in a path segment does not cut the path into another resource;
 *   - confirming an unknown order and another user's order answer the same;
 *   - tokens with a wrong iss, a wrong aud, an unknown kid or the high-S twin of a valid
 *     signature are 401.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/jwt.h"
#include "common/util.h"
#include "saga.h"
#include "testsup.h"

#define FREE_ATTEMPTS 5
#define DELAY_BASE_S 600 /* long enough that no delay runs out during the test */
#define PARALLEL 50
#define STEP_MS 90000

struct fixture {
    struct saga_stack st;
    struct saga_user owner, other;
    long long cat;
};

static struct fixture *fx;

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct saga_opts opts = {
        .prefix = "e2e_secauth", .payment_deadline_s = 900, .gateway_timeout_ms = 300};

    /* the services inherit the harness environment: auth-service's throttle settings */
    setenv("LOGIN_FREE_ATTEMPTS", "5", 1);
    setenv("LOGIN_DELAY_BASE_S", "600", 1);
    setenv("LOGIN_IP_MAX_PER_MINUTE", "1000", 1);
    if (!f || saga_stack_start_with_user(&f->st, &opts, "secauth", &f->owner, &f->cat) < 0) {
        free(f);
        return -1;
    }
    if (saga_user_new(&f->st, "secauth_other", &f->other) < 0) {
        saga_stack_stop(&f->st);
        free(f);
        return -1;
    }
    fx = f;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(saga_stack_stop(&f->st), 0);
    free(f);
    return 0;
}

/* ---- HTTP with a chosen source address and the Retry-After header ---- */

struct reply {
    long status;
    long retry_after; /* -1 when absent */
    char *body;
    size_t len;
    cJSON *json;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct reply *r = arg;
    size_t n = size * nmemb;
    char *p = realloc(r->body, r->len + n + 1);

    if (!p)
        return 0;
    memcpy(p + r->len, data, n);
    r->body = p;
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    struct reply *r = arg;
    size_t n = size * nmemb;

    if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0)
        r->retry_after = strtol(data + 12, NULL, 10);
    return n;
}

/* @method @svc@path from local address @from (NULL: any); 0 or -EIO. Thread-safe. */
static int request(const struct ts_service *svc, const char *method, const char *path,
                   const char *token, const char *body, const char *from, struct reply *r)
{
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    char url[512], auth[SAGA_TOKEN_MAX + 32];
    CURL *curl = curl_easy_init();
    CURLcode rc;

    memset(r, 0, sizeof(*r));
    r->retry_after = -1;
    if (!curl)
        return -EIO;
    snprintf(url, sizeof(url), "%s%s", svc->url, path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (from)
        curl_easy_setopt(curl, CURLOPT_INTERFACE, from);
    if (body)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    if (token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    rc = curl_easy_perform(curl);
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(curl);
    if (r->body)
        r->json = cJSON_Parse(r->body);
    return rc == CURLE_OK ? 0 : -EIO;
}

static void reply_free(struct reply *r)
{
    free(r->body);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof(*r));
}

static const char *jstr(const struct reply *r, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, name);

    return cJSON_IsString(v) ? v->valuestring : "";
}

/* Calls and asserts the status (printing the body when it differs). */
static void expect(const struct ts_service *svc, const char *method, const char *path,
                   const char *token, const char *body, long status, struct reply *r)
{
    assert_int_equal(request(svc, method, path, token, body, NULL, r), 0);
    if (r->status != status)
        fail_msg("%s %s: want %ld, got %ld: %s", method, path, status, r->status,
                 r->body ? r->body : "");
}

/* The value of a label-less counter on @svc's /metrics (0 when not there yet). */
static double metric(const struct ts_service *svc, const char *name)
{
    struct reply r;
    double v = 0;
    size_t n = strlen(name);

    assert_int_equal(request(svc, "GET", "/metrics", NULL, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    for (const char *p = r.body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : "") {
        if (strncmp(p, name, n) == 0 && p[n] == ' ')
            v = strtod(p + n + 1, NULL);
    }
    reply_free(&r);
    return v;
}

/* ---- login throttling ---- */

struct attempt {
    pthread_barrier_t *go;
    char body[256];
    struct reply r;
    int rc;
};

static void *wrong_password(void *arg)
{
    struct attempt *a = arg;

    pthread_barrier_wait(a->go);
    a->rc = request(&fx->st.auth, "POST", "/api/auth/login", NULL, a->body, "127.0.0.1", &a->r);
    return NULL;
}

static void test_parallel_wrong_passwords_check_at_most_the_free_attempts(void **state)
{
    static struct attempt at[PARALLEL];
    pthread_t th[PARALLEL];
    pthread_barrier_t go;
    char body[256];
    int n401 = 0, n429 = 0;
    double before, after;
    struct reply r;

    (void)state;
    before = metric(&fx->st.auth, "commerce_login_password_checks_total");
    pthread_barrier_init(&go, NULL, PARALLEL);
    for (int i = 0; i < PARALLEL; i++) {
        at[i].go = &go;
        snprintf(at[i].body, sizeof(at[i].body),
                 "{\"email\":\"%s\",\"password\":\"wrong-password-%d\"}", fx->owner.email, i);
        assert_int_equal(pthread_create(&th[i], NULL, wrong_password, &at[i]), 0);
    }
    for (int i = 0; i < PARALLEL; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    for (int i = 0; i < PARALLEL; i++) {
        assert_int_equal(at[i].rc, 0);
        if (at[i].r.status == 401) {
            assert_string_equal(jstr(&at[i].r, "code"), "AUTH-401-001");
            n401++;
        } else if (at[i].r.status == 429) {
            assert_string_equal(jstr(&at[i].r, "code"), "AUTH-429-001");
            assert_true(at[i].r.retry_after >= 1 && at[i].r.retry_after <= DELAY_BASE_S);
            n429++;
        } else {
            fail_msg("attempt %d: %ld %s", i, at[i].r.status, at[i].r.body);
        }
        reply_free(&at[i].r);
    }
    /* the attempts were counted before the checks: only the free ones reached Argon2 */
    after = metric(&fx->st.auth, "commerce_login_password_checks_total");
    assert_int_equal(n401, FREE_ATTEMPTS);
    assert_int_equal(n429, PARALLEL - FREE_ATTEMPTS);
    assert_int_equal((long)(after - before), n401);

    /* the owner at another address is not locked out (one more check, and a success) */
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", fx->owner.email,
             SAGA_PASSWORD);
    assert_int_equal(request(&fx->st.auth, "POST", "/api/auth/login", NULL, body, "127.0.0.3", &r),
                     0);
    if (r.status != 200)
        fail_msg("owner from 127.0.0.3: %ld %s", r.status, r.body);
    assert_true(strlen(jstr(&r, "accessToken")) > 0);
    reply_free(&r);
    assert_int_equal((long)(metric(&fx->st.auth, "commerce_login_password_checks_total") - after),
                     1);
    /* while the attacked pair still waits, even with the right password */
    assert_int_equal(request(&fx->st.auth, "POST", "/api/auth/login", NULL, body, "127.0.0.1", &r),
                     0);
    assert_int_equal(r.status, 429);
    assert_true(r.retry_after >= 1);
    reply_free(&r);
}

/* ---- input defects ---- */

static void test_invalid_utf8_category_name_is_400(void **state)
{
    struct reply r;

    (void)state;
    expect(&fx->st.catalog, "POST", "/api/catalog/categories", fx->st.admin_token,
           "{\"name\":\"Shirts \xff\xfe\"}", 400, &r);
    reply_free(&r);
    expect(&fx->st.catalog, "POST", "/api/catalog/categories", fx->st.admin_token,
           "{\"name\":\"Shirts \xed\xa0\x80\"}", 400, &r);
    reply_free(&r);
}

static void test_nul_in_signup_email_is_refused_not_cut(void **state)
{
    char u[48], body[512];
    struct reply r;

    (void)state;
    ts_unique("nul", u, sizeof(u));
    snprintf(body, sizeof(body),
             "{\"email\":\"%s@x.test\\u0000@evil.com\",\"password\":\"" SAGA_PASSWORD
             "\",\"name\":\"Nul\",\"phone\":\"010-1234-5678\"}",
             u);
    expect(&fx->st.user, "POST", "/api/users", NULL, body, 400, &r);
    reply_free(&r);
    /* nothing was stored under the cut address: it signs up normally */
    snprintf(body, sizeof(body),
             "{\"email\":\"%s@x.test\",\"password\":\"" SAGA_PASSWORD
             "\",\"name\":\"Nul\",\"phone\":\"010-1234-5678\"}",
             u);
    expect(&fx->st.user, "POST", "/api/users", NULL, body, 201, &r);
    reply_free(&r);
}

static void test_sku_ids_past_2_to_53_are_refused(void **state)
{
    static const char *const ids[] = {"9223372036854775807", "9223372036854775806",
                                      "9007199254740993", "18446744073709551615"};
    char body[256];
    struct reply r;

    (void)state;
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        snprintf(body, sizeof(body), "{\"items\":[{\"skuId\":%s,\"quantity\":1}]}", ids[i]);
        expect(&fx->st.order, "POST", "/api/orders", fx->owner.token, body, 400, &r);
        assert_non_null(strstr(r.body, "items[0].skuId"));
        reply_free(&r);
        snprintf(body, sizeof(body), "{\"skuIds\":[%s]}", ids[i]);
        expect(&fx->st.inventory, "POST", "/api/inventories/bulk", NULL, body, 400, &r);
        reply_free(&r);
    }
    /* in a path the id is read exactly: an unknown sku, not a wrapped one */
    expect(&fx->st.inventory, "GET", "/api/inventories/9223372036854775807", NULL, NULL, 404, &r);
    reply_free(&r);
}

static void test_escaped_question_mark_does_not_cut_the_path(void **state)
{
    char path[128];
    struct reply r;

    (void)state;
    snprintf(path, sizeof(path), "/api/catalog/categories/%lld", fx->cat);
    expect(&fx->st.catalog, "GET", path, NULL, NULL, 200, &r);
    reply_free(&r);
    /* "<id>%3F" and "<id>%2F" name the resource "<id>?" / "<id>/": no such category */
    snprintf(path, sizeof(path), "/api/catalog/categories/%lld%%3F", fx->cat);
    assert_int_equal(request(&fx->st.catalog, "GET", path, NULL, NULL, NULL, &r), 0);
    assert_true(r.status == 404 || r.status == 400);
    reply_free(&r);
    snprintf(path, sizeof(path), "/api/catalog/categories/%lld%%3Fx=1", fx->cat);
    assert_int_equal(request(&fx->st.catalog, "GET", path, NULL, NULL, NULL, &r), 0);
    assert_true(r.status == 404 || r.status == 400);
    reply_free(&r);
    snprintf(path, sizeof(path), "/api/catalog/categories/%lld%%2F", fx->cat);
    assert_int_equal(request(&fx->st.catalog, "GET", path, NULL, NULL, NULL, &r), 0);
    assert_true(r.status == 404 || r.status == 400);
    reply_free(&r);
    assert_int_equal(
        request(&fx->st.catalog, "GET", "/api/catalog/products/1%3F", NULL, NULL, NULL, &r), 0);
    assert_true(r.status == 404 || r.status == 400);
    reply_free(&r);
}

/* @r's problem body with every occurrence of @id replaced by "{id}" (caller frees). */
static char *problem_shape(const struct reply *r, const char *id)
{
    cJSON *copy = cJSON_Duplicate(r->json, 1);
    const cJSON *detail = cJSON_GetObjectItem(copy, "detail");
    char buf[512], *text;
    const char *at;

    assert_non_null(copy);
    cJSON_DeleteItemFromObject(copy, "instance");
    if (cJSON_IsString(detail) && (at = strstr(detail->valuestring, id))) {
        snprintf(buf, sizeof(buf), "%.*s{id}%s", (int)(at - detail->valuestring),
                 detail->valuestring, at + strlen(id));
        cJSON_ReplaceItemInObject(copy, "detail", cJSON_CreateString(buf));
    }
    text = cJSON_PrintUnformatted(copy);
    cJSON_Delete(copy);
    return text;
}

static void test_confirm_unknown_and_foreign_order_answer_alike(void **state)
{
    struct saga_line line = {0};
    char id[64], unknown[UTIL_UUID_LEN], body[256], *a, *b;
    struct reply foreign, none;

    (void)state;
    assert_int_equal(saga_product_new(&fx->st, fx->cat, "oracle", 1200, 5, &line.sku), 0);
    assert_int_equal(saga_stock_wait(&fx->st, line.sku, STEP_MS), 0);
    line.quantity = 1;
    assert_int_equal(
        saga_order_place(&fx->st, &fx->owner, &line, 1, 0, NULL, STEP_MS, id, sizeof(id)), 201);
    /* the owner's payment exists (PAYMENT_PENDING), so "foreign" is a real one */
    assert_int_equal(
        saga_order_wait(&fx->st, fx->owner.token, id, "PAYMENT_PENDING", STEP_MS, NULL, 0, NULL),
        0);
    snprintf(body, sizeof(body), "{\"orderId\":\"%s\",\"amount\":1200,\"paymentKey\":\"k1\"}", id);
    expect(&fx->st.payment, "POST", "/api/payments/confirm", fx->other.token, body, 404, &foreign);
    util_uuid(unknown);
    snprintf(body, sizeof(body), "{\"orderId\":\"%s\",\"amount\":1200,\"paymentKey\":\"k1\"}",
             unknown);
    expect(&fx->st.payment, "POST", "/api/payments/confirm", fx->other.token, body, 404, &none);
    a = problem_shape(&foreign, id);
    b = problem_shape(&none, unknown);
    assert_string_equal(a, b);
    cJSON_free(a);
    cJSON_free(b);
    reply_free(&foreign);
    reply_free(&none);
}

/* ---- tokens ---- */

static struct jwt_key *signing_key(void)
{
    char err[256];
    struct jwt_key *key = jwt_key_from_file(ts_env("JWT_PRIVATE_KEY_FILE"), err, sizeof(err));

    if (!key)
        fail_msg("JWT_PRIVATE_KEY_FILE: %s", err);
    return key;
}

static char *sign_for(const struct jwt_key *key, const char *sub)
{
    struct jwt_principal p = {.roles = JWT_ROLE_USER};
    char *tok = NULL;

    snprintf(p.sub, sizeof(p.sub), "%s", sub);
    assert_int_equal(jwt_sign(key, &p, (int64_t)time(NULL), 600, &tok), 0);
    return tok;
}

/* @tok with its signature's s replaced by n - s: the same signature in the high-S form. */
static char *high_s_twin(const char *tok)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *dot = strrchr(tok, '.');
    unsigned char raw[66] = {0};
    unsigned acc = 0;
    int bits = 0;
    size_t n = 0, o = 0;
    BIGNUM *order = NULL, *s;
    char *out = malloc(strlen(tok) + 8);

    for (const char *c = dot + 1; *c; c++) {
        acc = (acc << 6 | (unsigned)(strchr(tab, *c) - tab)) & 0xffff;
        if ((bits += 6) >= 8)
            raw[n++] = (unsigned char)(acc >> (bits -= 8));
    }
    assert_int_equal(n, 64);
    BN_hex2bn(&order, "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");
    s = BN_bin2bn(raw + 32, 32, NULL);
    BN_sub(s, order, s);
    BN_bn2binpad(s, raw + 32, 32);
    BN_free(s);
    BN_free(order);
    o = (size_t)(dot - tok) + 1;
    memcpy(out, tok, o);
    for (size_t i = 0; i < 64; i += 3) { /* 64 bytes: 21 groups of 3 and one byte left */
        unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 | raw[i + 2];
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        if (i + 1 < 64)
            out[o++] = tab[v >> 6 & 63];
        if (i + 2 < 64)
            out[o++] = tab[v & 63];
    }
    out[o] = '\0';
    return out;
}

/* A fresh P-256 private key nobody trusts. */
static struct jwt_key *stranger_key(void)
{
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL, err[256];
    long len;
    struct jwt_key *key;

    PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL);
    len = BIO_get_mem_data(bio, &pem);
    key = jwt_key_from_pem(pem, (size_t)len, err, sizeof(err));
    assert_non_null(key);
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    return key;
}

static void test_tokens_with_wrong_iss_aud_kid_or_high_s_are_401(void **state)
{
    struct jwt_key *key = signing_key(), *stranger = stranger_key();
    struct {
        const char *what, *why;
        char *tok;
    } bad[4];
    char *good, *twin;
    struct reply r;

    (void)state;
    good = sign_for(key, fx->owner.id);
    expect(&fx->st.order, "GET", "/api/orders", good, NULL, 200, &r);
    reply_free(&r);
    twin = high_s_twin(good);
    assert_string_not_equal(twin, good);

    bad[0].what = "high-S twin";
    bad[0].why = "bad token signature";
    bad[0].tok = twin;
    bad[1].what = "unknown kid";
    bad[1].why = "unknown token key id";
    bad[1].tok = sign_for(stranger, fx->owner.id);
    assert_int_equal(jwt_key_set_issuer(key, "someone-else", JWT_DEFAULT_AUDIENCE), 0);
    bad[2].what = "wrong iss";
    bad[2].why = "token issuer not accepted";
    bad[2].tok = sign_for(key, fx->owner.id);
    assert_int_equal(jwt_key_set_issuer(key, JWT_DEFAULT_ISSUER, "another-system"), 0);
    bad[3].what = "wrong aud";
    bad[3].why = "token audience not accepted";
    bad[3].tok = sign_for(key, fx->owner.id);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(request(&fx->st.order, "GET", "/api/orders", bad[i].tok, NULL, NULL, &r),
                         0);
        if (r.status != 401 || !strstr(jstr(&r, "detail"), bad[i].why))
            fail_msg("%s: want 401 '%s', got %ld %s", bad[i].what, bad[i].why, r.status, r.body);
        assert_string_equal(jstr(&r, "code"), "COMMON-401-001");
        reply_free(&r);
        free(bad[i].tok);
    }
    free(good);
    jwt_key_free(stranger);
    jwt_key_free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parallel_wrong_passwords_check_at_most_the_free_attempts),
        cmocka_unit_test(test_invalid_utf8_category_name_is_400),
        cmocka_unit_test(test_nul_in_signup_email_is_refused_not_cut),
        cmocka_unit_test(test_sku_ids_past_2_to_53_are_refused),
        cmocka_unit_test(test_escaped_question_mark_does_not_cut_the_path),
        cmocka_unit_test(test_confirm_unknown_and_foreign_order_answer_alike),
        cmocka_unit_test(test_tokens_with_wrong_iss_aud_kid_or_high_s_are_401),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_ALL);
    rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
