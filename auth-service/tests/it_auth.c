/*
 * it_auth.c - auth-service end to end on real MariaDB: the binary is started with a fresh
 * database, a service credential, a low failure limit and a bootstrap admin, and driven only
 * through HTTP. Stored rows are read back with db.h to check what is (not) kept.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <mysql.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "common/db.h"
#include "common/jwt.h"
#include "testsup.h"

#define SERVICE_TOKEN "it-auth-service-token-0123456789"
#define ADMIN_EMAIL "Root.Admin@Example.com"
#define ADMIN_PASSWORD "admin-password-1"
#define PASSWORD "correct-horse-1"

struct fixture {
    struct ts_service svc;
    char db[64];
    struct db_pool *pool;
    struct jwt_key *pub;
};

static struct fixture *fx;

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char db_env[96], tok_env[96], err[256];
    const char *env[] = {db_env,
                         tok_env,
                         "LOGIN_FREE_ATTEMPTS=3",
                         "LOGIN_DELAY_BASE_S=600",
                         "LOGIN_IP_MAX_PER_MINUTE=1000",
                         "ADMIN_EMAIL=" ADMIN_EMAIL,
                         "ADMIN_PASSWORD=" ADMIN_PASSWORD,
                         "MIGRATIONS_DIR=auth-service/migrations",
                         "LOG_LEVEL=info",
                         NULL};

    if (!f || ts_create_database("it_auth", f->db, sizeof(f->db)) < 0)
        return -1;
    snprintf(db_env, sizeof(db_env), "DB_NAME=%s", f->db);
    snprintf(tok_env, sizeof(tok_env), "AUTH_SERVICE_TOKEN=%s", SERVICE_TOKEN);
    if (ts_service_start("auth-service", env, 60000, &f->svc) < 0)
        return -1;
    if (mysql_library_init(0, NULL, NULL))
        return -1;
    {
        struct db_opts opts = {.host = ts_env("DB_HOST"),
                               .port = (unsigned)atoi(ts_env("DB_PORT")),
                               .user = ts_env("DB_USER"),
                               .password = ts_env("DB_PASSWORD"),
                               .database = f->db,
                               .pool_size = 1,
                               .connect_timeout_s = 5,
                               .acquire_timeout_ms = 5000};
        f->pool = db_pool_new(&opts, err, sizeof(err));
    }
    f->pub = jwt_key_from_file(ts_env("JWT_PUBLIC_KEY_FILE"), err, sizeof(err));
    if (!f->pool || !f->pub)
        return -1;
    fx = f;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    /* a clean stop must exit 0 (and, under ASan, without leaks) */
    assert_int_equal(ts_service_stop(&f->svc, SIGTERM), 0);
    db_pool_free(f->pool);
    jwt_key_free(f->pub);
    mysql_library_end();
    free(f);
    return 0;
}

/* ---- helpers ---- */

static long call(const char *method, const char *path, const char *body, const char *const *hdrs,
                 struct ts_resp *r)
{
    char u[256];

    snprintf(u, sizeof(u), "%s%s", fx->svc.url, path);
    assert_int_equal(ts_http(method, u, NULL, body, hdrs, r), 0);
    return r->status;
}

static const char *jstr(const struct ts_resp *r, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(r->json, key);

    if (!cJSON_IsString(v))
        fail_msg("response has no string '%s': %s", key, r->body);
    return v->valuestring;
}

static void assert_problem(const struct ts_resp *r, long status, const char *code)
{
    if (r->status != status)
        fail_msg("want %ld %s, got %ld: %s", status, code, r->status, r->body);
    assert_non_null(strstr(r->content_type, "application/problem+json"));
    assert_string_equal(jstr(r, "code"), code);
}

static const char *const service_hdrs[] = {"X-Service-Token: " SERVICE_TOKEN, NULL};

/* Creates a credential through the internal API; asserts 201. */
static void create_user(const char *user_id, const char *email, const char *password)
{
    struct ts_resp r;
    char body[512];

    snprintf(body, sizeof(body), "{\"userId\":\"%s\",\"email\":\"%s\",\"password\":\"%s\"}",
             user_id, email, password);
    if (call("POST", "/api/auth", body, service_hdrs, &r) != 201)
        fail_msg("create %s: %ld %s", user_id, r.status, r.body);
    ts_resp_free(&r);
}

static long login(const char *email, const char *password, struct ts_resp *r)
{
    char body[512];
    const char *const hdrs[] = {"User-Agent: it-auth/1.0", NULL};

    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
    return call("POST", "/api/auth/login", body, hdrs, r);
}

/* Logs in (asserting 200) and returns copies of the tokens. */
static void login_ok(const char *email, const char *password, char **access, char **refresh)
{
    struct ts_resp r;

    if (login(email, password, &r) != 200)
        fail_msg("login %s: %ld %s", email, r.status, r.body);
    if (access)
        *access = strdup(jstr(&r, "accessToken"));
    if (refresh)
        *refresh = strdup(jstr(&r, "refreshToken"));
    ts_resp_free(&r);
}

static long refresh(const char *token, struct ts_resp *r)
{
    char body[256];

    snprintf(body, sizeof(body), "{\"refreshToken\":\"%s\"}", token);
    return call("POST", "/api/auth/refresh", body, NULL, r);
}

static void uniq(const char *prefix, char *user_id, size_t idlen, char *email, size_t emlen)
{
    char u[64];

    ts_unique(prefix, u, sizeof(u));
    snprintf(user_id, idlen, "%s", u);
    snprintf(email, emlen, "%s@example.com", u);
}

/* ---- tests ---- */

