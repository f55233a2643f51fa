/* user.c - user-service domain rules (see user.h). */
#include "user.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const status_names[] = {
    [USER_ACTIVE] = "ACTIVE",
    [USER_INACTIVE] = "INACTIVE",
    [USER_BLOCKED] = "BLOCKED",
};

/* Number of UTF-8 code points in @s, or -1 if @s is not valid UTF-8 or holds a control
 * character (C0, DEL). Overlong forms and surrogates are refused. */
static long utf8_count(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    long n = 0;

    while (*p) {
        unsigned c = *p;
        size_t len;
        unsigned cp;

        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return -1;
            p++;
            n++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return -1;
        }
        for (size_t i = 1; i < len; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return -1;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0))
            return -1;
        p += len;
        n++;
    }
    return n;
}

static bool is_atext(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL;
}

static bool is_label_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

/* A pragmatic address shape: local@domain, ASCII only, a dot-atom local part without leading,
 * trailing or doubled dots, and a domain of at least two labels (letters, digits, inner
 * hyphens). Quoted local parts and address literals are refused on purpose. */
const char *user_check_email(const char *s)
{
    const char *at, *label;
    size_t len, local;

    if (!s || !*s)
        return "is required";
    len = strlen(s);
    if (len > USER_EMAIL_MAX)
        return "must be at most 254 characters";
    at = strchr(s, '@');
    if (!at || strchr(at + 1, '@'))
        return "must be an email address";
    local = (size_t)(at - s);
    if (local == 0 || local > USER_EMAIL_LOCAL_MAX || s[0] == '.' || at[-1] == '.')
        return "must be an email address";
    for (const char *p = s; p < at; p++) {
        if (!is_atext(*p) || (*p == '.' && p[1] == '.'))
            return "must be an email address";
    }
    label = at + 1;
    if (!strchr(label, '.'))
        return "must be an email address";
    for (;;) {
        const char *end = strchr(label, '.');
        size_t llen = end ? (size_t)(end - label) : strlen(label);

        if (llen == 0 || llen > 63 || label[0] == '-' || label[llen - 1] == '-')
            return "must be an email address";
        for (size_t i = 0; i < llen; i++) {
            if (!is_label_char(label[i]))
                return "must be an email address";
        }
        if (!end)
            break;
        label = end + 1;
    }
    return NULL;
}

const char *user_check_password(const char *s)
{
    size_t len;

    if (!s || !*s)
        return "is required";
    len = strlen(s);
    if (len < USER_PASSWORD_MIN || len > USER_PASSWORD_MAX)
        return "must be 8 to 72 bytes long";
    return NULL;
}

const char *user_check_name(const char *s)
{
    long n;
    bool blank = true;

    if (!s || !*s)
        return "is required";
    n = utf8_count(s);
    if (n < 0)
        return "must be text without control characters";
    if (n > USER_NAME_MAX)
        return "must be at most 50 characters";
    for (const char *p = s; *p; p++) {
        if (*p != ' ')
            blank = false;
    }
    if (blank)
        return "must not be blank";
    return NULL;
}

const char *user_check_phone(const char *s)
{
    if (!s || !*s)
        return "is required";
    if (strlen(s) != USER_PHONE_LEN || strncmp(s, "010-", 4) != 0 || s[8] != '-')
        return "must look like 010-XXXX-XXXX";
    for (size_t i = 4; i < USER_PHONE_LEN; i++) {
        if (i != 8 && (s[i] < '0' || s[i] > '9'))
            return "must look like 010-XXXX-XXXX";
    }
    return NULL;
}

static void add_error(struct user_error *errs, size_t maxerr, size_t *nerr, const char *field,
                      const char *message)
{
    if (!message)
        return;
    if (*nerr < maxerr) {
        snprintf(errs[*nerr].field, sizeof(errs[*nerr].field), "%s", field);
        snprintf(errs[*nerr].message, sizeof(errs[*nerr].message), "%s", message);
    }
    (*nerr)++;
}

static enum user_outcome finish(size_t maxerr, size_t *nerr)
{
    if (*nerr > maxerr)
        *nerr = maxerr;
    return *nerr ? USER_INVALID : USER_OK;
}

enum user_outcome user_validate_signup(const struct user_signup *s, struct user_error *errs,
                                       size_t maxerr, size_t *nerr)
{
    *nerr = 0;
    add_error(errs, maxerr, nerr, "email", user_check_email(s->email));
    add_error(errs, maxerr, nerr, "password", user_check_password(s->password));
    add_error(errs, maxerr, nerr, "name", user_check_name(s->name));
    add_error(errs, maxerr, nerr, "phone", user_check_phone(s->phone));
    return finish(maxerr, nerr);
}

enum user_outcome user_validate_update(const char *name, const char *phone, bool has_status,
                                       struct user_error *errs, size_t maxerr, size_t *nerr)
{
    *nerr = 0;
    if (!name && !phone && !has_status) {
        add_error(errs, maxerr, nerr, "body", "nothing to change");
        return finish(maxerr, nerr);
    }
    if (name)
        add_error(errs, maxerr, nerr, "name", user_check_name(name));
    if (phone)
        add_error(errs, maxerr, nerr, "phone", user_check_phone(phone));
    return finish(maxerr, nerr);
}

const char *user_status_name(enum user_status status)
{
    if ((unsigned)status >= sizeof(status_names) / sizeof(status_names[0]))
        return NULL;
    return status_names[status];
}

int user_status_parse(const char *s, enum user_status *ret_status)
{
    if (!s)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++) {
        if (strcmp(s, status_names[i]) == 0) {
            *ret_status = (enum user_status)i;
            return 0;
        }
    }
    return -EINVAL;
}

enum user_outcome user_status_change(enum user_status from, enum user_status to, bool by_admin)
{
    if (from == to)
        return USER_NOOP;
    if (by_admin)
        return USER_OK;
    return from == USER_ACTIVE && to == USER_INACTIVE ? USER_OK : USER_FORBIDDEN;
}

bool user_can_access(const char *sub, bool is_admin, const char *id)
{
    if (is_admin)
        return true;
    return sub && id && *sub && strcmp(sub, id) == 0;
}
