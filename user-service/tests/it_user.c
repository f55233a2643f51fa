/*
 * it_user.c - user-service against a real auth-service and MariaDB: both binaries are started
 * with fresh databases and driven only through HTTP (plus a look at user-service's table to
 * prove that a failed sign-up leaves no row).
 *
 * Three user-service processes share one database: one wired to the real auth-service, one
 * whose AUTH_URL points at a port nobody listens on (auth-service down), and one holding the
 * wrong service credential (auth-service refuses it).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "common/db.h"
#include "testsup.h"

#define SERVICE_TOKEN "it-user-service-token"

struct fixture {
    struct ts_service auth;
    struct ts_service user;      /* wired to auth */
    struct ts_service user_down; /* AUTH_URL: nobody listens */
    struct ts_service user_bad;  /* wrong AUTH_SERVICE_TOKEN */
    struct ts_service user_slow; /* AUTH_URL: accepts connections, never answers */
    char auth_db[64];
    char user_db[64];
    char *admin;   /* an ADMIN token from the harness key */
    int dead_fd;   /* holds the port user_down's AUTH_URL points at */
    int silent_fd; /* listens for user_slow but never accepts */
};

/* A loopback TCP port bound by @ret_fd. Not @listening, connections to it are refused for as
 * long as the socket stays open; @listening, the kernel completes them but nobody ever reads
 * or answers. 0 on failure. */
static unsigned short dead_port(int *ret_fd, bool listening)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t salen = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0)
        return 0;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &salen) < 0 || (listening && listen(fd, 16) < 0)) {
        close(fd);
        return 0;
    }
    *ret_fd = fd;
    return ntohs(sa.sin_port);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char auth_db_env[96], user_db_env[96], auth_url[96], dead_url[96], silent_url[96];

    if (!f)
        return -1;
    if (ts_create_database("it_user_auth", f->auth_db, sizeof(f->auth_db)) < 0 ||
        ts_create_database("it_user", f->user_db, sizeof(f->user_db)) < 0)
        return -1;
    snprintf(auth_db_env, sizeof(auth_db_env), "DB_NAME=%s", f->auth_db);
    snprintf(user_db_env, sizeof(user_db_env), "DB_NAME=%s", f->user_db);
    {
        char key_env[600];
        const char *env[] = {auth_db_env, key_env, "AUTH_SERVICE_TOKEN=" SERVICE_TOKEN,
                             "MIGRATIONS_DIR=auth-service/migrations", NULL};
        snprintf(key_env, sizeof(key_env), "JWT_PRIVATE_KEY_FILE=%s",
                 ts_env("JWT_PRIVATE_KEY_FILE"));
        if (ts_service_start("auth-service", env, 60000, &f->auth) < 0)
            return -1;
    }
    snprintf(auth_url, sizeof(auth_url), "AUTH_URL=%s", f->auth.url);
    f->dead_fd = f->silent_fd = -1;
    snprintf(dead_url, sizeof(dead_url), "AUTH_URL=http://127.0.0.1:%u",
             dead_port(&f->dead_fd, false));
    snprintf(silent_url, sizeof(silent_url), "AUTH_URL=http://127.0.0.1:%u",
             dead_port(&f->silent_fd, true));
    if (f->dead_fd < 0 || f->silent_fd < 0)
        return -1;
    {
        const char *env[] = {user_db_env, auth_url, "AUTH_SERVICE_TOKEN=" SERVICE_TOKEN,
                             "MIGRATIONS_DIR=user-service/migrations", NULL};
        if (ts_service_start("user-service", env, 60000, &f->user) < 0)
            return -1;
    }
    {
        const char *env[] = {user_db_env,
                             dead_url,
                             "AUTH_SERVICE_TOKEN=" SERVICE_TOKEN,
                             "AUTH_TIMEOUT_MS=1000",
                             "MIGRATIONS_DIR=user-service/migrations",
                             NULL};
        if (ts_service_start("user-service", env, 60000, &f->user_down) < 0)
            return -1;
    }
    {
        const char *env[] = {user_db_env, auth_url, "AUTH_SERVICE_TOKEN=not-the-token",
                             "MIGRATIONS_DIR=user-service/migrations", NULL};
        if (ts_service_start("user-service", env, 60000, &f->user_bad) < 0)
            return -1;
    }
    {
        const char *env[] = {user_db_env,
                             silent_url,
                             "AUTH_SERVICE_TOKEN=" SERVICE_TOKEN,
                             "AUTH_TIMEOUT_MS=1000",
                             "MIGRATIONS_DIR=user-service/migrations",
                             NULL};
        if (ts_service_start("user-service", env, 60000, &f->user_slow) < 0)
            return -1;
    }
    f->admin = ts_token("it-admin", "ADMIN");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    /* a clean stop must exit 0 (and, under ASan, without leaks) */
    assert_int_equal(ts_service_stop(&f->user_slow, SIGTERM), 0);
    assert_int_equal(ts_service_stop(&f->user_bad, SIGTERM), 0);
    assert_int_equal(ts_service_stop(&f->user_down, SIGTERM), 0);
    assert_int_equal(ts_service_stop(&f->user, SIGTERM), 0);
    assert_int_equal(ts_service_stop(&f->auth, SIGTERM), 0);
    close(f->dead_fd);
    close(f->silent_fd);
    free(f->admin);
    free(f);
    return 0;
}

