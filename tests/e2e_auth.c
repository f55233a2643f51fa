/*
 * e2e_auth.c - issue 3 end to end, through HTTP only: auth-service and user-service are
 * started by the test with fresh databases.
 *
 *   - sign up (user-service, which creates the credential in auth-service) → log in
 *     (auth-service) → a protected route of the other service with the issued token → refresh
 *     → the old refresh token is refused (and its family revoked) → log out → the refresh token
 *     is refused after logout;
 *   - refused with 401/403 and a problem body: no token, expired token, token signed by
 *     another key, "alg": "none", HS256 signed with the public key, tampered payload, USER
 *     token on an ADMIN route, user A reading user B;
 *   - a blocked user can no longer log in or refresh;
 *   - sign-up with auth-service stopped: 503 and no user row left; auth-service started again
 *     on the same port: the same sign-up succeeds;
 *   - sign-up whose answer from auth-service is lost (tests/support/proxy.h drops it after
 *     auth-service created the credential): 503, and user-service's undo removes the orphan
 *     credential although the undo's own answers are lost too, so the email can sign up again.
 * (How auth-service stores passwords is checked in auth-service/tests/it_auth.c.)
 * The only look behind the APIs is at user-service's database, to check no row was left.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "common/db.h"
#include "common/jwt.h"
#include "proxy.h"
#include "testsup.h"

#define SERVICE_TOKEN "e2e-auth-service-token"
#define PASSWORD "e2e-Passw0rd!"
#define ADMIN_PASSWORD "e2e-admin-Passw0rd"

struct fixture {
    struct ts_service auth;
    struct ts_service user;
    char auth_db[64];
    char user_db[64];
    char admin_email[96];
    char auth_db_env[96];
    char user_db_env[96];
    char admin_env[128];
    char key_env[600];
};

/* The environment auth-service is started with (the first time and again); env[6..7] are
 * left for a port override and the terminator. */
static void auth_env(struct fixture *f, const char *env[8])
{
    env[0] = f->auth_db_env;
    env[1] = f->key_env;
    env[2] = "AUTH_SERVICE_TOKEN=" SERVICE_TOKEN;
    env[3] = f->admin_env;
    env[4] = "ADMIN_PASSWORD=" ADMIN_PASSWORD;
    env[5] = "MIGRATIONS_DIR=auth-service/migrations";
    env[6] = NULL;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char auth_url[96], u[48];
    const char *env[8];

    if (!f)
        return -1;
    if (ts_create_database("e2e_auth", f->auth_db, sizeof(f->auth_db)) < 0 ||
        ts_create_database("e2e_user", f->user_db, sizeof(f->user_db)) < 0)
        return -1;
    ts_unique("admin", u, sizeof(u));
    snprintf(f->admin_email, sizeof(f->admin_email), "%s@example.com", u);
    snprintf(f->auth_db_env, sizeof(f->auth_db_env), "DB_NAME=%s", f->auth_db);
    snprintf(f->admin_env, sizeof(f->admin_env), "ADMIN_EMAIL=%s", f->admin_email);
    snprintf(f->key_env, sizeof(f->key_env), "JWT_PRIVATE_KEY_FILE=%s",
             ts_env("JWT_PRIVATE_KEY_FILE"));
    auth_env(f, env);
    if (ts_service_start("auth-service", env, 60000, &f->auth) < 0)
        return -1;

    snprintf(f->user_db_env, sizeof(f->user_db_env), "DB_NAME=%s", f->user_db);
    snprintf(auth_url, sizeof(auth_url), "AUTH_URL=%s", f->auth.url);
    {
        const char *uenv[] = {f->user_db_env, auth_url, "AUTH_SERVICE_TOKEN=" SERVICE_TOKEN,
                              "MIGRATIONS_DIR=user-service/migrations", NULL};
        if (ts_service_start("user-service", uenv, 60000, &f->user) < 0)
            return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    /* clean stops exit 0 (and, under ASan, without leaks) */
    assert_int_equal(ts_service_stop(&f->user, SIGTERM), 0);
    if (f->auth.pid > 0)
        assert_int_equal(ts_service_stop(&f->auth, SIGTERM), 0);
    free(f);
    return 0;
}

/* ---- base64url and JWT pieces ---- */

static char *b64url_encode(const unsigned char *in, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = malloc(len * 4 / 3 + 4), *p = out;
    size_t i = 0;

    assert_non_null(out);
    for (; i + 2 < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        *p++ = tab[v >> 18];
        *p++ = tab[(v >> 12) & 63];
        *p++ = tab[(v >> 6) & 63];
        *p++ = tab[v & 63];
    }
    if (i < len) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0);
        *p++ = tab[v >> 18];
        *p++ = tab[(v >> 12) & 63];
        if (i + 1 < len)
            *p++ = tab[(v >> 6) & 63];
    }
    *p = '\0';
    return out;
}