static void test_internal_create_needs_service_token(void **state)
{
    const char *const wrong[] = {"X-Service-Token: " SERVICE_TOKEN "x", NULL};
    const char *const empty[] = {"X-Service-Token: ", NULL};
    char id[64], email[96], body[512], *access = NULL;
    struct jwt_principal p;
    struct ts_resp r;
    char err[128];

    (void)state;
    uniq("it-create", id, sizeof(id), email, sizeof(email));
    snprintf(body, sizeof(body),
             "{\"userId\":\"%s\",\"email\":\"%s\",\"password\":\"%s\",\"role\":\"ADMIN\"}", id,
             email, PASSWORD);
    call("POST", "/api/auth", body, NULL, &r);
    assert_problem(&r, 401, "AUTH-401-003");
    ts_resp_free(&r);
    call("POST", "/api/auth", body, wrong, &r);
    assert_problem(&r, 401, "AUTH-401-003");
    ts_resp_free(&r);
    call("POST", "/api/auth", body, empty, &r);
    assert_problem(&r, 401, "AUTH-401-003");
    ts_resp_free(&r);
    /* a user bearer token is no service credential */
    {
        char u[256], *user = ts_token("someone", "ADMIN");
        snprintf(u, sizeof(u), "%s/api/auth", fx->svc.url);
        assert_int_equal(ts_http("POST", u, user, body, NULL, &r), 0);
        assert_problem(&r, 401, "AUTH-401-003");
        ts_resp_free(&r);
        free(user);
    }

    assert_int_equal(call("POST", "/api/auth", body, service_hdrs, &r), 201);
    assert_string_equal(jstr(&r, "userId"), id);
    assert_string_equal(jstr(&r, "email"), email);
    ts_resp_free(&r);

    /* the body's "role" was ignored */
    login_ok(email, PASSWORD, &access, NULL);
    assert_int_equal(jwt_verify(fx->pub, access, (int64_t)time(NULL), &p, err, sizeof(err)), 0);
    assert_int_equal(p.roles, JWT_ROLE_USER);
    free(access);

    /* same email (in another case) or same user id: 409 */
    {
        char upper[96];
        snprintf(upper, sizeof(upper), "%s", email);
        upper[0] = (char)(upper[0] - 'a' + 'A');
        snprintf(body, sizeof(body), "{\"userId\":\"%s-2\",\"email\":\"%s\",\"password\":\"%s\"}",
                 id, upper, PASSWORD);
    }
    call("POST", "/api/auth", body, service_hdrs, &r);
    assert_problem(&r, 409, "AUTH-409-001");
    ts_resp_free(&r);
    snprintf(body, sizeof(body), "{\"userId\":\"%s\",\"email\":\"other-%s\",\"password\":\"%s\"}",
             id, email, PASSWORD);
    call("POST", "/api/auth", body, service_hdrs, &r);
    assert_problem(&r, 409, "AUTH-409-001");
    ts_resp_free(&r);

    /* validation: every bad field listed */
    call("POST", "/api/auth",
         "{\"userId\":\"a/b\",\"email\":\"nope\",\"password\":\"short\",\"provider\":\"x\"}",
         service_hdrs, &r);
    assert_problem(&r, 400, "AUTH-400-001");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "errors")), 4);
    ts_resp_free(&r);
    call("POST", "/api/auth", "{\"email\":\"a@b.co\"}", service_hdrs, &r);
    assert_problem(&r, 400, "AUTH-400-001");
    ts_resp_free(&r);
}

static void test_login_access_token_claims(void **state)
{
    char id[64], email[96], err[128];
    struct jwt_principal p;
    struct ts_resp r;
    int64_t now = (int64_t)time(NULL);
    struct db_conn *conn;
    struct db_result *res;

    (void)state;
    uniq("it-login", id, sizeof(id), email, sizeof(email));
    create_user(id, email, PASSWORD);
    assert_int_equal(login(email, PASSWORD, &r), 200);
    assert_string_equal(jstr(&r, "tokenType"), "Bearer");
    assert_int_equal((long)cJSON_GetObjectItem(r.json, "expiresIn")->valuedouble, 900);
    assert_int_equal(strlen(jstr(&r, "refreshToken")), 43);
    assert_int_equal(
        jwt_verify(fx->pub, jstr(&r, "accessToken"), (int64_t)time(NULL), &p, err, sizeof(err)), 0);
    assert_string_equal(p.sub, id);
    assert_string_equal(p.email, email);
    assert_int_equal(p.roles, JWT_ROLE_USER);
    assert_true(strlen(p.jti) > 0);
    assert_true(p.exp >= now + 890 && p.exp <= now + 910);
    ts_resp_free(&r);

    /* the login is in the history, with the user agent */
    conn = db_acquire(fx->pool, err, sizeof(err));
    assert_non_null(conn);
    {
        struct db_param prm[] = {DB_STR(id)};
        assert_int_equal(db_query(conn,
                                  "SELECT user_agent, ip FROM login_history WHERE user_id = ?", prm,
                                  1, &res),
                         0);
    }
    assert_int_equal(db_result_rows(res), 1);
    assert_string_equal(db_result_get(res, 0, 0), "it-auth/1.0");
    /* the peer address is recorded (tests talk over loopback) */
    assert_non_null(db_result_get(res, 0, 1));
    assert_string_equal(db_result_get(res, 0, 1), "127.0.0.1");
    db_result_free(res);
    db_release(fx->pool, conn);
}