/* ---- helpers ---- */

static void unique_email(char *out, size_t outlen)
{
    char u[48];

    ts_unique("it_user", u, sizeof(u));
    snprintf(out, outlen, "%s@example.com", u);
}

static void signup_body(char *out, size_t outlen, const char *email, const char *password,
                        const char *name, const char *phone)
{
    snprintf(out, outlen, "{\"email\":\"%s\",\"password\":\"%s\",\"name\":\"%s\",\"phone\":\"%s\"}",
             email, password, name, phone);
}

/* POST /api/users on @svc; fills @r. */
static void signup(const struct ts_service *svc, const char *email, struct ts_resp *r)
{
    char u[160], body[512];

    snprintf(u, sizeof(u), "%s/api/users", svc->url);
    signup_body(body, sizeof(body), email, "s3cret-pass", "Kim Minsu", "010-1234-5678");
    assert_int_equal(ts_http("POST", u, NULL, body, NULL, r), 0);
}

/* Signs up @email on the wired user-service, asserts 201, writes the new id into @id. */
static void signup_ok(struct fixture *f, const char *email, char *id, size_t idlen)
{
    struct ts_resp r;

    signup(&f->user, email, &r);
    if (r.status != 201)
        fail_msg("sign-up of '%s': status %ld, body %s", email, r.status, r.body);
    snprintf(id, idlen, "%s", cJSON_GetObjectItem(r.json, "id")->valuestring);
    ts_resp_free(&r);
}

/* Asserts @r is a problem+json with @status and @code. */
static void assert_problem(const struct ts_resp *r, long status, const char *code)
{
    const cJSON *c;

    if (r->status != status)
        fail_msg("want %ld %s, got %ld: %s", status, code, r->status, r->body);
    assert_non_null(strstr(r->content_type, "application/problem+json"));
    assert_non_null(r->json);
    c = cJSON_GetObjectItem(r->json, "code");
    assert_non_null(c);
    assert_string_equal(c->valuestring, code);
    assert_int_equal((long)cJSON_GetObjectItem(r->json, "status")->valuedouble, status);
}

/* True when @r's problem has a field error for @field. */
static int has_field_error(const struct ts_resp *r, const char *field)
{
    const cJSON *e;

    cJSON_ArrayForEach (e, cJSON_GetObjectItem(r->json, "errors")) {
        const cJSON *f = cJSON_GetObjectItem(e, "field");
        if (f && cJSON_IsString(f) && strcmp(f->valuestring, field) == 0)
            return 1;
    }
    return 0;
}