/* Decodes @len characters of base64url (no padding) into a NUL-terminated string. */
static char *b64url_decode(const char *in, size_t len)
{
    char *out = malloc(len * 3 / 4 + 4);
    unsigned acc = 0;
    int bits = 0;
    size_t n = 0;

    assert_non_null(out);
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        int v = c >= 'A' && c <= 'Z'   ? c - 'A'
                : c >= 'a' && c <= 'z' ? c - 'a' + 26
                : c >= '0' && c <= '9' ? c - '0' + 52
                : c == '-'             ? 62
                : c == '_'             ? 63
                                       : -1;
        assert_true(v >= 0);
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[n] = '\0';
    return out;
}

/* The claims of @token as JSON (caller owns: cJSON_Delete). */
static cJSON *jwt_claims(const char *token)
{
    const char *dot1 = strchr(token, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    char *json;
    cJSON *claims;

    assert_non_null(dot2);
    json = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    claims = cJSON_Parse(json);
    free(json);
    assert_non_null(claims);
    return claims;
}

/* "<b64url(header)>.<b64url(claims)>." + @sig (caller frees). */
static char *jwt_assemble(const char *header, const cJSON *claims, const char *sig)
{
    char *payload = cJSON_PrintUnformatted(claims);
    char *h = b64url_encode((const unsigned char *)header, strlen(header));
    char *p = b64url_encode((const unsigned char *)payload, strlen(payload));
    size_t len = strlen(h) + strlen(p) + strlen(sig) + 3;
    char *tok = malloc(len);

    assert_non_null(tok);
    snprintf(tok, len, "%s.%s.%s", h, p, sig);
    cJSON_free(payload);
    free(h);
    free(p);
    return tok;
}

/* @token with its claims replaced by @claims but the original header and signature. */
static char *jwt_tamper(const char *token, const cJSON *claims)
{
    const char *dot1 = strchr(token, '.'), *dot2 = strchr(dot1 + 1, '.');
    char *payload = cJSON_PrintUnformatted(claims);
    char *p = b64url_encode((const unsigned char *)payload, strlen(payload));
    size_t len = strlen(token) + strlen(p) + 2;
    char *tok = malloc(len);

    assert_non_null(tok);
    snprintf(tok, len, "%.*s.%s%s", (int)(dot1 - token), token, p, dot2);
    cJSON_free(payload);
    free(p);
    return tok;
}

/* A fresh P-256 key that is not auth-service's. */
static struct jwt_key *other_key(void)
{
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL, err[256];
    long len;
    struct jwt_key *key;

    assert_non_null(pkey);
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL), 1);
    len = BIO_get_mem_data(bio, &pem);
    key = jwt_key_from_pem(pem, (size_t)len, err, sizeof(err));
    if (!key)
        fail_msg("jwt_key_from_pem: %s", err);
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    return key;
}

