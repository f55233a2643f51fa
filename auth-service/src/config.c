/* config.c - auth-service's configuration: the common settings plus its own table. */
#include "app.h"
#include "auth.h"

#define S struct auth_config
const struct cfg_entry AUTH_CONFIG[] = {
    CFG_ENTRY_STR("JWT_PRIVATE_KEY_FILE", NULL, true, false, S, jwt_private_key_file,
                  "PEM (PKCS#8) ES256 private key that signs access tokens"),
    CFG_ENTRY_STR("AUTH_SERVICE_TOKEN", NULL, true, true, S, service_token,
                  "service credential required by the internal API (X-Service-Token)"),
    CFG_ENTRY_INT("ACCESS_TOKEN_TTL_S", "900", 30, 86400, S, access_ttl_s,
                  "access token lifetime in seconds"),
    CFG_ENTRY_INT("REFRESH_TOKEN_TTL_S", "1209600", 60, 31536000, S, refresh_ttl_s,
                  "refresh token lifetime in seconds"),
    CFG_ENTRY_INT("LOGIN_FREE_ATTEMPTS", "5", 1, 1000, S, login.free_attempts,
                  "failed logins per (email, client address) before delays start"),
    CFG_ENTRY_INT("LOGIN_DELAY_BASE_S", "1", 1, 3600, S, login.delay_base_s,
                  "first delay after the free attempts; doubles with each further failure"),
    CFG_ENTRY_INT("LOGIN_DELAY_MAX_S", "900", 1, 86400, S, login.delay_max_s,
                  "largest delay between two login attempts of one (email, client address)"),
    CFG_ENTRY_INT("LOGIN_IP_MAX_PER_MINUTE", "60", 1, 100000, S, login.ip_max_per_minute,
                  "login attempts per client address per minute, whatever the emails"),
    CFG_ENTRY_STR("ADMIN_EMAIL", NULL, false, false, S, admin_email,
                  "email of the ADMIN account created at start (with ADMIN_PASSWORD)"),
    CFG_ENTRY_STR("ADMIN_PASSWORD", NULL, false, true, S, admin_password,
                  "password of the ADMIN account created at start"),
    CFG_ENTRY_INT("AUTH_HASH_THREADS", "2", 1, 64, S, hash_threads,
                  "threads that run Argon2id (19 MiB each while hashing): bounds the memory"),
    CFG_ENTRY_INT("AUTH_HASH_QUEUE", "32", 0, 100000, S, hash_queue,
                  "hash jobs that may wait for a thread; beyond them 503 with Retry-After"),
    {0},
};
#undef S

const struct svc_defaults AUTH_DEFAULTS = {
    .service = AUTH_SERVICE,
    .http_port = "8089",
    .db_name = "commerce_auth",
    .group_id = AUTH_SERVICE,
    .migrations_dir = "auth-service/migrations",
    /* a login's thread waits for the Argon2 pool: with 8, six logins wait in the pool's FIFO,
     * in arrival order; with fewer they wait unordered in the connections' polls (48 parallel
     * logins on 2 CPUs: p99 1.9 s with 8 threads, 4.4 s with 4; docs/benchmarks.md) */
    .http_threads = "8",
};
