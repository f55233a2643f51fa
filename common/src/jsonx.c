/* jsonx.c - typed reads of JSON request fields with field errors (see jsonx.h). */
#include "common/jsonx.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jsonx_field_error(cJSON **errors, const char *field, const char *message)
{
    cJSON *item;

    if (!*errors) {
        *errors = cJSON_CreateArray();
        if (!*errors)
            return;
    }
    item = cJSON_CreateObject();
    if (!item)
        return;
    cJSON_AddStringToObject(item, "field", field ? field : "");
    cJSON_AddStringToObject(item, "message", message ? message : "");
    cJSON_AddItemToArray(*errors, item);
}

void jsonx_errors_text(const cJSON *errors, char *errbuf, size_t errlen)
{
    const cJSON *e;
    size_t used;

    if (!errbuf || errlen == 0)
        return;
    snprintf(errbuf, errlen, "invalid payload:");
    cJSON_ArrayForEach (e, errors) {
        const cJSON *f = cJSON_GetObjectItem(e, "field");
        const cJSON *m = cJSON_GetObjectItem(e, "message");

        used = strlen(errbuf);
        if (used + 1 >= errlen)
            break;
        snprintf(errbuf + used, errlen - used, " %s: %s;", cJSON_IsString(f) ? f->valuestring : "?",
                 cJSON_IsString(m) ? m->valuestring : "invalid");
    }
}

bool jsonx_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;

    while (p < end) {
        unsigned char c = *p;
        size_t n;
        unsigned cp, min;

        if (c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            n = 1, cp = c & 0x1f, min = 0x80;
        else if (c >= 0xe0 && c <= 0xef)
            n = 2, cp = c & 0x0f, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3, cp = c & 0x07, min = 0x10000;
        else
            return false; /* a continuation byte, an overlong lead (C0, C1) or above F4 */
        if ((size_t)(end - p) <= n)
            return false;
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i] & 0x3f);
        }
        /* overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8 */
        if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return false;
        p += n + 1;
    }
    return true;
}

bool jsonx_has_nul_escape(const char *text, size_t len)
{
    bool in_string = false;

    for (size_t i = 0; i < len; i++) {
        if (!in_string) {
            in_string = text[i] == '"';
        } else if (text[i] == '"') {
            in_string = false;
        } else if (text[i] == '\\') {
            /* an escape: \u0000 is the NUL character; any other escape is skipped whole */
            if (i + 5 < len && text[i + 1] == 'u' && memcmp(text + i + 2, "0000", 4) == 0)
                return true;
            i++;
        }
    }
    return false;
}

static const cJSON *lookup(const cJSON *obj, const char *key, const char *field, bool required,
                           cJSON **errors, int *rc)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    *rc = 0;
    if (!v || cJSON_IsNull(v)) {
        if (required) {
            jsonx_field_error(errors, field, "is required");
            *rc = -EINVAL;
        } else {
            *rc = -ENOENT;
        }
        return NULL;
    }
    return v;
}

int jsonx_str(const cJSON *obj, const char *key, const char *field, bool required, size_t maxlen,
              const char **ret, cJSON **errors)
{
    int rc;
    const cJSON *v = lookup(obj, key, field, required, errors, &rc);

    if (!v)
        return rc;
    if (!cJSON_IsString(v)) {
        jsonx_field_error(errors, field, "must be a string");
        return -EINVAL;
    }
    if (strlen(v->valuestring) > maxlen) {
        char msg[64];
        snprintf(msg, sizeof(msg), "must be at most %zu characters", maxlen);
        jsonx_field_error(errors, field, msg);
        return -EINVAL;
    }
    /* cJSON passes any bytes through: refused here, not by the database as a 500 */
    if (!jsonx_utf8_valid(v->valuestring, strlen(v->valuestring))) {
        jsonx_field_error(errors, field, "must be valid UTF-8");
        return -EINVAL;
    }
    *ret = v->valuestring;
    return 0;
}

int jsonx_int(const cJSON *obj, const char *key, const char *field, bool required, long long lo,
              long long hi, long long *ret, cJSON **errors)
{
    int rc;
    const cJSON *v = lookup(obj, key, field, required, errors, &rc);
    double d;

    if (!v)
        return rc;
    if (!cJSON_IsNumber(v)) {
        jsonx_field_error(errors, field, "must be a number");
        return -EINVAL;
    }
    d = v->valuedouble;
    if (!isfinite(d) || d != floor(d)) {
        jsonx_field_error(errors, field, "must be a whole number");
        return -EINVAL;
    }
    /* a double holds integers exactly only up to 2^53: beyond, 2^63 - 1 reads as 2^63 and
     * would wrap when converted, so the range is clamped to what is exact */
    if (hi > JSONX_INT_EXACT_MAX)
        hi = JSONX_INT_EXACT_MAX;
    if (lo < -JSONX_INT_EXACT_MAX)
        lo = -JSONX_INT_EXACT_MAX;
    if (d < (double)lo || d > (double)hi) {
        char msg[96];
        snprintf(msg, sizeof(msg), "must be between %lld and %lld", lo, hi);
        jsonx_field_error(errors, field, msg);
        return -EINVAL;
    }
    *ret = (long long)d;
    return 0;
}

int jsonx_array(const cJSON *obj, const char *key, const char *field, bool required, size_t maxlen,
                const cJSON **ret, cJSON **errors)
{
    int rc;
    const cJSON *v = lookup(obj, key, field, required, errors, &rc);

    if (!v)
        return rc;
    if (!cJSON_IsArray(v)) {
        jsonx_field_error(errors, field, "must be an array");
        return -EINVAL;
    }
    if ((size_t)cJSON_GetArraySize(v) > maxlen) {
        char msg[64];
        snprintf(msg, sizeof(msg), "must have at most %zu items", maxlen);
        jsonx_field_error(errors, field, msg);
        return -EINVAL;
    }
    *ret = v;
    return 0;
}

int jsonx_parse_id(const char *s, long long *ret)
{
    char *end;
    long long v;

    if (!s || *s < '1' || *s > '9' || strlen(s) > 19)
        return -EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || v <= 0)
        return -EINVAL;
    *ret = v;
    return 0;
}