/* A USER token for @sub signed with @key, issued at @iat for @ttl_s seconds. */
static char *sign_with(const struct jwt_key *key, const char *sub, int64_t iat, int64_t ttl_s)
{
    struct jwt_principal p = {.roles = JWT_ROLE_USER};
    char *tok = NULL;

    snprintf(p.sub, sizeof(p.sub), "%s", sub);
    snprintf(p.email, sizeof(p.email), "%s@example.com", sub);
    assert_int_equal(jwt_sign(key, &p, iat, ttl_s, &tok), 0);
    return tok;
}

/* HS256 over @claims keyed with the PEM text of auth-service's public key: the classic
 * algorithm-confusion forgery. */
static char *hs256_with_public_key(const cJSON *claims)
{
    const char *header = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char *unsigned_tok = jwt_assemble(header, claims, ""), *sig, *tok;
    FILE *fp = fopen(ts_env("JWT_PUBLIC_KEY_FILE"), "r");
    unsigned char secret[4096], mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    size_t slen;

    assert_non_null(fp);
    slen = fread(secret, 1, sizeof(secret), fp);
    fclose(fp);
    /* sign "<header>.<payload>" (without the trailing '.') */
    unsigned_tok[strlen(unsigned_tok) - 1] = '\0';
    assert_non_null(HMAC(EVP_sha256(), secret, (int)slen, (unsigned char *)unsigned_tok,
                         strlen(unsigned_tok), mac, &maclen));
    sig = b64url_encode(mac, maclen);
    tok = malloc(strlen(unsigned_tok) + strlen(sig) + 2);
    assert_non_null(tok);
    sprintf(tok, "%s.%s", unsigned_tok, sig);
    free(unsigned_tok);
    free(sig);
    return tok;
}

/* ---- HTTP helpers ---- */

static void call(const struct ts_service *svc, const char *method, const char *path,
                 const char *token, const char *body, struct ts_resp *r)
{
    char u[512];

    snprintf(u, sizeof(u), "%s%s", svc->url, path);
    assert_int_equal(ts_http(method, u, token, body, NULL, r), 0);
}

/* Asserts @r is a problem+json with @status (and @code when non-NULL). */
static void assert_problem(const struct ts_resp *r, long status, const char *code, const char *what)
{
    const cJSON *c;

    if (r->status != status)
        fail_msg("%s: want %ld, got %ld: %s", what, status, r->status, r->body);
    if (!strstr(r->content_type, "application/problem+json"))
        fail_msg("%s: content type '%s'", what, r->content_type);
    assert_non_null(r->json);
    assert_int_equal((long)cJSON_GetObjectItem(r->json, "status")->valuedouble, status);
    assert_non_null(cJSON_GetObjectItem(r->json, "title"));
    c = cJSON_GetObjectItem(r->json, "code");
    assert_non_null(c);
    if (code)
        assert_string_equal(c->valuestring, code);
}

static void unique_email(char *out, size_t outlen)
{
    char u[48];

    ts_unique("e2e", u, sizeof(u));
    snprintf(out, outlen, "%s@example.com", u);
}

static void signup_body(char *out, size_t outlen, const char *email)
{
    snprintf(out, outlen,
             "{\"email\":\"%s\",\"password\":\"" PASSWORD "\",\"name\":\"Kim Minsu\","
             "\"phone\":\"010-1234-5678\"}",
             email);
}

/* Signs up @email; asserts 201 and copies the new id into @id. */
static void signup(struct fixture *f, const char *email, char *id, size_t idlen)
{
    char body[512];
    struct ts_resp r;

    signup_body(body, sizeof(body), email);
    call(&f->user, "POST", "/api/users", NULL, body, &r);
    if (r.status != 201)
        fail_msg("sign-up of '%s': %ld %s", email, r.status, r.body);
    snprintf(id, idlen, "%s", cJSON_GetObjectItem(r.json, "id")->valuestring);
    ts_resp_free(&r);
}

struct tokens {
    char access[2048];
    char refresh[512];
};