static void test_refresh_rotates_and_reuse_revokes_family(void **state)
{
    char id[64], email[96], err[128], *r1 = NULL, *r2 = NULL, *other = NULL;
    struct jwt_principal p;
    struct ts_resp r;

    (void)state;
    uniq("it-refresh", id, sizeof(id), email, sizeof(email));
    create_user(id, email, PASSWORD);
    login_ok(email, PASSWORD, NULL, &r1);
    login_ok(email, PASSWORD, NULL, &other); /* a second session: its own family */

    assert_int_equal(refresh(r1, &r), 200);
    r2 = strdup(jstr(&r, "refreshToken"));
    assert_string_not_equal(r1, r2);
    assert_int_equal(
        jwt_verify(fx->pub, jstr(&r, "accessToken"), (int64_t)time(NULL), &p, err, sizeof(err)), 0);
    assert_string_equal(p.sub, id);
    ts_resp_free(&r);

    /* the old token is refused, and presenting it revoked its whole family */
    refresh(r1, &r);
    assert_problem(&r, 401, "AUTH-401-002");
    ts_resp_free(&r);
    refresh(r2, &r);
    assert_problem(&r, 401, "AUTH-401-002");
    ts_resp_free(&r);

    /* the other session is untouched */
    assert_int_equal(refresh(other, &r), 200);
    ts_resp_free(&r);

    /* unknown and malformed */
    refresh("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &r);
    assert_problem(&r, 401, "AUTH-401-002");
    ts_resp_free(&r);
    call("POST", "/api/auth/refresh", "{}", NULL, &r);
    assert_problem(&r, 400, "AUTH-400-001");
    ts_resp_free(&r);
    free(r1);
    free(r2);
    free(other);
}

struct race {
    const char *token;
    long status;
};

static void *race_refresh(void *arg)
{
    struct race *rc = arg;
    struct ts_resp r;

    rc->status = refresh(rc->token, &r);
    ts_resp_free(&r);
    return NULL;
}

static void test_concurrent_refresh_only_one_wins(void **state)
{
    char id[64], email[96], *tok = NULL;
    struct race races[4];
    pthread_t th[4];
    int ok = 0;

    (void)state;
    uniq("it-race", id, sizeof(id), email, sizeof(email));
    create_user(id, email, PASSWORD);
    login_ok(email, PASSWORD, NULL, &tok);
    for (int i = 0; i < 4; i++) {
        races[i] = (struct race){tok, 0};
        assert_int_equal(pthread_create(&th[i], NULL, race_refresh, &races[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        if (races[i].status == 200)
            ok++;
        else
            assert_int_equal(races[i].status, 401);
    }
    assert_int_equal(ok, 1);
    free(tok);
}

static void test_logout_revokes(void **state)
{
    char id[64], email[96], body[256], *tok = NULL;
    struct ts_resp r;

    (void)state;
    uniq("it-logout", id, sizeof(id), email, sizeof(email));
    create_user(id, email, PASSWORD);
    login_ok(email, PASSWORD, NULL, &tok);
    snprintf(body, sizeof(body), "{\"refreshToken\":\"%s\"}", tok);
    assert_int_equal(call("POST", "/api/auth/logout", body, NULL, &r), 204);
    ts_resp_free(&r);
    refresh(tok, &r);
    assert_problem(&r, 401, "AUTH-401-002");
    ts_resp_free(&r);
    /* again, and an unknown token: still 204 (no oracle) */
    assert_int_equal(call("POST", "/api/auth/logout", body, NULL, &r), 204);
    ts_resp_free(&r);
    assert_int_equal(call("POST", "/api/auth/logout", "{\"refreshToken\":\"nope\"}", NULL, &r),
                     204);
    ts_resp_free(&r);
    free(tok);
}

#define COOKIE_ATTRS "; Path=/api/auth; Max-Age=%s; HttpOnly; Secure; SameSite=Strict"

/* POST @path with @body (may be NULL) and, when non-NULL, the Cookie header @cookie; @xrw adds
 * X-Requested-With. */
static long cookie_call(const char *path, const char *body, const char *cookie, bool xrw,
                        struct ts_resp *r)
{
    char c[8192];
    const char *hdrs[3] = {NULL};
    size_t n = 0;

    if (cookie) {
        snprintf(c, sizeof(c), "Cookie: %s", cookie);
        hdrs[n++] = c;
    }
    if (xrw)
        hdrs[n++] = "X-Requested-With: XMLHttpRequest";
    return call("POST", path, body, hdrs, r);
}

/* Asserts that @r set the refresh cookie to @token with @max_age. */
static void assert_refresh_cookie(const struct ts_resp *r, const char *token, const char *max_age)
{
    char want[256];

    snprintf(want, sizeof(want), "refresh_token=%s" COOKIE_ATTRS, token, max_age);
    assert_string_equal(r->set_cookie, want);
}

/* Browser clients: login and refresh set the refresh token as an HttpOnly cookie too; refresh
 * and logout take it from the cookie when the body has none, only with X-Requested-With. */
static void test_refresh_cookie(void **state)
{
    char id[64], email[96], cookie[128], *t1 = NULL, *t2 = NULL, *t3 = NULL;
    struct ts_resp r;

    (void)state;
    uniq("it-cookie", id, sizeof(id), email, sizeof(email));
    create_user(id, email, PASSWORD);
    assert_int_equal(login(email, PASSWORD, &r), 200);
    t1 = strdup(jstr(&r, "refreshToken")); /* the body keeps it for other clients */
    assert_refresh_cookie(&r, t1, "1209600");
    ts_resp_free(&r);

    /* the cookie alone is not enough without the custom header (CSRF), and uses nothing up */
    snprintf(cookie, sizeof(cookie), "theme=dark; refresh_token=%s", t1);
    cookie_call("/api/auth/refresh", NULL, cookie, false, &r);
    assert_problem(&r, 403, "AUTH-403-002");
    assert_string_equal(r.set_cookie, "");
    ts_resp_free(&r);
    cookie_call("/api/auth/logout", NULL, cookie, false, &r);
    assert_problem(&r, 403, "AUTH-403-002");
    ts_resp_free(&r);

    /* refresh with only the cookie (no body): a new pair, the cookie follows the body */
    assert_int_equal(cookie_call("/api/auth/refresh", NULL, cookie, true, &r), 200);
    t2 = strdup(jstr(&r, "refreshToken"));
    assert_string_not_equal(t1, t2);
    assert_refresh_cookie(&r, t2, "1209600");
    ts_resp_free(&r);

    /* a body without refreshToken falls back to the cookie too */
    snprintf(cookie, sizeof(cookie), "refresh_token=%s", t2);
    assert_int_equal(cookie_call("/api/auth/refresh", "{}", cookie, true, &r), 200);
    t3 = strdup(jstr(&r, "refreshToken"));
    assert_refresh_cookie(&r, t3, "1209600");
    ts_resp_free(&r);

    /* rotated through the cookie like through the body: t2 reused is refused */
    assert_int_equal(refresh(t2, &r), 401); /* t2 was used up: its family is revoked */
    ts_resp_free(&r);
    free(t1);
    free(t2);
    free(t3);

    /* a fresh session: log out with the cookie, which is cleared */
    login_ok(email, PASSWORD, NULL, &t1);
    snprintf(cookie, sizeof(cookie), "refresh_token=%s", t1);
    assert_int_equal(cookie_call("/api/auth/logout", NULL, cookie, true, &r), 204);
    assert_refresh_cookie(&r, "", "0");
    ts_resp_free(&r);
    refresh(t1, &r);
    assert_problem(&r, 401, "AUTH-401-002");
    ts_resp_free(&r);
    /* a dead cookie: 401, and the browser is told to forget it */
    cookie_call("/api/auth/refresh", NULL, cookie, true, &r);
    assert_problem(&r, 401, "AUTH-401-002");
    assert_refresh_cookie(&r, "", "0");
    ts_resp_free(&r);
    free(t1);

    /* a valid body token with a junk cookie: the body path, unchanged */
    login_ok(email, PASSWORD, NULL, &t1);
    {
        char body[256];
        const char *const hdrs[] = {"Cookie: refresh_token=junk", NULL};

        snprintf(body, sizeof(body), "{\"refreshToken\":\"%s\"}", t1);
        assert_int_equal(call("POST", "/api/auth/refresh", body, hdrs, &r), 200);
        assert_string_not_equal(jstr(&r, "refreshToken"), t1);
        ts_resp_free(&r);
    }
    free(t1);

    /* neither body token nor cookie */
    cookie_call("/api/auth/refresh", NULL, NULL, true, &r);
    assert_problem(&r, 400, "AUTH-400-001");
    ts_resp_free(&r);
    cookie_call("/api/auth/logout", "{}", "theme=dark", true, &r);
    assert_problem(&r, 400, "AUTH-400-001");
    ts_resp_free(&r);
}

/* Hostile Cookie headers get a 400 or a 401, never a 5xx. */
static void test_malformed_refresh_cookies(void **state)
{
    static const char *const bad[] = {
        "refresh_token=a b",
        "refresh_token=\"unterminated",
        "refresh_token=1; refresh_token=2",
        "=novalue; refresh_token=x",
        "refresh_token",
        "refresh_token=x;; a=b",
        "refresh_token=x, a=b",
    };
    char big[6000], *p;
    struct ts_resp r;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cookie_call("/api/auth/refresh", NULL, bad[i], true, &r);
        if (r.status != 400)
            fail_msg("cookie '%s': want 400, got %ld %s", bad[i], r.status, r.body);
        assert_problem(&r, 400, "AUTH-400-001");
        ts_resp_free(&r);
    }
    /* a value longer than any token; too many cookies; a header too long */
    memset(big, 'A', sizeof(big));
    memcpy(big, "refresh_token=", 14);
    big[14 + 300] = '\0';
    cookie_call("/api/auth/logout", NULL, big, true, &r);
    assert_problem(&r, 400, "AUTH-400-001");
    ts_resp_free(&r);
    /* the Cookie header is checked even when the body has the token (never silently ignored) */
    cookie_call("/api/auth/logout", "{\"refreshToken\":\"nope\"}", big, true, &r);
    assert_problem(&r, 400, "AUTH-400-001");
    ts_resp_free(&r);
    cookie_call("/api/auth/logout", "{\"refreshToken\":\"nope\"}", bad[0], false, &r);
    assert_problem(&r, 400, "AUTH-400-001");
    ts_resp_free(&r);
    p = big;
    for (int i = 0; i < 40; i++)
        p += sprintf(p, "c%d=1; ", i);
    sprintf(p, "refresh_token=x");
    cookie_call("/api/auth/refresh", NULL, big, true, &r);
    assert_problem(&r, 400, "AUTH-400-001");
    ts_resp_free(&r);
    memset(big, 'A', sizeof(big));
    memcpy(big, "pad=", 4);
    memcpy(big + 5000, "; refresh_token=x", 18);
    cookie_call("/api/auth/refresh", NULL, big, true, &r);
    assert_problem(&r, 400, "AUTH-400-001");
    ts_resp_free(&r);
    /* two Cookie headers */
    {
        const char *const hdrs[] = {"Cookie: refresh_token=a", "Cookie: refresh_token=b",
                                    "X-Requested-With: XMLHttpRequest", NULL};
        call("POST", "/api/auth/refresh", NULL, hdrs, &r);
        assert_problem(&r, 400, "AUTH-400-001");
        ts_resp_free(&r);
    }
    /* well-formed but unknown, empty or quoted junk: 401 */
    cookie_call("/api/auth/refresh", NULL, "refresh_token=nope", true, &r);
    assert_problem(&r, 401, "AUTH-401-002");
    ts_resp_free(&r);
    cookie_call("/api/auth/refresh", NULL, "refresh_token=", true, &r);
    assert_problem(&r, 401, "AUTH-401-002");
    ts_resp_free(&r);
    cookie_call("/api/auth/refresh", NULL, "refresh_token=\"%00'--\"", true, &r);
    assert_problem(&r, 401, "AUTH-401-002");
    ts_resp_free(&r);
}

static void test_wrong_password_and_unknown_email_look_alike(void **state)
{
    char id[64], email[96], unknown[128], detail[256];
    struct ts_resp a, b, c;

    (void)state;
    uniq("it-same", id, sizeof(id), email, sizeof(email));
    create_user(id, email, PASSWORD);
    snprintf(unknown, sizeof(unknown), "nobody-%s", email);
    login(email, "wrong-password", &a);
    login(unknown, PASSWORD, &b);
    login("not an email", PASSWORD, &c);
    assert_problem(&a, 401, "AUTH-401-001");
    assert_problem(&b, 401, "AUTH-401-001");
    assert_problem(&c, 401, "AUTH-401-001");
    snprintf(detail, sizeof(detail), "%s", jstr(&a, "detail"));
    assert_string_equal(detail, "invalid email or password");
    assert_string_equal(jstr(&b, "detail"), detail);
    assert_string_equal(jstr(&c, "detail"), detail);
    ts_resp_free(&a);
    ts_resp_free(&b);
    ts_resp_free(&c);
}

static void test_failed_logins_are_throttled(void **state)
{
    char id[64], email[96], id2[64], email2[96];
    struct ts_resp r;

    (void)state;
    uniq("it-throttle", id, sizeof(id), email, sizeof(email));
    uniq("it-throttle2", id2, sizeof(id2), email2, sizeof(email2));
    create_user(id, email, PASSWORD);
    create_user(id2, email2, PASSWORD);
    for (int i = 0; i < 3; i++) {
        login(email, "wrong-password", &r);
        assert_problem(&r, 401, "AUTH-401-001");
        ts_resp_free(&r);
    }
    /* locked: even the right password is refused */
    login(email, PASSWORD, &r);
    assert_problem(&r, 429, "AUTH-429-001");
    ts_resp_free(&r);
    /* unknown emails are throttled the same way */
    for (int i = 0; i < 3; i++) {
        login("ghost@example.com", "wrong-password", &r);
        ts_resp_free(&r);
    }
    login("ghost@example.com", "wrong-password", &r);
    assert_problem(&r, 429, "AUTH-429-001");
    ts_resp_free(&r);
    /* other emails are not affected; a success clears earlier failures */
    login(email2, "wrong-password", &r);
    ts_resp_free(&r);
    login(email2, "wrong-password", &r);
    ts_resp_free(&r);
    login_ok(email2, PASSWORD, NULL, NULL);
    login(email2, "wrong-password", &r);
    assert_problem(&r, 401, "AUTH-401-001");
    ts_resp_free(&r);
    login_ok(email2, PASSWORD, NULL, NULL);
}

static void test_password_stored_as_argon2id(void **state)
{
    char id[64], email[96], err[128];
    struct db_conn *conn;
    struct db_result *res;
    const char *hash;

    (void)state;
    uniq("it-hash", id, sizeof(id), email, sizeof(email));
    create_user(id, email, PASSWORD);
    conn = db_acquire(fx->pool, err, sizeof(err));
    assert_non_null(conn);
    {
        struct db_param prm[] = {DB_STR(id)};
        assert_int_equal(db_query(conn,
                                  "SELECT password_hash, role, status FROM credential "
                                  "WHERE user_id = ?",
                                  prm, 1, &res),
                         0);
    }
    assert_int_equal(db_result_rows(res), 1);
    hash = db_result_get(res, 0, 0);
    assert_int_equal(strncmp(hash, "$argon2id$", 10), 0);
    assert_null(strstr(hash, PASSWORD));
    assert_string_equal(db_result_get(res, 0, 1), "USER");
    assert_string_equal(db_result_get(res, 0, 2), "ACTIVE");
    db_result_free(res);
    /* refresh tokens are stored only as SHA-256 hex */
    {
        char *tok = NULL;
        struct db_param prm[] = {DB_STR(id)};

        login_ok(email, PASSWORD, NULL, &tok);
        assert_int_equal(
            db_query(conn, "SELECT token_hash FROM refresh_token WHERE user_id = ?", prm, 1, &res),
            0);
        assert_int_equal(db_result_rows(res), 1);
        assert_int_equal(strlen(db_result_get(res, 0, 0)), 64);
        assert_string_not_equal(db_result_get(res, 0, 0), tok);
        db_result_free(res);
        free(tok);
    }
    db_release(fx->pool, conn);
}

static void test_status_blocked_refuses_login(void **state)
{
    char id[64], email[96], path[128], *tok = NULL;
    const char *const wrong[] = {"X-Service-Token: nope", NULL};
    struct ts_resp r;

    (void)state;
    uniq("it-block", id, sizeof(id), email, sizeof(email));
    create_user(id, email, PASSWORD);
    login_ok(email, PASSWORD, NULL, &tok);
    snprintf(path, sizeof(path), "/api/auth/%s/status", id);
    call("PATCH", path, "{\"status\":\"BLOCKED\"}", NULL, &r);
    assert_problem(&r, 401, "AUTH-401-003");
    ts_resp_free(&r);
    call("PATCH", path, "{\"status\":\"BLOCKED\"}", wrong, &r);
    assert_problem(&r, 401, "AUTH-401-003");
    ts_resp_free(&r);
    call("PATCH", path, "{\"status\":\"GONE\"}", service_hdrs, &r);
    assert_problem(&r, 400, "AUTH-400-001");
    ts_resp_free(&r);
    call("PATCH", "/api/auth/no-such-user/status", "{\"status\":\"BLOCKED\"}", service_hdrs, &r);
    assert_problem(&r, 404, "AUTH-404-001");
    ts_resp_free(&r);

    assert_int_equal(call("PATCH", path, "{\"status\":\"BLOCKED\"}", service_hdrs, &r), 204);
    ts_resp_free(&r);
    login(email, PASSWORD, &r);
    assert_problem(&r, 403, "AUTH-403-001");
    ts_resp_free(&r);
    /* blocking ended the session */
    assert_int_equal(refresh(tok, &r), 401);
    ts_resp_free(&r);
    /* a wrong password still gets the generic answer (no status oracle) */
    login(email, "wrong-password", &r);
    assert_problem(&r, 401, "AUTH-401-001");
    ts_resp_free(&r);

    assert_int_equal(call("PATCH", path, "{\"status\":\"ACTIVE\"}", service_hdrs, &r), 204);
    ts_resp_free(&r);
    login_ok(email, PASSWORD, NULL, NULL);
    free(tok);
}

static void test_admin_bootstrap(void **state)
{
    char *access = NULL, err[128];
    struct jwt_principal p;

    (void)state;
    login_ok("root.admin@example.com", ADMIN_PASSWORD, &access, NULL);
    assert_int_equal(jwt_verify(fx->pub, access, (int64_t)time(NULL), &p, err, sizeof(err)), 0);
    assert_int_equal(p.roles, JWT_ROLE_ADMIN);
    assert_string_equal(p.email, "root.admin@example.com");
    assert_int_equal(strlen(p.sub), 36); /* a name-based UUID */
    free(access);
}

static void test_internal_delete_undoes_a_signup(void **state)
{
    char user_id[64], email[96], path[160], *refresh_tok = NULL, *admin = NULL, err[128];
    struct jwt_principal p;
    struct ts_resp r;

    (void)state;
    uniq("del", user_id, sizeof(user_id), email, sizeof(email));
    create_user(user_id, email, "correct horse");
    login_ok(email, "correct horse", NULL, &refresh_tok);
    snprintf(path, sizeof(path), "/api/auth/%s", user_id);
    /* the service credential is required */
    call("DELETE", path, NULL, NULL, &r);
    assert_problem(&r, 401, "AUTH-401-003");
    ts_resp_free(&r);
    assert_int_equal(call("DELETE", path, NULL, service_hdrs, &r), 204);
    ts_resp_free(&r);
    /* gone: no login, no refresh, and the email is free for a new sign-up */
    assert_int_equal(login(email, "correct horse", &r), 401);
    ts_resp_free(&r);
    assert_int_equal(refresh(refresh_tok, &r), 401);
    ts_resp_free(&r);
    /* idempotent */
    assert_int_equal(call("DELETE", path, NULL, service_hdrs, &r), 204);
    ts_resp_free(&r);
    create_user(user_id, email, "correct horse 2");
    login_ok(email, "correct horse 2", NULL, NULL);
    /* an ADMIN credential is never deleted this way */
    login_ok("root.admin@example.com", ADMIN_PASSWORD, &admin, NULL);
    assert_int_equal(jwt_verify(fx->pub, admin, (int64_t)time(NULL), &p, err, sizeof(err)), 0);
    snprintf(path, sizeof(path), "/api/auth/%s", p.sub);
    assert_int_equal(call("DELETE", path, NULL, service_hdrs, &r), 204);
    ts_resp_free(&r);
    login_ok("root.admin@example.com", ADMIN_PASSWORD, NULL, NULL);
    free(admin);
    free(refresh_tok);
}

/* Decodes base64url (no padding); returns the length or -1. */
static int b64url_decode(const char *in, unsigned char *out, size_t outlen)
{
    size_t n = strlen(in), o = 0;
    uint32_t acc = 0;
    int bits = 0;

    for (size_t i = 0; i < n; i++) {
        const char *tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        const char *pos = strchr(tab, in[i]);
        if (!pos || !in[i])
            return -1;
        acc = acc << 6 | (uint32_t)(pos - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= outlen)
                return -1;
            out[o++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    return (int)o;
}

static void test_jwks_reconstructs_the_key(void **state)
{
    unsigned char pub[65] = {0x04};
    char *access = NULL, err[128], id[64], email[96];
    const cJSON *keys, *k;
    struct ts_resp r;
    OSSL_PARAM_BLD *bld;
    OSSL_PARAM *params;
    EVP_PKEY_CTX *ctx;
    EVP_PKEY *built = NULL, *pem = NULL;
    BIO *bio;
    FILE *fp;
    char *pem_text;
    long pem_len;
    struct jwt_key *jwk_key;
    struct jwt_principal p;

    (void)state;
    assert_int_equal(call("GET", "/api/auth/jwks", NULL, NULL, &r), 200);
    keys = cJSON_GetObjectItem(r.json, "keys");
    assert_int_equal(cJSON_GetArraySize(keys), 1);
    k = cJSON_GetArrayItem(keys, 0);
    assert_string_equal(cJSON_GetObjectItem(k, "kty")->valuestring, "EC");
    assert_string_equal(cJSON_GetObjectItem(k, "crv")->valuestring, "P-256");
    assert_string_equal(cJSON_GetObjectItem(k, "alg")->valuestring, "ES256");
    assert_string_equal(cJSON_GetObjectItem(k, "use")->valuestring, "sig");
    assert_int_equal(strlen(cJSON_GetObjectItem(k, "kid")->valuestring), 11);
    assert_int_equal(b64url_decode(cJSON_GetObjectItem(k, "x")->valuestring, pub + 1, 32), 32);
    assert_int_equal(b64url_decode(cJSON_GetObjectItem(k, "y")->valuestring, pub + 33, 32), 32);
    ts_resp_free(&r);

    /* x, y → an EVP_PKEY */
    bld = OSSL_PARAM_BLD_new();
    assert_non_null(bld);
    assert_int_equal(
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0), 1);
    assert_int_equal(
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub)), 1);
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(ctx, &built, EVP_PKEY_PUBLIC_KEY, params), 1);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);

    /* the same key as the harness's public PEM */
    fp = fopen(ts_env("JWT_PUBLIC_KEY_FILE"), "r");
    assert_non_null(fp);
    pem = PEM_read_PUBKEY(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(pem);
    assert_int_equal(EVP_PKEY_eq(pem, built), 1);

    /* and it verifies a fresh access token */
    bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(bio, built), 1);
    pem_len = BIO_get_mem_data(bio, &pem_text);
    jwk_key = jwt_key_from_pem(pem_text, (size_t)pem_len, err, sizeof(err));
    assert_non_null(jwk_key);
    uniq("it-jwks", id, sizeof(id), email, sizeof(email));
    create_user(id, email, PASSWORD);
    login_ok(email, PASSWORD, &access, NULL);
    assert_int_equal(jwt_verify(jwk_key, access, (int64_t)time(NULL), &p, err, sizeof(err)), 0);
    assert_string_equal(p.sub, id);
    free(access);
    jwt_key_free(jwk_key);
    BIO_free(bio);
    EVP_PKEY_free(pem);
    EVP_PKEY_free(built);
}

