/*
 * http_coupons.c - /api/coupons (ADMIN): create a coupon, read one with its use count. The
 * rules a new coupon must follow are coupon.c's; orders use coupons in the saga step (saga.c).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "common/jsonx.h"
#include "common/log.h"
#include "common/util.h"
#include "coupon.h"
#include "store_coupon.h"

#define TIME_MAX 64

static void add_num_or_null(cJSON *j, const char *name, long long v)
{
    if (v)
        cJSON_AddNumberToObject(j, name, (double)v);
    else
        cJSON_AddNullToObject(j, name);
}

static void add_time_or_null(cJSON *j, const char *name, long long ms)
{
    char ts[40];

    if (ms) {
        util_rfc3339(ms, ts, sizeof(ts));
        cJSON_AddStringToObject(j, name, ts);
    } else {
        cJSON_AddNullToObject(j, name);
    }
}

static cJSON *coupon_json(const struct coupon *c)
{
    cJSON *j = cJSON_CreateObject();

    if (!j)
        return NULL;
    cJSON_AddStringToObject(j, "code", c->code);
    cJSON_AddStringToObject(j, "type", c->kind == COUPON_PERCENT ? "PERCENT" : "FIXED");
    add_num_or_null(j, "amount", c->kind == COUPON_FIXED ? c->value : 0);
    add_num_or_null(j, "percent", c->kind == COUPON_PERCENT ? c->value : 0);
    cJSON_AddNumberToObject(j, "minOrderAmount", (double)c->min_order);
    add_time_or_null(j, "validFrom", c->valid_from_ms);
    add_time_or_null(j, "validUntil", c->valid_until_ms);
    add_num_or_null(j, "totalLimit", c->total_limit);
    add_num_or_null(j, "perUserLimit", c->per_user_limit);
    cJSON_AddNumberToObject(j, "used", (double)c->used);
    return j;
}

/* An optional RFC 3339 field into *@ret_ms (left 0 when absent). */
static void parse_time(const cJSON *body, const char *name, long long *ret_ms, cJSON **errors)
{
    const char *s = NULL;

    if (jsonx_str(body, name, name, false, TIME_MAX, &s, errors) == 0 &&
        coupon_parse_time(s, ret_ms) < 0)
        jsonx_field_error(errors, name, "must be an RFC 3339 date-time, e.g. 2026-01-01T00:00:00Z");
}

/* The request's coupon into @c; field errors go to @errors. */
static void parse_coupon(const cJSON *body, struct coupon *c, cJSON **errors)
{
    struct coupon_error errs[16];
    const char *code = NULL;
    long long amount = 0, percent = 0;
    int has_amount, has_percent;
    size_t n;

    memset(c, 0, sizeof(*c));
    /* a code too long for the struct is judged as "" (coupon_code_valid() names the rule) */
    if (jsonx_str(body, "code", "code", true, 256, &code, errors) == 0 &&
        strlen(code) <= COUPON_CODE_MAX)
        util_strlcpy(c->code, code, sizeof(c->code));
    has_amount = jsonx_int(body, "amount", "amount", false, INT64_MIN, INT64_MAX, &amount, errors);
    has_percent =
        jsonx_int(body, "percent", "percent", false, INT64_MIN, INT64_MAX, &percent, errors);
    if (has_amount == -ENOENT && has_percent == -ENOENT)
        jsonx_field_error(errors, "amount", "one of amount (KRW) and percent is required");
    else if (has_amount != -ENOENT && has_percent != -ENOENT)
        jsonx_field_error(errors, "percent", "give either amount or percent, not both");
    c->kind = has_percent != -ENOENT ? COUPON_PERCENT : COUPON_FIXED;
    c->value = c->kind == COUPON_PERCENT ? percent : amount;
    jsonx_int(body, "minOrderAmount", "minOrderAmount", false, INT64_MIN, INT64_MAX, &c->min_order,
              errors);
    parse_time(body, "validFrom", &c->valid_from_ms, errors);
    parse_time(body, "validUntil", &c->valid_until_ms, errors);
    /* 0 would mean "no limit" below: a limit that is given must be at least 1 */
    jsonx_int(body, "totalLimit", "totalLimit", false, 1, COUPON_LIMIT_MAX, &c->total_limit,
              errors);
    jsonx_int(body, "perUserLimit", "perUserLimit", false, 1, COUPON_LIMIT_MAX, &c->per_user_limit,
              errors);
    if (*errors)
        return; /* the rules below judge values of the right types only */
    n = coupon_validate(c, errs, sizeof(errs) / sizeof(errs[0]));
    for (size_t i = 0; i < n; i++)
        jsonx_field_error(errors, errs[i].field, errs[i].message);
}

void http_coupon_create(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct order_app *app = arg;
    struct coupon c;
    struct db_conn *conn;
    cJSON *body, *errors = NULL;
    long long id = 0;
    int rc;

    body = http_json_body(req, resp);
    if (!body)
        return;
    parse_coupon(body, &c, &errors);
    cJSON_Delete(body);
    if (errors) {
        http_reply_problem(resp, 400, "ORDER-400-001", errors, "invalid coupon");
        return;
    }
    conn = order_http_acquire(app, resp);
    if (!conn)
        return;
    rc = store_coupon_insert(conn, &c, req->principal->sub, &id);
    db_release(app->pool, conn);
    if (rc == -EEXIST) {
        http_reply_problem(resp, 409, "ORDER-409-006", NULL, "coupon '%s' exists already", c.code);
        return;
    }
    if (rc < 0) {
        order_http_store_error(resp, rc, "create a coupon");
        return;
    }
    c.id = id;
    log_info("coupon '%s' created by '%s'", c.code, req->principal->sub);
    http_reply_json(resp, 201, coupon_json(&c));
    snprintf(resp->location, sizeof(resp->location), "/api/coupons/%s", c.code);
}

void http_coupon_get(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct order_app *app = arg;
    const char *code = http_param(req, "code");
    struct coupon c;
    struct db_conn *conn;
    int rc;

    if (!coupon_code_valid(code)) {
        http_reply_problem(resp, 404, "ORDER-404-002", NULL, "no such coupon");
        return;
    }
    conn = order_http_acquire(app, resp);
    if (!conn)
        return;
    rc = store_coupon_get(conn, code, &c);
    db_release(app->pool, conn);
    if (rc == -ENOENT)
        http_reply_problem(resp, 404, "ORDER-404-002", NULL, "coupon '%s' not found", code);
    else if (rc < 0)
        order_http_store_error(resp, rc, "read a coupon");
    else
        http_reply_json(resp, 200, coupon_json(&c));
}