static void take_tokens(const struct ts_resp *r, struct tokens *t)
{
    const cJSON *a = cJSON_GetObjectItem(r->json, "accessToken");
    const cJSON *rt = cJSON_GetObjectItem(r->json, "refreshToken");
    const cJSON *type = cJSON_GetObjectItem(r->json, "tokenType");
    const cJSON *exp = cJSON_GetObjectItem(r->json, "expiresIn");

    assert_true(cJSON_IsString(a) && cJSON_IsString(rt));
    assert_true(cJSON_IsString(type));
    assert_string_equal(type->valuestring, "Bearer");
    assert_true(cJSON_IsNumber(exp) && exp->valuedouble > 0);
    snprintf(t->access, sizeof(t->access), "%s", a->valuestring);
    snprintf(t->refresh, sizeof(t->refresh), "%s", rt->valuestring);
}

/* Logs in; asserts 200 and fills @t. */
static void login(struct fixture *f, const char *email, const char *password, struct tokens *t)
{
    char body[256];
    struct ts_resp r;

    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
    call(&f->auth, "POST", "/api/auth/login", NULL, body, &r);
    if (r.status != 200)
        fail_msg("login of '%s': %ld %s", email, r.status, r.body);
    take_tokens(&r, t);
    ts_resp_free(&r);
}

/* POST /api/auth/refresh with @refresh; returns the status, fills @t on 200 (may be NULL). */
static long refresh(struct fixture *f, const char *rt, struct tokens *t)
{
    char body[600];
    struct ts_resp r;
    long status;

    snprintf(body, sizeof(body), "{\"refreshToken\":\"%s\"}", rt);
    call(&f->auth, "POST", "/api/auth/refresh", NULL, body, &r);
    status = r.status;
    if (status == 200 && t)
        take_tokens(&r, t);
    if (status != 200)
        assert_problem(&r, status, NULL, "refused refresh");
    ts_resp_free(&r);
    return status;
}

/* GET /api/users/@id with @token; returns the status, asserting a problem body when not 200. */
static long get_user(struct fixture *f, const char *id, const char *token, const char *what)
{
    char path[128];
    struct ts_resp r;
    long status;

    snprintf(path, sizeof(path), "/api/users/%s", id);
    call(&f->user, "GET", path, token, NULL, &r);
    status = r.status;
    if (status == 200)
        assert_string_equal(cJSON_GetObjectItem(r.json, "id")->valuestring, id);
    else
        assert_problem(&r, status, NULL, what);
    ts_resp_free(&r);
    return status;
}

/* ---- databases (what was stored) ---- */

/* The first column of the first row of @sql with @arg in database @db, copied into @out;
 * returns the row count. */
static size_t db_lookup(const char *db, const char *sql, const char *arg, char *out, size_t outlen)
{
    struct db_opts opts = {.host = ts_env("DB_HOST"),
                           .port = (unsigned)atoi(ts_env("DB_PORT")),
                           .user = ts_env("DB_USER"),
                           .password = ts_env("DB_PASSWORD"),
                           .database = db,
                           .pool_size = 1,
                           .connect_timeout_s = 5,
                           .acquire_timeout_ms = 5000};
    char err[256];
    struct db_pool *pool = db_pool_new(&opts, err, sizeof(err));
    struct db_conn *conn;
    struct db_result *res = NULL;
    struct db_param p[] = {DB_STR(arg)};
    size_t n;

    assert_non_null(pool);
    conn = db_acquire(pool, err, sizeof(err));
    if (!conn)
        fail_msg("db_acquire '%s': %s", db, err);
    assert_int_equal(db_query(conn, sql, p, 1, &res), 0);
    n = db_result_rows(res);
    if (out && outlen)
        snprintf(out, outlen, "%s", n && db_result_get(res, 0, 0) ? db_result_get(res, 0, 0) : "");
    db_result_free(res);
    db_release(pool, conn);
    db_pool_free(pool);
    return n;
}

/* ---- tests ---- */