/* Writes the PEM texts @a and @b (may be NULL) one after the other to a file in the state
 * folder; its path into @out. */
static void write_keys(const char *name, const char *a, const char *b, char *out, size_t outlen)
{
    FILE *fp;

    snprintf(out, outlen, "%s/%s", ts_env("TEST_STATE_DIR"), name);
    fp = fopen(out, "w");
    assert_non_null(fp);
    fputs(a, fp);
    if (b)
        fputs(b, fp);
    fclose(fp);
}

static char *read_text(const char *path)
{
    FILE *fp = fopen(path, "r");
    char *text = calloc(1, 16384);

    assert_non_null(fp);
    assert_non_null(text);
    assert_true(fread(text, 1, 16383, fp) > 0);
    fclose(fp);
    return text;
}

static void test_jwks_publishes_every_key_of_a_rotation(void **state)
{
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    BIO *bio = BIO_new(BIO_s_mem());
    char *new_pub, *old_pub = read_text(ts_env("JWT_PUBLIC_KEY_FILE")), both[600], only_new[600];
    char db[64], db_env[96], pub_env[700], tok_env[96], err[128];
    const char *env[] = {db_env, tok_env, pub_env, "MIGRATIONS_DIR=auth-service/migrations", NULL};
    struct jwt_key *signer = jwt_key_from_file(ts_env("JWT_PRIVATE_KEY_FILE"), err, sizeof(err));
    struct ts_service svc;
    struct ts_resp r;
    const cJSON *keys;
    long len;

    (void)state;
    assert_non_null(signer);
    PEM_write_bio_PUBKEY(bio, pkey);
    len = BIO_get_mem_data(bio, &new_pub);
    new_pub = strndup(new_pub, (size_t)len);
    write_keys("jwks-both.pem", old_pub, new_pub, both, sizeof(both));
    write_keys("jwks-new-only.pem", new_pub, NULL, only_new, sizeof(only_new));
    assert_int_equal(ts_create_database("it_auth_jwks", db, sizeof(db)), 0);
    snprintf(db_env, sizeof(db_env), "DB_NAME=%s", db);
    snprintf(tok_env, sizeof(tok_env), "AUTH_SERVICE_TOKEN=%s", SERVICE_TOKEN);

    /* step 1 of a rotation: the new public key beside the old one; the signer is still old */
    snprintf(pub_env, sizeof(pub_env), "JWT_PUBLIC_KEY_FILE=%s", both);
    assert_int_equal(ts_service_start("auth-service", env, 60000, &svc), 0);
    {
        char u[256];
        snprintf(u, sizeof(u), "%s/api/auth/jwks", svc.url);
        assert_int_equal(ts_http("GET", u, NULL, NULL, NULL, &r), 0);
    }
    assert_int_equal(r.status, 200);
    keys = cJSON_GetObjectItem(r.json, "keys");
    assert_int_equal(cJSON_GetArraySize(keys), 2);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(keys, 0), "kid")->valuestring,
                        jwt_key_signer_kid(signer));
    assert_string_not_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(keys, 1), "kid")->valuestring,
                            jwt_key_signer_kid(signer));
    ts_resp_free(&r);
    assert_int_equal(ts_service_stop(&svc, SIGTERM), 0);

    /* a signing key the verify set does not hold: refused at start, no token nobody accepts */
    snprintf(pub_env, sizeof(pub_env), "JWT_PUBLIC_KEY_FILE=%s", only_new);
    assert_true(ts_service_start("auth-service", env, 60000, &svc) < 0);

    jwt_key_free(signer);
    free(new_pub);
    free(old_pub);
    BIO_free(bio);
    EVP_PKEY_free(pkey);
}

