/* jsonx.c - typed reads of JSON request fields with field errors (see jsonx.h). */
#include "common/jsonx.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/http.h"

static const cJSON *lookup(const cJSON *obj, const char *key, const char *field, bool required,
                           cJSON **errors, int *rc)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    *rc = 0;
    if (!v || cJSON_IsNull(v)) {
        if (required) {
            http_field_error(errors, field, "is required");
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
        http_field_error(errors, field, "must be a string");
        return -EINVAL;
    }
    if (strlen(v->valuestring) > maxlen) {
        char msg[64];
        snprintf(msg, sizeof(msg), "must be at most %zu characters", maxlen);
        http_field_error(errors, field, msg);
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
        http_field_error(errors, field, "must be a number");
        return -EINVAL;
    }
    d = v->valuedouble;
    if (!isfinite(d) || d != floor(d)) {
        http_field_error(errors, field, "must be a whole number");
        return -EINVAL;
    }
    if (d < (double)lo || d > (double)hi) {
        char msg[96];
        snprintf(msg, sizeof(msg), "must be between %lld and %lld", lo, hi);
        http_field_error(errors, field, msg);
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
        http_field_error(errors, field, "must be an array");
        return -EINVAL;
    }
    if ((size_t)cJSON_GetArraySize(v) > maxlen) {
        char msg[64];
        snprintf(msg, sizeof(msg), "must have at most %zu items", maxlen);
        http_field_error(errors, field, msg);
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