static void test_signup_login_call_refresh_logout(void **state)
{
    struct fixture *f = *state;
    char email[96], id[64];
    struct tokens t1, t2, t3, t4;
    cJSON *claims;
    const cJSON *roles;
    struct ts_resp r;
    char body[600];

    unique_email(email, sizeof(email));
    signup(f, email, id, sizeof(id));

    /* log in at auth-service; the access token names the user and the USER role */
    login(f, email, PASSWORD, &t1);
    claims = jwt_claims(t1.access);
    assert_string_equal(cJSON_GetObjectItem(claims, "sub")->valuestring, id);
    assert_string_equal(cJSON_GetObjectItem(claims, "email")->valuestring, email);
    roles = cJSON_GetObjectItem(claims, "roles");
    assert_int_equal(cJSON_GetArraySize(roles), 1);
    assert_string_equal(cJSON_GetArrayItem(roles, 0)->valuestring, "USER");
    assert_true(cJSON_GetObjectItem(claims, "exp")->valuedouble >
                cJSON_GetObjectItem(claims, "iat")->valuedouble);
    assert_non_null(cJSON_GetObjectItem(claims, "jti"));
    cJSON_Delete(claims);

    /* user-service accepts auth-service's token */
    assert_int_equal(get_user(f, id, t1.access, "own profile"), 200);

    /* refresh rotates: a new pair that works, the old refresh token is refused */
    assert_int_equal(refresh(f, t1.refresh, &t2), 200);
    assert_string_not_equal(t2.refresh, t1.refresh);
    assert_int_equal(get_user(f, id, t2.access, "own profile after refresh"), 200);
    assert_int_equal(refresh(f, t1.refresh, NULL), 401);
    /* presenting a used token revoked its whole family, the newest token included */
    assert_int_equal(refresh(f, t2.refresh, NULL), 401);

    /* a new session: refresh works until logout, then the refresh token is refused */
    login(f, email, PASSWORD, &t3);
    assert_int_equal(refresh(f, t3.refresh, &t4), 200);
    snprintf(body, sizeof(body), "{\"refreshToken\":\"%s\"}", t4.refresh);
    call(&f->auth, "POST", "/api/auth/logout", NULL, body, &r);
    assert_int_equal(r.status, 204);
    ts_resp_free(&r);
    assert_int_equal(refresh(f, t4.refresh, NULL), 401);
}