/* One login in a thread of its own, against @url. */
struct login_racer {
    const char *url;
    char email[96];
    const char *password;
    struct ts_resp r;
    long status;
};

static void *login_race(void *arg)
{
    struct login_racer *lr = arg;
    char body[256];

    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", lr->email, lr->password);
    lr->status = ts_http("POST", lr->url, NULL, body, NULL, &lr->r) == 0 ? lr->r.status : -1;
    return NULL;
}

/*
 * AUTH_HASH_THREADS=1 AUTH_HASH_QUEUE=1: of many parallel logins some are refused with 503
 * AUTH-503-002 and Retry-After (no other 5xx), every other answer is the right one (200 for
 * the admin's password, 401 for an unknown email). A restart over an existing admin account
 * hashes nothing: it only finds the account.
 */
static void test_hash_pool_refuses_when_full(void **state)
{
    enum { RACERS = 16, ROUNDS = 10 };
    char db[64], db_env[96], tok_env[96], url[256];
    const char *env[] = {db_env,
                         tok_env,
                         "AUTH_HASH_THREADS=1",
                         "AUTH_HASH_QUEUE=1",
                         "LOGIN_FREE_ATTEMPTS=1000",
                         "LOGIN_IP_MAX_PER_MINUTE=100000",
                         "ADMIN_EMAIL=" ADMIN_EMAIL,
                         "ADMIN_PASSWORD=" ADMIN_PASSWORD,
                         "MIGRATIONS_DIR=auth-service/migrations",
                         NULL};
    struct login_racer racers[RACERS];
    pthread_t th[RACERS];
    struct ts_service svc;
    struct ts_resp r;
    char *log;
    int ok = 0, refused = 0;

    (void)state;
    assert_int_equal(ts_create_database("it_auth_pool", db, sizeof(db)), 0);
    snprintf(db_env, sizeof(db_env), "DB_NAME=%s", db);
    snprintf(tok_env, sizeof(tok_env), "AUTH_SERVICE_TOKEN=%s", SERVICE_TOKEN);
    /* the first start creates the admin account (hashed on the pool), the second finds it */
    assert_int_equal(ts_service_start("auth-service", env, 60000, &svc), 0);
    assert_int_equal(ts_service_stop(&svc, SIGTERM), 0);
    assert_int_equal(ts_service_start("auth-service", env, 60000, &svc), 0);
    log = read_text(svc.log_path);
    assert_non_null(strstr(log, "admin account 'root.admin@example.com' exists"));
    assert_null(strstr(log, "created admin account"));
    free(log);

    snprintf(url, sizeof(url), "%s/api/auth/login", svc.url);
    for (int round = 0; round < ROUNDS && !(ok && refused); round++) {
        for (int i = 0; i < RACERS; i++) {
            racers[i] = (struct login_racer){.url = url, .password = ADMIN_PASSWORD};
            if (i % 2)
                snprintf(racers[i].email, sizeof(racers[i].email), "nobody-%d-%d@example.com",
                         round, i);
            else
                snprintf(racers[i].email, sizeof(racers[i].email), "%s", ADMIN_EMAIL);
            assert_int_equal(pthread_create(&th[i], NULL, login_race, &racers[i]), 0);
        }
        for (int i = 0; i < RACERS; i++) {
            struct login_racer *lr = &racers[i];
            const cJSON *code;

            pthread_join(th[i], NULL);
            if (lr->status == 503) {
                code = cJSON_GetObjectItem(lr->r.json, "code");
                assert_true(cJSON_IsString(code));
                assert_string_equal(code->valuestring, "AUTH-503-002");
                assert_string_equal(lr->r.retry_after, "1");
                refused++;
            } else if (i % 2) {
                assert_int_equal(lr->status, 401);
            } else {
                assert_int_equal(lr->status, 200);
                assert_true(cJSON_IsString(cJSON_GetObjectItem(lr->r.json, "accessToken")));
                ok++;
            }
            ts_resp_free(&lr->r);
        }
    }
    assert_true(ok > 0);
    assert_true(refused > 0);
    {
        char u[256];

        snprintf(u, sizeof(u), "%s/metrics", svc.url);
        assert_int_equal(ts_http("GET", u, NULL, NULL, NULL, &r), 0);
        assert_non_null(strstr(r.body, "commerce_password_hash_refused_total "));
        assert_null(strstr(r.body, "commerce_password_hash_refused_total 0\n"));
        ts_resp_free(&r);
    }
    assert_int_equal(ts_service_stop(&svc, SIGTERM), 0);
}

