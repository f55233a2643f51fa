/* auth.c - auth-service domain rules (see auth.h): validation, claims, token decisions. */
#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

static bool user_id_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '_' || ch == '-';
}

bool auth_user_id_valid(const char *s)
{
    size_t n;

    if (!s)
        return false;
    n = strlen(s);
    if (n == 0 || n > AUTH_MAX_USER_ID)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!user_id_char(s[i]))
            return false;
    }
    return true;
}

/* Characters allowed in the local part (RFC 5322 atext, plus dots checked separately). */
static bool local_char(char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return true;
    return strchr("!#$%&'*+/=?^_`{|}~-", ch) != NULL && ch != '\0';
}

static bool label_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-';
}

/* A dot-separated sequence of non-empty parts, each made of @ok characters. */
static bool dotted(const char *s, size_t n, bool (*ok)(char))
{
    if (n == 0 || s[0] == '.' || s[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (s[i + 1] == '.')
                return false;
        } else if (!ok(s[i])) {
            return false;
        }
    }
    return true;
}

bool auth_email_valid(const char *s)
{
    const char *at, *domain;
    size_t n, local_len, domain_len;

    if (!s)
        return false;
    n = strlen(s);
    at = strchr(s, '@');
    if (n > AUTH_MAX_EMAIL || !at || strchr(at + 1, '@'))
        return false;
    local_len = (size_t)(at - s);
    domain = at + 1;
    domain_len = n - local_len - 1;
    if (local_len > AUTH_MAX_EMAIL_LOCAL || !dotted(s, local_len, local_char))
        return false;
    /* the domain needs at least one dot; labels do not start or end with '-' */
    if (!strchr(domain, '.') || !dotted(domain, domain_len, label_char))
        return false;
    for (size_t i = 0; i < domain_len; i++) {
        if (domain[i] == '-' &&
            (i == 0 || domain[i - 1] == '.' || i + 1 == domain_len || domain[i + 1] == '.'))
            return false;
    }
    return true;
}

bool auth_password_valid(const char *s)
{
    size_t n;

    if (!s)
        return false;
    n = strlen(s);
    return n >= AUTH_MIN_PASSWORD && n <= AUTH_MAX_PASSWORD;
}

bool auth_provider_valid(const char *s)
{
    size_t n;

    if (!s)
        return false;
    n = strlen(s);
    if (n == 0 || n > AUTH_MAX_PROVIDER)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    }
    return true;
}

static void add_error(struct auth_error *errs, size_t maxerr, size_t *nerr, const char *field,
                      const char *message)
{
    if (*nerr < maxerr) {
        util_strlcpy(errs[*nerr].field, field, sizeof(errs[*nerr].field));
        util_strlcpy(errs[*nerr].message, message, sizeof(errs[*nerr].message));
    }
    (*nerr)++;
}

enum auth_outcome auth_validate_credential(const struct auth_credential *c, struct auth_error *errs,
                                           size_t maxerr, size_t *nerr)
{
    size_t n = 0;

    if (!auth_user_id_valid(c->user_id))
        add_error(errs, maxerr, &n, "userId",
                  "must be 1 to 64 characters of letters, digits, '.', '_' or '-'");
    if (!auth_email_valid(c->email))
        add_error(errs, maxerr, &n, "email", "must be a valid email address");
    if (!auth_password_valid(c->password))
        add_error(errs, maxerr, &n, "password", "must be 8 to 72 bytes long");
    if (c->provider && !auth_provider_valid(c->provider))
        add_error(errs, maxerr, &n, "provider",
                  "must be 1 to 32 characters of upper-case letters, digits or '_'");
    *nerr = n < maxerr ? n : maxerr;
    return n ? AUTH_INVALID : AUTH_OK;
}