static void test_bad_tokens_are_refused_with_a_problem(void **state)
{
    struct fixture *f = *state;
    char a_email[96], b_email[96], a[64], b[64], path[128];
    struct tokens ta, admin;
    struct jwt_key *key, *foreign;
    char err[256], *tok;
    cJSON *claims;
    struct ts_resp r;
    int64_t now = (int64_t)time(NULL);

    unique_email(a_email, sizeof(a_email));
    unique_email(b_email, sizeof(b_email));
    signup(f, a_email, a, sizeof(a));
    signup(f, b_email, b, sizeof(b));
    login(f, a_email, PASSWORD, &ta);
    login(f, f->admin_email, ADMIN_PASSWORD, &admin);

    /* no token */
    assert_int_equal(get_user(f, a, NULL, "no token"), 401);

    /* expired: right key, issued an hour ago for ten minutes */
    key = jwt_key_from_file(ts_env("JWT_PRIVATE_KEY_FILE"), err, sizeof(err));
    assert_non_null(key);
    tok = sign_with(key, a, now - 3600, 600);
    assert_int_equal(get_user(f, a, tok, "expired token"), 401);
    free(tok);
    /* the same token made now is accepted: only the time was wrong */
    tok = sign_with(key, a, now, 600);
    assert_int_equal(get_user(f, a, tok, "fresh harness token"), 200);
    free(tok);
    jwt_key_free(key);

    /* signed by another key */
    foreign = other_key();
    tok = sign_with(foreign, a, now, 600);
    assert_int_equal(get_user(f, a, tok, "foreign key"), 401);
    free(tok);
    jwt_key_free(foreign);

    /* alg none, with A's real claims */
    claims = jwt_claims(ta.access);
    tok = jwt_assemble("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, "");
    assert_int_equal(get_user(f, a, tok, "alg none"), 401);
    free(tok);
    /* HS256 keyed with the public key */
    tok = hs256_with_public_key(claims);
    assert_int_equal(get_user(f, a, tok, "HS256 with the public key"), 401);
    free(tok);

    /* tampered payload: A's signed token claiming to be B, or to be an ADMIN */
    cJSON_ReplaceItemInObject(claims, "sub", cJSON_CreateString(b));
    tok = jwt_tamper(ta.access, claims);
    assert_int_equal(get_user(f, b, tok, "tampered sub"), 401);
    free(tok);
    cJSON_Delete(claims);
    claims = jwt_claims(ta.access);
    cJSON_ReplaceItemInObject(claims, "roles",
                              cJSON_CreateStringArray((const char *[]){"ADMIN"}, 1));
    tok = jwt_tamper(ta.access, claims);
    snprintf(path, sizeof(path), "/api/users/%s", b);
    call(&f->user, "PATCH", path, tok, "{\"name\":\"Hijacked\"}", &r);
    assert_problem(&r, 401, "COMMON-401-001", "tampered roles");
    ts_resp_free(&r);
    free(tok);
    cJSON_Delete(claims);

    /* a USER token on an ADMIN route */
    call(&f->user, "PATCH", path, ta.access, "{\"name\":\"Hijacked\"}", &r);
    assert_problem(&r, 403, "COMMON-403-001", "USER on ADMIN route");
    ts_resp_free(&r);
    call(&f->user, "DELETE", path, ta.access, NULL, &r);
    assert_problem(&r, 403, "COMMON-403-001", "USER on ADMIN route");
    ts_resp_free(&r);

    /* user A reading user B */
    assert_int_equal(get_user(f, b, ta.access, "A reads B"), 403);
    /* the admin may do both */
    assert_int_equal(get_user(f, b, admin.access, "admin reads B"), 200);
    call(&f->user, "PATCH", path, admin.access, "{\"name\":\"Renamed\"}", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(cJSON_GetObjectItem(r.json, "name")->valuestring, "Renamed");
    ts_resp_free(&r);
}

static void test_blocked_user_cannot_log_in(void **state)
{
    struct fixture *f = *state;
    char email[96], id[64], path[128], body[256];
    struct tokens t, admin;
    struct ts_resp r;

    unique_email(email, sizeof(email));
    signup(f, email, id, sizeof(id));
    login(f, email, PASSWORD, &t);
    login(f, f->admin_email, ADMIN_PASSWORD, &admin);
    snprintf(path, sizeof(path), "/api/users/%s", id);
    call(&f->user, "DELETE", path, admin.access, NULL, &r);
    assert_int_equal(r.status, 204);
    ts_resp_free(&r);

    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"" PASSWORD "\"}", email);
    call(&f->auth, "POST", "/api/auth/login", NULL, body, &r);
    assert_problem(&r, 403, NULL, "blocked login");
    ts_resp_free(&r);
    /* blocking revoked the refresh tokens too */
    assert_int_equal(refresh(f, t.refresh, NULL), 401);
}

static void test_signup_with_auth_stopped_is_503_and_undone(void **state)
{
    struct fixture *f = *state;
    char email[96], id[64], body[512], port_env[32];
    const char *env[8];
    struct tokens t;
    struct ts_resp r;
    unsigned short port = f->auth.port;

    assert_int_equal(ts_service_stop(&f->auth, SIGTERM), 0);

    unique_email(email, sizeof(email));
    signup_body(body, sizeof(body), email);
    call(&f->user, "POST", "/api/users", NULL, body, &r);
    assert_problem(&r, 503, "USER-503-001", "sign-up with auth-service stopped");
    ts_resp_free(&r);
    assert_int_equal(db_lookup(f->user_db, "SELECT id FROM user WHERE email = ?", email, NULL, 0),
                     0);

    /* auth-service back on the same port: the same sign-up succeeds */
    auth_env(f, env);
    snprintf(port_env, sizeof(port_env), "HTTP_PORT=%u", port);
    env[6] = port_env;
    env[7] = NULL;
    assert_int_equal(ts_service_start("auth-service", env, 60000, &f->auth), 0);
    signup(f, email, id, sizeof(id));
    assert_int_equal(db_lookup(f->user_db, "SELECT id FROM user WHERE email = ?", email, NULL, 0),
                     1);
    login(f, email, PASSWORD, &t);
    assert_int_equal(get_user(f, id, t.access, "after auth restart"), 200);
}

/* Whether auth-service lets @email in with @password: 200 or 401 (-1: no answer). */
struct login_try {
    struct fixture *f;
    const char *email, *password;
    long status;
};

static bool login_refused(void *arg)
{
    struct login_try *t = arg;
    char body[256];
    struct ts_resp r;

    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", t->email, t->password);
    call(&t->f->auth, "POST", "/api/auth/login", NULL, body, &r);
    t->status = r.status;
    ts_resp_free(&r);
    return t->status == 401;
}

static void test_signup_answer_lost_is_undone(void **state)
{
    struct fixture *f = *state;
    struct ts_proxy *proxy = ts_proxy_start(f->auth.port);
    struct ts_service user2;
    char email[96], id[64], body[512], auth_url[64];
    struct login_try lt = {.f = f, .password = PASSWORD};
    struct tokens t;
    struct ts_resp r;

    assert_non_null(proxy);
    /* a second user-service whose calls to auth-service go through the proxy */
    snprintf(auth_url, sizeof(auth_url), "AUTH_URL=http://127.0.0.1:%u", ts_proxy_port(proxy));
    {
        const char *uenv[] = {f->user_db_env, auth_url, "AUTH_SERVICE_TOKEN=" SERVICE_TOKEN,
                              "MIGRATIONS_DIR=user-service/migrations", NULL};

        assert_int_equal(ts_service_start("user-service", uenv, 60000, &user2), 0);
    }
    ts_proxy_set_mode(proxy, TS_PROXY_DROP_RESPONSES);

    unique_email(email, sizeof(email));
    signup_body(body, sizeof(body), email);
    call(&user2, "POST", "/api/users", NULL, body, &r);
    assert_problem(&r, 503, "USER-503-001", "sign-up whose answer was lost");
    ts_resp_free(&r);
    /* auth-service did answer: the proxy threw it away */
    assert_true(ts_proxy_dropped(proxy) >= 1);
    assert_int_equal(db_lookup(f->user_db, "SELECT id FROM user WHERE email = ?", email, NULL, 0),
                     0);
    /* the undo removes the credential (its DELETE's answers are dropped too: it is retried,
     * and DELETE is idempotent) */
    lt.email = email;
    if (!ts_poll_until(login_refused, &lt, 30000))
        fail_msg("the orphan credential of '%s' still logs in (last %ld)", email, lt.status);

    /* the email is free: signing up again (directly) works, and so does its login */
    signup(f, email, id, sizeof(id));
    login(f, email, PASSWORD, &t);
    assert_int_equal(get_user(f, id, t.access, "after the lost answer"), 200);

    ts_proxy_set_mode(proxy, TS_PROXY_PASS);
    assert_int_equal(ts_service_stop(&user2, SIGTERM), 0);
    ts_proxy_stop(proxy);
    /* a late retry of the undo removes only the first sign-up's credential, never the new */
    login(f, email, PASSWORD, &t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signup_login_call_refresh_logout),
        cmocka_unit_test(test_bad_tokens_are_refused_with_a_problem),
        cmocka_unit_test(test_blocked_user_cannot_log_in),
        cmocka_unit_test(test_signup_with_auth_stopped_is_503_and_undone),
        cmocka_unit_test(test_signup_answer_lost_is_undone),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
