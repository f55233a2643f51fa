/*
 * auth.h - auth-service domain rules, pure C (no I/O, no JSON, no database, no crypto).
 *
 * A credential is (user id, email, password, provider, role, status). Emails are compared in
 * lower case. The role of a credential made through the internal API is always USER; the only
 * ADMIN is the one bootstrapped from configuration.
 *
 * Refresh tokens rotate: each use marks the presented token used and issues a new one in the
 * same family. Presenting a used token again means it was stolen (or the client is confused):
 * the whole family is revoked. auth_refresh_decide() makes that decision from the stored row.
 *
 * Failed logins are throttled per (email, client address) and per client address with growing
 * delays, never by locking the account (auth_login_*).
 */
#ifndef AUTH_H
#define AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/jwt.h"

#define AUTH_MAX_USER_ID 64
#define AUTH_MAX_EMAIL 254
#define AUTH_MAX_EMAIL_LOCAL 64
#define AUTH_MIN_PASSWORD 8
#define AUTH_MAX_PASSWORD 72 /* bytes */
#define AUTH_MAX_PROVIDER 32
#define AUTH_DEFAULT_PROVIDER "LOCAL"

enum auth_role { AUTH_ROLE_USER = 0, AUTH_ROLE_ADMIN };

enum auth_status { AUTH_STATUS_ACTIVE = 0, AUTH_STATUS_INACTIVE, AUTH_STATUS_BLOCKED };

/* A credential as the internal API receives it (strings borrowed). */
struct auth_credential {
    const char *user_id;
    const char *email;
    const char *password;
    const char *provider; /* NULL = AUTH_DEFAULT_PROVIDER */
};

/* A validation problem on one field. */
struct auth_error {
    char field[32];
    char message[128];
};

enum auth_outcome {
    AUTH_OK = 0,
    AUTH_INVALID, /* field errors */
};

/* 1 when @s is a user id: 1..AUTH_MAX_USER_ID characters of [A-Za-z0-9._-]. */
bool auth_user_id_valid(const char *s);

/* 1 when @s looks like an email address (local@domain.tld, printable ASCII, no spaces). */
bool auth_email_valid(const char *s);

/* 1 when @s is AUTH_MIN_PASSWORD..AUTH_MAX_PASSWORD bytes long. */
bool auth_password_valid(const char *s);

/* 1 when @s is 1..AUTH_MAX_PROVIDER characters of [A-Z0-9_]. */
bool auth_provider_valid(const char *s);

/*
 * Checks a credential's values (the HTTP layer has already checked JSON types). Writes up to
 * @maxerr errors into @errs and their count into *@nerr. Returns AUTH_OK or AUTH_INVALID.
 */
enum auth_outcome auth_validate_credential(const struct auth_credential *c, struct auth_error *errs,
                                           size_t maxerr, size_t *nerr);

/* Writes @email in lower case into @out. Returns -ENAMETOOLONG when it does not fit. */
int auth_email_normalize(const char *email, char *out, size_t outlen);

/* "ACTIVE", "INACTIVE", "BLOCKED" (exact case). 0 or -EINVAL. */
int auth_status_parse(const char *s, enum auth_status *ret);
const char *auth_status_name(enum auth_status status);
/* Whether moving a credential to @status ends its sessions (revokes every refresh token). */
bool auth_status_revokes(enum auth_status status);

/* "USER", "ADMIN". 0 or -EINVAL. */
int auth_role_parse(const char *s, enum auth_role *ret);
const char *auth_role_name(enum auth_role role);

/*
 * Fills @ret with the claims of an access token for a credential: sub, email, roles (exactly
 * one of JWT_ROLE_USER / JWT_ROLE_ADMIN), an empty jti (jwt_sign generates one). -EINVAL when
 * a value does not fit the claim (never silently truncated).
 */
int auth_principal_build(const char *user_id, const char *email, enum auth_role role,
                         struct jwt_principal *ret);

/* The stored state of one refresh token. */
struct auth_refresh_state {
    int64_t expires_at; /* epoch seconds */
    bool used;          /* used_at is set: it was already exchanged */
    bool revoked;       /* revoked_at is set: logout, reuse, or status change */
};

enum auth_refresh_decision {
    AUTH_REFRESH_VALID = 0, /* rotate: mark used, issue a new token in the same family */
    AUTH_REFRESH_REUSED,    /* already used: theft; revoke the family, refuse */
    AUTH_REFRESH_EXPIRED,   /* refuse */
    AUTH_REFRESH_REVOKED,   /* refuse (family already revoked) */
};

/* Decides what presenting a token in state @s at @now means. Revocation wins over reuse
 * (the family is already dead), reuse over expiry (a replayed token is theft even if old). */
enum auth_refresh_decision auth_refresh_decide(const struct auth_refresh_state *s, int64_t now);

/*
 * Login throttling. An attempt is counted before its password is checked, per (email, client
 * address) pair and per client address, so neither parallel requests nor a stranger can use
 * it against the account's owner:
 *   - a pair has @free_attempts failures free; after that each further attempt waits
 *     delay_base_s * 2^(failures - free_attempts) seconds (at most delay_max_s) after the last
 *     one. A success forgets the pair; a pair quiet for AUTH_LOGIN_FORGET_S is forgotten too;
 *   - an address makes at most ip_max_per_minute attempts per minute, whatever the emails.
 * Nothing locks an account: the owner at another address has a pair of their own.
 */
#define AUTH_LOGIN_FORGET_S 86400

struct auth_login_limits {
    long free_attempts;     /* LOGIN_FREE_ATTEMPTS */
    long delay_base_s;      /* LOGIN_DELAY_BASE_S */
    long delay_max_s;       /* LOGIN_DELAY_MAX_S */
    long ip_max_per_minute; /* LOGIN_IP_MAX_PER_MINUTE */
};

/* One (email, address) pair: attempts since its last success (each counted as a failure until
 * it succeeds) and the time of the last one (epoch seconds; 0 = none). */
struct auth_login_pair {
    long failures;
    int64_t last_at;
};

/* One address: attempts in the minute that started at window_start. */
struct auth_login_ip {
    long attempts;
    int64_t window_start;
};

/* The seconds a pair with @failures must wait after its last attempt (0: free). */
int64_t auth_login_delay(const struct auth_login_limits *lim, long failures);

/*
 * Decides whether an attempt at @now may check a password. Returns 0 and counts the attempt
 * in @pair and @ip (the caller stores both before checking), or the seconds to wait (>= 1)
 * and changes nothing.
 */
int64_t auth_login_reserve(const struct auth_login_limits *lim, struct auth_login_pair *pair,
                           struct auth_login_ip *ip, int64_t now);

#endif