static void req(const struct ts_service *svc, const char *method, const char *path,
                const char *token, const char *body, struct ts_resp *r)
{
    char u[256];

    snprintf(u, sizeof(u), "%s%s", svc->url, path);
    assert_int_equal(ts_http(method, u, token, body, NULL, r), 0);
}

/* GET /api/users/@id as @token; returns the status and copies "status" into @st if given. */
static long get_user(const struct ts_service *svc, const char *id, const char *token, char *st,
                     size_t stlen)
{
    char path[128];
    struct ts_resp r;
    long status;

    snprintf(path, sizeof(path), "/api/users/%s", id);
    req(svc, "GET", path, token, NULL, &r);
    status = r.status;
    if (st && r.status == 200)
        snprintf(st, stlen, "%s", cJSON_GetObjectItem(r.json, "status")->valuestring);
    ts_resp_free(&r);
    return status;
}

/* Logs in to auth-service; returns the status. */
static long login(struct fixture *f, const char *email)
{
    char body[256];
    struct ts_resp r;
    long status;

    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"s3cret-pass\"}", email);
    req(&f->auth, "POST", "/api/auth/login", NULL, body, &r);
    status = r.status;
    ts_resp_free(&r);
    return status;
}

/* Rows of user-service's table with @email (read straight from MariaDB). */
static long long rows_with_email(struct fixture *f, const char *email)
{
    struct db_opts opts = {.host = ts_env("DB_HOST"),
                           .port = (unsigned)atoi(ts_env("DB_PORT")),
                           .user = ts_env("DB_USER"),
                           .password = ts_env("DB_PASSWORD"),
                           .database = f->user_db,
                           .pool_size = 1,
                           .connect_timeout_s = 5,
                           .acquire_timeout_ms = 5000};
    char err[256];
    struct db_pool *pool = db_pool_new(&opts, err, sizeof(err));
    struct db_conn *conn;
    struct db_result *res = NULL;
    struct db_param p[] = {DB_STR(email)};
    long long n = -1;

    assert_non_null(pool);
    conn = db_acquire(pool, err, sizeof(err));
    assert_non_null(conn);
    if (db_query(conn, "SELECT COUNT(*) FROM user WHERE email = ?", p, 1, &res) == 0)
        n = db_result_int(res, 0, 0);
    db_result_free(res);
    db_release(pool, conn);
    db_pool_free(pool);
    return n;
}

/* ---- tests ---- */

static void test_signup_creates_profile_and_credential(void **state)
{
    struct fixture *f = *state;
    char email[96], id[64], path[128];
    struct ts_resp r;
    char *token;

    unique_email(email, sizeof(email));
    signup(&f->user, email, &r);
    assert_int_equal(r.status, 201);
    id[0] = '\0';
    snprintf(id, sizeof(id), "%s", cJSON_GetObjectItem(r.json, "id")->valuestring);
    assert_int_equal(strlen(id), 36);
    snprintf(path, sizeof(path), "/api/users/%s", id);
    assert_string_equal(r.location, path);
    assert_string_equal(cJSON_GetObjectItem(r.json, "email")->valuestring, email);
    assert_string_equal(cJSON_GetObjectItem(r.json, "name")->valuestring, "Kim Minsu");
    assert_string_equal(cJSON_GetObjectItem(r.json, "phone")->valuestring, "010-1234-5678");
    assert_string_equal(cJSON_GetObjectItem(r.json, "status")->valuestring, "ACTIVE");
    assert_null(cJSON_GetObjectItem(r.json, "password"));
    assert_null(strstr(r.body, "s3cret-pass"));
    ts_resp_free(&r);

    /* the credential exists: the new user can log in */
    assert_int_equal(login(f, email), 200);
    token = ts_token(id, "USER");
    assert_int_equal(get_user(&f->user, id, token, NULL, 0), 200);
    free(token);
    assert_int_equal(rows_with_email(f, email), 1);
}