static void test_body_limits(void **state)
{
    size_t n = 1024 * 1024;
    char *big = malloc(n + 1);
    struct ts_resp r;

    (void)state;
    assert_non_null(big);
    memset(big, ' ', n);
    memcpy(big, "{\"email\":\"", 10);
    big[n - 2] = '"';
    big[n - 1] = '}';
    big[n] = '\0';
    assert_int_equal(call("POST", "/api/auth/login", big, NULL, &r), 413);
    ts_resp_free(&r);
    free(big);
    call("POST", "/api/auth/login", "{\"email\":", NULL, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(jstr(&r, "code"), "COMMON-400-001");
    ts_resp_free(&r);
    call("POST", "/api/auth/login", "[1,2]", NULL, &r);
    assert_int_equal(r.status, 400);
    ts_resp_free(&r);
    call("POST", "/api/auth/login", "{\"email\":1,\"password\":\"x\"}", NULL, &r);
    assert_problem(&r, 400, "AUTH-400-001");
    ts_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_internal_create_needs_service_token),
        cmocka_unit_test(test_login_access_token_claims),
        cmocka_unit_test(test_refresh_rotates_and_reuse_revokes_family),
        cmocka_unit_test(test_concurrent_refresh_only_one_wins),
        cmocka_unit_test(test_logout_revokes),
        cmocka_unit_test(test_refresh_cookie),
        cmocka_unit_test(test_malformed_refresh_cookies),
        cmocka_unit_test(test_wrong_password_and_unknown_email_look_alike),
        cmocka_unit_test(test_failed_logins_are_throttled),
        cmocka_unit_test(test_password_stored_as_argon2id),
        cmocka_unit_test(test_status_blocked_refuses_login),
        cmocka_unit_test(test_admin_bootstrap),
        cmocka_unit_test(test_internal_delete_undoes_a_signup),
        cmocka_unit_test(test_jwks_reconstructs_the_key),
        cmocka_unit_test(test_hash_pool_refuses_when_full),
        cmocka_unit_test(test_body_limits),
        cmocka_unit_test(test_jwks_publishes_every_key_of_a_rotation),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
