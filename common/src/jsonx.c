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