static void test_invalid_signup_is_400_with_field_errors(void **state)
{
    struct fixture *f = *state;
    char body[512];
    struct ts_resp r;

    signup_body(body, sizeof(body), "not-an-email", "short", "", "01012345678");
    req(&f->user, "POST", "/api/users", NULL, body, &r);
    assert_problem(&r, 400, "USER-400-001");
    assert_true(has_field_error(&r, "email"));
    assert_true(has_field_error(&r, "password"));
    assert_true(has_field_error(&r, "name"));
    assert_true(has_field_error(&r, "phone"));
    assert_null(strstr(r.body, "short\"")); /* the password is never echoed */
    ts_resp_free(&r);

    /* missing fields and wrong types */
    req(&f->user, "POST", "/api/users", NULL, "{\"email\":5,\"name\":\"A\"}", &r);
    assert_problem(&r, 400, "USER-400-001");
    assert_true(has_field_error(&r, "email"));
    ts_resp_free(&r);
    req(&f->user, "POST", "/api/users", NULL, "{\"name\":\"A\"}", &r);
    assert_problem(&r, 400, "USER-400-001");
    assert_true(has_field_error(&r, "email"));
    assert_true(has_field_error(&r, "password"));
    assert_true(has_field_error(&r, "phone"));
    assert_false(has_field_error(&r, "name"));
    ts_resp_free(&r);

    /* too long a password (73 bytes) and too long a name (51 characters) */
    signup_body(body, sizeof(body), "long@example.com",
                "1234567890123456789012345678901234567890123456789012345678901234567890123",
                "123456789012345678901234567890123456789012345678901", "010-1234-5678");
    req(&f->user, "POST", "/api/users", NULL, body, &r);
    assert_problem(&r, 400, "USER-400-001");
    assert_true(has_field_error(&r, "password"));
    assert_true(has_field_error(&r, "name"));
    ts_resp_free(&r);

    req(&f->user, "POST", "/api/users", NULL, "{\"email\":", &r);
    assert_int_equal(r.status, 400);
    ts_resp_free(&r);
    req(&f->user, "POST", "/api/users", NULL, "[1,2]", &r);
    assert_int_equal(r.status, 400);
    ts_resp_free(&r);
    assert_int_equal(rows_with_email(f, "long@example.com"), 0);
}

static void test_duplicate_email_is_409(void **state)
{
    struct fixture *f = *state;
    char email[96], upper[96], id[64];
    struct ts_resp r;

    unique_email(email, sizeof(email));
    signup_ok(f, email, id, sizeof(id));
    signup(&f->user, email, &r);
    assert_problem(&r, 409, "USER-409-001");
    ts_resp_free(&r);
    /* emails compare without regard to case */
    for (size_t i = 0; i <= strlen(email); i++)
        upper[i] = (char)(email[i] >= 'a' && email[i] <= 'z' ? email[i] - 32 : email[i]);
    signup(&f->user, upper, &r);
    assert_problem(&r, 409, "USER-409-001");
    ts_resp_free(&r);
    assert_int_equal(rows_with_email(f, email), 1);
}

static void test_email_known_only_to_auth_is_409_and_undone(void **state)
{
    struct fixture *f = *state;
    char email[96], body[512], u[160];
    const char *hdrs[] = {"X-Service-Token: " SERVICE_TOKEN, NULL};
    struct ts_resp r;

    /* a credential made directly in auth-service, with no profile here */
    unique_email(email, sizeof(email));
    snprintf(body, sizeof(body),
             "{\"userId\":\"only-in-auth-%ld\",\"email\":\"%s\",\"password\":\"s3cret-pass\","
             "\"provider\":\"LOCAL\"}",
             (long)getpid(), email);
    snprintf(u, sizeof(u), "%s/api/auth", f->auth.url);
    assert_int_equal(ts_http("POST", u, NULL, body, hdrs, &r), 0);
    assert_int_equal(r.status, 201);
    ts_resp_free(&r);

    signup(&f->user, email, &r);
    assert_problem(&r, 409, "USER-409-001");
    ts_resp_free(&r);
    assert_int_equal(rows_with_email(f, email), 0);
}