int auth_email_normalize(const char *email, char *out, size_t outlen)
{
    size_t n = strlen(email);

    if (n >= outlen)
        return -ENAMETOOLONG;
    for (size_t i = 0; i <= n; i++) {
        char ch = email[i];
        out[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    return 0;
}

static const char *const status_names[] = {
    [AUTH_STATUS_ACTIVE] = "ACTIVE",
    [AUTH_STATUS_INACTIVE] = "INACTIVE",
    [AUTH_STATUS_BLOCKED] = "BLOCKED",
};

int auth_status_parse(const char *s, enum auth_status *ret)
{
    for (size_t i = 0; s && i < sizeof(status_names) / sizeof(status_names[0]); i++) {
        if (strcmp(s, status_names[i]) == 0) {
            *ret = (enum auth_status)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *auth_status_name(enum auth_status status)
{
    return (unsigned)status < sizeof(status_names) / sizeof(status_names[0]) ? status_names[status]
                                                                             : "UNKNOWN";
}

bool auth_status_revokes(enum auth_status status)
{
    return status == AUTH_STATUS_INACTIVE || status == AUTH_STATUS_BLOCKED;
}

int auth_role_parse(const char *s, enum auth_role *ret)
{
    if (s && strcmp(s, "USER") == 0)
        *ret = AUTH_ROLE_USER;
    else if (s && strcmp(s, "ADMIN") == 0)
        *ret = AUTH_ROLE_ADMIN;
    else
        return -EINVAL;
    return 0;
}

const char *auth_role_name(enum auth_role role)
{
    return role == AUTH_ROLE_ADMIN ? "ADMIN" : "USER";
}

int auth_principal_build(const char *user_id, const char *email, enum auth_role role,
                         struct jwt_principal *ret)
{
    struct jwt_principal p;

    memset(&p, 0, sizeof(p));
    if (!user_id || !*user_id || !email)
        return -EINVAL;
    if (util_strlcpy(p.sub, user_id, sizeof(p.sub)) >= sizeof(p.sub) ||
        util_strlcpy(p.email, email, sizeof(p.email)) >= sizeof(p.email))
        return -EINVAL;
    p.roles = role == AUTH_ROLE_ADMIN ? JWT_ROLE_ADMIN : JWT_ROLE_USER;
    *ret = p;
    return 0;
}

enum auth_refresh_decision auth_refresh_decide(const struct auth_refresh_state *s, int64_t now)
{
    if (s->revoked)
        return AUTH_REFRESH_REVOKED;
    if (s->used)
        return AUTH_REFRESH_REUSED;
    if (s->expires_at <= now)
        return AUTH_REFRESH_EXPIRED;
    return AUTH_REFRESH_VALID;
}

int64_t auth_login_delay(const struct auth_login_limits *lim, long failures)
{
    int64_t delay = lim->delay_base_s;

    if (failures < lim->free_attempts)
        return 0;
    /* doubling stops at the cap: no overflow however many failures */
    for (long k = lim->free_attempts; k < failures && delay < lim->delay_max_s; k++)
        delay *= 2;
    return delay < lim->delay_max_s ? delay : lim->delay_max_s;
}

int64_t auth_login_reserve(const struct auth_login_limits *lim, struct auth_login_pair *pair,
                           struct auth_login_ip *ip, int64_t now)
{
    struct auth_login_pair p = *pair;
    struct auth_login_ip a = *ip;
    int64_t wait = 0;

    if (p.last_at && now - p.last_at >= AUTH_LOGIN_FORGET_S)
        p.failures = 0;
    if (now - a.window_start >= 60 || now < a.window_start) {
        a.window_start = now;
        a.attempts = 0;
    }
    if (p.failures >= lim->free_attempts) {
        int64_t until = p.last_at + auth_login_delay(lim, p.failures);
        if (until > now)
            wait = until - now;
    }
    if (a.attempts >= lim->ip_max_per_minute) {
        int64_t until = a.window_start + 60;
        if (until - now > wait)
            wait = until - now;
    }
    if (wait > 0)
        return wait;
    p.failures++;
    p.last_at = now;
    a.attempts++;
    *pair = p;
    *ip = a;
    return 0;
}