static void test_auth_down_is_503_and_leaves_no_row(void **state)
{
    struct fixture *f = *state;
    char email[96], id[64];
    struct ts_resp r;

    unique_email(email, sizeof(email));
    signup(&f->user_down, email, &r);
    assert_problem(&r, 503, "USER-503-001");
    ts_resp_free(&r);
    assert_int_equal(rows_with_email(f, email), 0);
    /* the same sign-up through a user-service that reaches auth-service succeeds */
    signup_ok(f, email, id, sizeof(id));
}

static void test_auth_timing_out_is_503_without_retry(void **state)
{
    struct fixture *f = *state;
    char email[96], id[64];
    struct ts_resp r;
    struct timespec t0, t1;
    double elapsed;

    unique_email(email, sizeof(email));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    signup(&f->user_slow, email, &r);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_problem(&r, 503, "USER-503-001");
    ts_resp_free(&r);
    /* one AUTH_TIMEOUT_MS=1000 wait: a request that reached auth-service is not sent twice
     * (a retry would take over 2 s) */
    elapsed = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(elapsed >= 0.95);
    assert_true(elapsed < 1.9);
    assert_int_equal(rows_with_email(f, email), 0);
    signup_ok(f, email, id, sizeof(id));
}

static void test_auth_refusing_the_credential_is_502(void **state)
{
    struct fixture *f = *state;
    char email[96], id[64];
    struct ts_resp r;

    unique_email(email, sizeof(email));
    signup(&f->user_bad, email, &r);
    assert_problem(&r, 502, "USER-502-001");
    ts_resp_free(&r);
    assert_int_equal(rows_with_email(f, email), 0);
    signup_ok(f, email, id, sizeof(id));
}

static void test_read_is_self_or_admin(void **state)
{
    struct fixture *f = *state;
    char a_email[96], b_email[96], a[64], b[64];
    char *ta, *tb;
    struct ts_resp r;

    unique_email(a_email, sizeof(a_email));
    unique_email(b_email, sizeof(b_email));
    signup_ok(f, a_email, a, sizeof(a));
    signup_ok(f, b_email, b, sizeof(b));
    ta = ts_token(a, "USER");
    tb = ts_token(b, "USER");

    assert_int_equal(get_user(&f->user, a, ta, NULL, 0), 200);
    assert_int_equal(get_user(&f->user, b, tb, NULL, 0), 200);
    assert_int_equal(get_user(&f->user, b, f->admin, NULL, 0), 200);

    {
        char path[128];
        snprintf(path, sizeof(path), "/api/users/%s", b);
        req(&f->user, "GET", path, ta, NULL, &r);
        assert_problem(&r, 403, "USER-403-001");
        ts_resp_free(&r);
        req(&f->user, "GET", path, NULL, NULL, &r);
        assert_problem(&r, 401, "COMMON-401-001");
        ts_resp_free(&r);
    }
    /* an unknown id: 404 for an admin, 403 for anyone else (no probing) */
    req(&f->user, "GET", "/api/users/00000000-0000-4000-8000-000000000000", f->admin, NULL, &r);
    assert_problem(&r, 404, "USER-404-001");
    ts_resp_free(&r);
    req(&f->user, "GET", "/api/users/00000000-0000-4000-8000-000000000000", ta, NULL, &r);
    assert_problem(&r, 403, "USER-403-001");
    ts_resp_free(&r);
    req(&f->user, "GET", "/api/users/42", f->admin, NULL, &r);
    assert_problem(&r, 404, "USER-404-001");
    ts_resp_free(&r);
    free(ta);
    free(tb);
}

static void test_patch_me(void **state)
{
    struct fixture *f = *state;
    char email[96], id[64];
    char *token;
    struct ts_resp r;

    unique_email(email, sizeof(email));
    signup_ok(f, email, id, sizeof(id));
    token = ts_token(id, "USER");

    req(&f->user, "PATCH", "/api/users/me", token,
        "{\"name\":\"\xea\xb9\x80\xeb\xaf\xbc\xec\x88\x98\",\"phone\":\"010-9999-0000\"}", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(cJSON_GetObjectItem(r.json, "name")->valuestring,
                        "\xea\xb9\x80\xeb\xaf\xbc\xec\x88\x98");
    assert_string_equal(cJSON_GetObjectItem(r.json, "phone")->valuestring, "010-9999-0000");
    assert_string_equal(cJSON_GetObjectItem(r.json, "email")->valuestring, email);
    ts_resp_free(&r);

    req(&f->user, "PATCH", "/api/users/me", token, "{\"phone\":\"010-99-0000\"}", &r);
    assert_problem(&r, 400, "USER-400-001");
    assert_true(has_field_error(&r, "phone"));
    ts_resp_free(&r);
    req(&f->user, "PATCH", "/api/users/me", token, "{}", &r);
    assert_problem(&r, 400, "USER-400-001");
    ts_resp_free(&r);
    /* a user cannot change their own status through /me */
    req(&f->user, "PATCH", "/api/users/me", token, "{\"status\":\"ADMIN\"}", &r);
    assert_problem(&r, 400, "USER-400-001");
    ts_resp_free(&r);
    req(&f->user, "PATCH", "/api/users/me", NULL, "{\"name\":\"x\"}", &r);
    assert_problem(&r, 401, "COMMON-401-001");
    ts_resp_free(&r);
    /* an admin token whose subject has no profile */
    req(&f->user, "PATCH", "/api/users/me", f->admin, "{\"name\":\"x\"}", &r);
    assert_problem(&r, 404, "USER-404-001");
    ts_resp_free(&r);
    free(token);
}

static void test_delete_me_closes_the_account(void **state)
{
    struct fixture *f = *state;
    char email[96], id[64], st[16];
    char *token;
    struct ts_resp r;

    unique_email(email, sizeof(email));
    signup_ok(f, email, id, sizeof(id));
    token = ts_token(id, "USER");

    /* auth-service down: 503 and nothing changes */
    req(&f->user_down, "DELETE", "/api/users/me", token, NULL, &r);
    assert_problem(&r, 503, "USER-503-001");
    ts_resp_free(&r);
    assert_int_equal(get_user(&f->user, id, token, st, sizeof(st)), 200);
    assert_string_equal(st, "ACTIVE");
    assert_int_equal(login(f, email), 200);

    req(&f->user, "DELETE", "/api/users/me", token, NULL, &r);
    assert_int_equal(r.status, 204);
    ts_resp_free(&r);
    assert_int_equal(get_user(&f->user, id, token, st, sizeof(st)), 200);
    assert_string_equal(st, "INACTIVE");
    assert_int_equal(login(f, email), 403);

    /* a closed account can no longer be changed by its owner */
    req(&f->user, "DELETE", "/api/users/me", token, NULL, &r);
    assert_problem(&r, 403, "USER-403-002");
    ts_resp_free(&r);
    req(&f->user, "PATCH", "/api/users/me", token, "{\"name\":\"Back\"}", &r);
    assert_problem(&r, 403, "USER-403-002");
    ts_resp_free(&r);
    free(token);
}

static void test_admin_block_update_and_unblock(void **state)
{
    struct fixture *f = *state;
    char email[96], id[64], path[128], st[16];
    char *token;
    struct ts_resp r;

    unique_email(email, sizeof(email));
    signup_ok(f, email, id, sizeof(id));
    token = ts_token(id, "USER");
    snprintf(path, sizeof(path), "/api/users/%s", id);

    /* a USER token on the admin routes */
    req(&f->user, "DELETE", path, token, NULL, &r);
    assert_problem(&r, 403, "COMMON-403-001");
    ts_resp_free(&r);
    req(&f->user, "PATCH", path, token, "{\"status\":\"ACTIVE\"}", &r);
    assert_problem(&r, 403, "COMMON-403-001");
    ts_resp_free(&r);

    /* auth-service down: the block is refused and the user stays ACTIVE */
    req(&f->user_down, "DELETE", path, f->admin, NULL, &r);
    assert_problem(&r, 503, "USER-503-001");
    ts_resp_free(&r);
    assert_int_equal(get_user(&f->user, id, f->admin, st, sizeof(st)), 200);
    assert_string_equal(st, "ACTIVE");
    /* auth-service refusing the call: 502, still ACTIVE */
    req(&f->user_bad, "DELETE", path, f->admin, NULL, &r);
    assert_problem(&r, 502, "USER-502-001");
    ts_resp_free(&r);
    assert_int_equal(get_user(&f->user, id, f->admin, st, sizeof(st)), 200);
    assert_string_equal(st, "ACTIVE");

    req(&f->user, "DELETE", path, f->admin, NULL, &r);
    assert_int_equal(r.status, 204);
    ts_resp_free(&r);
    assert_int_equal(get_user(&f->user, id, f->admin, st, sizeof(st)), 200);
    assert_string_equal(st, "BLOCKED");
    assert_int_equal(login(f, email), 403);
    /* blocking twice changes nothing */
    req(&f->user, "DELETE", path, f->admin, NULL, &r);
    assert_int_equal(r.status, 204);
    ts_resp_free(&r);
    /* the blocked user cannot unblock themselves */
    req(&f->user, "PATCH", "/api/users/me", token, "{\"name\":\"Free\"}", &r);
    assert_problem(&r, 403, "USER-403-002");
    ts_resp_free(&r);

    req(&f->user, "PATCH", path, f->admin, "{\"status\":\"DELETED\"}", &r);
    assert_problem(&r, 400, "USER-400-001");
    assert_true(has_field_error(&r, "status"));
    ts_resp_free(&r);
    req(&f->user, "PATCH", path, f->admin, "{\"name\":\"Lee\",\"status\":\"ACTIVE\"}", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(cJSON_GetObjectItem(r.json, "status")->valuestring, "ACTIVE");
    assert_string_equal(cJSON_GetObjectItem(r.json, "name")->valuestring, "Lee");
    ts_resp_free(&r);
    assert_int_equal(login(f, email), 200);

    req(&f->user, "PATCH", "/api/users/00000000-0000-4000-8000-000000000000", f->admin,
        "{\"name\":\"Nobody\"}", &r);
    assert_problem(&r, 404, "USER-404-001");
    ts_resp_free(&r);
    free(token);
}

static void test_health(void **state)
{
    struct fixture *f = *state;
    struct ts_resp r;

    req(&f->user, "GET", "/health/ready", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    ts_resp_free(&r);
    req(&f->user, "GET", "/metrics", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "commerce_http_requests_total{route=\"/api/users\""));
    ts_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signup_creates_profile_and_credential),
        cmocka_unit_test(test_invalid_signup_is_400_with_field_errors),
        cmocka_unit_test(test_duplicate_email_is_409),
        cmocka_unit_test(test_email_known_only_to_auth_is_409_and_undone),
        cmocka_unit_test(test_auth_down_is_503_and_leaves_no_row),
        cmocka_unit_test(test_auth_timing_out_is_503_without_retry),
        cmocka_unit_test(test_auth_refusing_the_credential_is_502),
        cmocka_unit_test(test_read_is_self_or_admin),
        cmocka_unit_test(test_patch_me),
        cmocka_unit_test(test_delete_me_closes_the_account),
        cmocka_unit_test(test_admin_block_update_and_unblock),
        cmocka_unit_test(test_health),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
