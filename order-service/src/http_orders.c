/*
 * http_orders.c - /api/orders: place (prices from the local copy, the discount only from a
 * coupon, Idempotency-Key honoured, order.placed through the outbox), list own orders, read one
 * (owner or ADMIN), cancel and refund (owner). Another user's order answers 404 ORDER-404-001,
 * so ids cannot be probed.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "common/jsonx.h"
#include "common/log.h"
#include "coupon.h"
#include "order.h"
#include "store_order.h"

#define PAGE_SIZE_MAX 100

void order_http_store_error(struct http_resp *resp, int rc, const char *what)
{
    if (db_transient(rc)) {
        http_reply_problem(resp, 503, "ORDER-503-001", NULL,
                           "database unavailable, try again later");
        log_warnx("failed to %s: database unavailable (%d)", what, rc);
    } else {
        http_reply_problem(resp, 500, "ORDER-500-001", NULL, "internal error");
        log_errorx("failed to %s: %d", what, rc);
    }
}

struct db_conn *order_http_acquire(struct order_app *app, struct http_resp *resp)
{
    char err[256];
    struct db_conn *conn = db_acquire(app->pool, err, sizeof(err));

    if (!conn) {
        http_reply_problem(resp, 503, "ORDER-503-001", NULL,
                           "database unavailable, try again later");
        log_warnx("no database connection: %s", err);
    }
    return conn;
}

static void reply_not_found(struct http_resp *resp, const char *id)
{
    http_reply_problem(resp, 404, "ORDER-404-001", NULL, "order '%.64s' not found", id);
}

static void add_str_or_null(cJSON *j, const char *name, const char *value)
{
    if (value)
        cJSON_AddStringToObject(j, name, value);
    else
        cJSON_AddNullToObject(j, name);
}

/* One order row (ORDER_COLS) as JSON, without items and history. */
static cJSON *order_summary(const struct db_result *res, size_t r)
{
    cJSON *j = cJSON_CreateObject();

    if (!j)
        return NULL;
    cJSON_AddStringToObject(j, "id", db_result_get(res, r, ORD_ID));
    cJSON_AddStringToObject(j, "orderId", db_result_get(res, r, ORD_ID));
    cJSON_AddStringToObject(j, "userId", db_result_get(res, r, ORD_USER));
    cJSON_AddStringToObject(j, "status", db_result_get(res, r, ORD_STATUS));
    cJSON_AddNumberToObject(j, "totalAmount", (double)db_result_int(res, r, ORD_TOTAL));
    cJSON_AddNumberToObject(j, "discountAmount", (double)db_result_int(res, r, ORD_DISCOUNT));
    cJSON_AddNumberToObject(j, "payableAmount", (double)db_result_int(res, r, ORD_PAYABLE));
    add_str_or_null(j, "paymentId", db_result_get(res, r, ORD_PAYMENT_ID));
    add_str_or_null(j, "cancelReason", db_result_get(res, r, ORD_CANCEL_REASON));
    cJSON_AddStringToObject(j, "createdAt", db_result_get(res, r, ORD_CREATED));
    cJSON_AddStringToObject(j, "updatedAt", db_result_get(res, r, ORD_UPDATED));
    cJSON_AddNumberToObject(j, "version", (double)db_result_int(res, r, ORD_VERSION));
    add_str_or_null(j, "couponCode", db_result_get(res, r, ORD_COUPON));
    return j;
}

/* The order with items and history; with @user (non-NULL) -ENOENT unless it is @user's. */
static int order_json(struct db_conn *conn, const char *id, const char *user, cJSON **ret)
{
    struct db_result *ord = NULL, *items = NULL, *hist = NULL;
    cJSON *j = NULL, *arr;
    int rc;

    rc = store_order_get(conn, id, &ord);
    if (rc < 0)
        goto out;
    if (user && strcmp(db_result_get(ord, 0, ORD_USER), user) != 0) {
        rc = -ENOENT;
        goto out;
    }
    rc = store_order_items(conn, id, 0, &items);
    if (rc == 0)
        rc = store_order_history(conn, id, &hist);
    if (rc < 0)
        goto out;
    rc = -ENOMEM;
    j = order_summary(ord, 0);
    if (!j)
        goto out;
    arr = cJSON_AddArrayToObject(j, "items");
    for (size_t r = 0; arr && r < db_result_rows(items); r++) {
        cJSON *it = cJSON_CreateObject();

        if (!it)
            goto out;
        cJSON_AddItemToArray(arr, it);
        cJSON_AddNumberToObject(it, "id", (double)db_result_int(items, r, ITEM_ID));
        cJSON_AddNumberToObject(it, "orderItemId", (double)db_result_int(items, r, ITEM_ID));
        cJSON_AddNumberToObject(it, "skuId", (double)db_result_int(items, r, ITEM_SKU));
        cJSON_AddNumberToObject(it, "quantity", (double)db_result_int(items, r, ITEM_QUANTITY));
        cJSON_AddNumberToObject(it, "unitPrice", (double)db_result_int(items, r, ITEM_UNIT_PRICE));
        cJSON_AddNumberToObject(it, "lineTotal", (double)db_result_int(items, r, ITEM_LINE_TOTAL));
        cJSON_AddNumberToObject(it, "discountAmount",
                                (double)db_result_int(items, r, ITEM_DISCOUNT));
        cJSON_AddNumberToObject(it, "amount", (double)db_result_int(items, r, ITEM_AMOUNT));
        cJSON_AddBoolToObject(it, "refunded", db_result_int(items, r, ITEM_REFUNDED) != 0);
    }
    arr = cJSON_AddArrayToObject(j, "history");
    for (size_t r = 0; arr && r < db_result_rows(hist); r++) {
        cJSON *h = cJSON_CreateObject();

        if (!h)
            goto out;
        cJSON_AddItemToArray(arr, h);
        add_str_or_null(h, "fromStatus", db_result_get(hist, r, HIST_FROM));
        cJSON_AddStringToObject(h, "toStatus", db_result_get(hist, r, HIST_TO));
        add_str_or_null(h, "reason", db_result_get(hist, r, HIST_REASON));
        add_str_or_null(h, "eventId", db_result_get(hist, r, HIST_EVENT));
        cJSON_AddStringToObject(h, "createdAt", db_result_get(hist, r, HIST_CREATED));
    }
    *ret = j;
    j = NULL;
    rc = 0;
out:
    cJSON_Delete(j);
    db_result_free(hist);
    db_result_free(items);
    db_result_free(ord);
    return rc;
}

/* Replies @status with the order @id (or an error). */
static void reply_order(struct db_conn *conn, struct http_resp *resp, int status, const char *id,
                        const char *user)
{
    cJSON *j = NULL;
    int rc = order_json(conn, id, user, &j);

    if (rc == -ENOENT)
        reply_not_found(resp, id);
    else if (rc < 0)
        order_http_store_error(resp, rc, "read an order");
    else
        http_reply_json(resp, status, j);
}

static bool is_letter(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
}

/*
 * The optional shippingAddress {recipient, line1, line2?, city, postalCode, country} of an order
 * request (contracts/order.placed/v2.json; the limits here are in bytes, so never looser than
 * the schema's, which count code points): a clean copy with only those fields into *@ret
 * (caller owns: cJSON_Delete; NULL when absent); field errors go to @errors.
 */
static void parse_shipping(const cJSON *body, cJSON **ret, cJSON **errors)
{
    static const struct {
        const char *name, *field;
        bool required;
        size_t min, max;
    } fields[] = {
        {"recipient", "shippingAddress.recipient", true, 1, 200},
        {"line1", "shippingAddress.line1", true, 1, 400},
        {"line2", "shippingAddress.line2", false, 0, 400},
        {"city", "shippingAddress.city", true, 1, 200},
        {"postalCode", "shippingAddress.postalCode", true, 1, 20},
        {"country", "shippingAddress.country", true, 2, 2},
    };
    const cJSON *addr = cJSON_GetObjectItemCaseSensitive(body, "shippingAddress");
    cJSON *out;

    *ret = NULL;
    if (!addr || cJSON_IsNull(addr))
        return;
    if (!cJSON_IsObject(addr)) {
        jsonx_field_error(errors, "shippingAddress", "must be an object");
        return;
    }
    out = cJSON_CreateObject();
    if (!out) {
        jsonx_field_error(errors, "shippingAddress", "out of memory");
        return;
    }
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const char *v = NULL;

        if (jsonx_str(addr, fields[i].name, fields[i].field, fields[i].required, fields[i].max, &v,
                      errors) < 0)
            continue;
        if (strlen(v) < fields[i].min ||
            (fields[i].min == 2 && fields[i].max == 2 && !(is_letter(v[0]) && is_letter(v[1])))) {
            jsonx_field_error(errors, fields[i].field,
                              fields[i].min == fields[i].max ? "must be 2 letters (ISO 3166-1)"
                                                             : "must not be empty");
            continue;
        }
        cJSON_AddStringToObject(out, fields[i].name, v);
    }
    *ret = out;
}

/* Reads the request's lines into @lines; field errors go to @errors. */
static size_t parse_lines(const cJSON *body, struct order_line *lines, cJSON **errors)
{
    const cJSON *arr = NULL, *it;
    char field[64];
    size_t n = 0;

    if (jsonx_array(body, "items", "items", true, ORDER_MAX_ITEMS, &arr, errors) < 0)
        return 0;
    cJSON_ArrayForEach (it, arr) {
        long long sku = 0, qty = 0;

        snprintf(field, sizeof(field), "items[%zu]", n);
        if (!cJSON_IsObject(it)) {
            jsonx_field_error(errors, field, "must be an object");
            n++;
            continue;
        }
        snprintf(field, sizeof(field), "items[%zu].skuId", n);
        jsonx_int(it, "skuId", field, true, 1, INT64_MAX, &sku, errors);
        snprintf(field, sizeof(field), "items[%zu].quantity", n);
        jsonx_int(it, "quantity", field, true, 1, ORDER_MAX_QUANTITY, &qty, errors);
        lines[n].sku_id = sku;
        lines[n].quantity = qty;
        n++;
    }
    if (n == 0)
        jsonx_field_error(errors, "items", "must not be empty");
    return n;
}

/* How a coupon that cannot be used is answered (indexed by enum coupon_verdict). */
static const struct {
    int status;
    const char *code;
    const char *detail; /* "coupon '<code>' …" */
} coupon_refusals[] = {
    [COUPON_UNKNOWN] = {422, "ORDER-422-003", "does not exist"},
    [COUPON_NOT_YET_VALID] = {422, "ORDER-422-004", "is not valid yet"},
    [COUPON_EXPIRED] = {422, "ORDER-422-005", "has expired"},
    [COUPON_BELOW_MINIMUM] = {422, "ORDER-422-006", "needs a higher order total"},
    [COUPON_EXHAUSTED] = {409, "ORDER-409-004", "has no uses left"},
    [COUPON_USER_EXHAUSTED] = {409, "ORDER-409-005", "has no uses left for this user"},
};

static void reply_coupon_refused(struct http_resp *resp, const char *code,
                                 const struct saga_result *step)
{
    enum coupon_verdict v = step->coupon_verdict;

    if ((unsigned)v >= sizeof(coupon_refusals) / sizeof(coupon_refusals[0]) ||
        !coupon_refusals[v].code) {
        order_http_store_error(resp, -EINVAL, "check a coupon"); /* cannot happen */
        return;
    }
    if (v == COUPON_BELOW_MINIMUM)
        http_reply_problem(resp, coupon_refusals[v].status, coupon_refusals[v].code, NULL,
                           "coupon '%s' needs an order total of at least %lld (this order: %lld)",
                           code, step->coupon.min_order, step->totals.total);
    else
        http_reply_problem(resp, coupon_refusals[v].status, coupon_refusals[v].code, NULL,
                           "coupon '%s' %s", code, coupon_refusals[v].detail);
}

/*
 * The discount fields of an order request: a client never names an amount (discountAmount is
 * refused, whatever its value); the optional couponCode into *@ret (borrowed from @body).
 */
static void parse_discount(const cJSON *body, const char **ret, cJSON **errors)
{
    *ret = NULL;
    if (cJSON_GetObjectItemCaseSensitive(body, "discountAmount"))
        jsonx_field_error(errors, "discountAmount",
                          "not accepted: discounts come from coupons (give couponCode)");
    if (jsonx_str(body, "couponCode", "couponCode", false, COUPON_CODE_MAX, ret, errors) == 0 &&
        !coupon_code_valid(*ret)) {
        jsonx_field_error(errors, "couponCode", COUPON_CODE_RULE);
        *ret = NULL;
    }
}

void http_order_create(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct order_app *app = arg;
    const char *user = req->principal->sub;
    const char *key = http_header(req, "Idempotency-Key");
    struct order_line lines[ORDER_MAX_ITEMS];
    struct order_totals totals;
    struct saga_result step;
    char id[UTIL_UUID_LEN], location[96], coupon[COUPON_CODE_MAX + 1] = "";
    const char *coupon_code = NULL;
    long long missing = 0;
    cJSON *body, *errors = NULL, *shipping = NULL;
    struct db_conn *conn = NULL;
    size_t n;
    int rc;

    memset(lines, 0, sizeof(lines));
    body = http_json_body(req, resp);
    if (!body)
        return;
    n = parse_lines(body, lines, &errors);
    parse_discount(body, &coupon_code, &errors);
    if (coupon_code)
        util_strlcpy(coupon, coupon_code, sizeof(coupon)); /* the body is freed below */
    parse_shipping(body, &shipping, &errors);
    cJSON_Delete(body);
    if (key && (!*key || strlen(key) > ORDER_IDEM_KEY_MAX))
        jsonx_field_error(&errors, "Idempotency-Key", "must be 1..128 characters");
    if (errors) {
        http_reply_problem(resp, 400, "ORDER-400-001", errors, "invalid order");
        cJSON_Delete(shipping);
        return;
    }
    conn = order_http_acquire(app, resp);
    if (!conn) {
        cJSON_Delete(shipping);
        return;
    }
    if (key) {
        rc = store_order_by_key(conn, user, key, id);
        if (rc == 0) {
            reply_order(conn, resp, 200, id, NULL); /* the same order again */
            goto out;
        }
        if (rc != -ENOENT) {
            order_http_store_error(resp, rc, "look up an idempotency key");
            goto out;
        }
    }
    rc = store_prices(conn, lines, n, &missing);
    if (rc == -ENOENT) {
        http_reply_problem(resp, 422, "ORDER-422-001", NULL, "unknown SKU %lld", missing);
        goto out;
    }
    if (rc < 0) {
        order_http_store_error(resp, rc, "read prices");
        goto out;
    }
    rc = order_price(lines, n, 0, &totals); /* the step prices again, with the coupon */
    if (rc < 0) {
        jsonx_field_error(&errors, "items",
                          rc == -E2BIG ? "order total too large" : "invalid amounts");
        http_reply_problem(resp, 400, "ORDER-400-001", errors, "invalid order");
        goto out;
    }
    util_uuid(id);
    {
        struct saga_input in = {.in = ORDER_IN_PLACE,
                                .order_id = id,
                                .ctx = &req->ctx,
                                .event_id = req->ctx.message_id,
                                .user = user,
                                .idem_key = key,
                                .lines = lines,
                                .nlines = n,
                                .coupon_code = coupon[0] ? coupon : NULL,
                                .shipping = shipping};

        rc = order_saga_step(conn, &in, &step);
    }
    /* a concurrent request with the same key won the unique index, or took the coupon's last
     * use for this very order: the same order again */
    if ((rc == -EEXIST || (rc == 0 && step.coupon_verdict != COUPON_OK)) && key &&
        store_order_by_key(conn, user, key, id) == 0) {
        reply_order(conn, resp, 200, id, NULL);
        goto out;
    }
    if (rc == 0 && step.coupon_verdict != COUPON_OK) {
        reply_coupon_refused(resp, coupon, &step);
        goto out;
    }
    if (rc == 0 && step.out.verdict != ORDER_APPLIED)
        rc = -EINVAL; /* INIT always takes ORDER_IN_PLACE: cannot happen */
    if (rc < 0) {
        order_http_store_error(resp, rc, "create an order");
        goto out;
    }
    snprintf(location, sizeof(location), "/api/orders/%s", id);
    reply_order(conn, resp, 201, id, NULL);
    if (resp->status == 201)
        util_strlcpy(resp->location, location, sizeof(resp->location));
out:
    cJSON_Delete(shipping);
    db_release(app->pool, conn);
}

void http_order_list(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct order_app *app = arg;
    struct db_result *res = NULL;
    struct db_conn *conn;
    long page, size;
    long long total = 0;
    cJSON *out, *content;
    int rc;

    page = http_query_long(req, resp, "page", 0, 0, 1000000);
    if (page < 0)
        return;
    size = http_query_long(req, resp, "size", 20, 1, PAGE_SIZE_MAX);
    if (size < 0)
        return;
    conn = order_http_acquire(app, resp);
    if (!conn)
        return;
    rc = store_order_list(conn, req->principal->sub, (long long)page * size, size, &res, &total);
    db_release(app->pool, conn);
    if (rc < 0) {
        order_http_store_error(resp, rc, "list orders");
        return;
    }
    out = cJSON_CreateObject();
    content = cJSON_AddArrayToObject(out, "content");
    for (size_t r = 0; content && r < db_result_rows(res); r++)
        cJSON_AddItemToArray(content, order_summary(res, r));
    cJSON_AddNumberToObject(out, "page", (double)page);
    cJSON_AddNumberToObject(out, "size", (double)size);
    cJSON_AddNumberToObject(out, "totalElements", (double)total);
    cJSON_AddNumberToObject(out, "totalPages", (double)((total + size - 1) / size));
    db_result_free(res);
    http_reply_json(resp, 200, out);
}

/* The {id} path parameter when it can name an order, else NULL after a 404. */
static const char *order_param(struct http_req *req, struct http_resp *resp)
{
    const char *id = http_param(req, "id");

    if (!id || !util_is_uuid(id)) {
        reply_not_found(resp, id ? id : "");
        return NULL;
    }
    return id;
}

void http_order_get(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct order_app *app = arg;
    const char *id = order_param(req, resp);
    struct db_conn *conn;

    if (!id)
        return;
    conn = order_http_acquire(app, resp);
    if (!conn)
        return;
    reply_order(conn, resp, 200, id,
                (req->principal->roles & JWT_ROLE_ADMIN) ? NULL : req->principal->sub);
    db_release(app->pool, conn);
}

/* Replies to a failed step @rc of @step (@what: what the caller tried). */
static void reply_step_error(struct http_resp *resp, int rc, const struct saga_result *step,
                             const char *id, const char *what)
{
    if (rc == -ENOENT)
        reply_not_found(resp, id);
    else
        order_http_store_error(resp, rc, step->failed ? step->failed : what);
}

void http_order_cancel(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct order_app *app = arg;
    const char *id = order_param(req, resp);
    struct saga_result step;
    struct db_conn *conn;
    int rc;

    if (!id)
        return;
    conn = order_http_acquire(app, resp);
    if (!conn)
        return;
    {
        struct saga_input in = {.in = ORDER_IN_USER_CANCEL,
                                .order_id = id,
                                .owner = req->principal->sub,
                                .ctx = &req->ctx,
                                .event_id = req->ctx.message_id,
                                .note = "USER_CANCEL"};

        rc = order_saga_step(conn, &in, &step);
    }
    if (rc < 0)
        reply_step_error(resp, rc, &step, id, "cancel an order");
    else if (step.out.verdict == ORDER_REFUSED)
        http_reply_problem(resp, 409, "ORDER-409-001", NULL,
                           "an order in status %s cannot be cancelled",
                           order_status_name(step.order.st.status));
    else /* applied, or cancelled already: answer as the first time */
        reply_order(conn, resp, 200, id, NULL);
    db_release(app->pool, conn);
}

/* Reads itemIds: 1..ORDER_MAX_ITEMS distinct positive integers. */
static size_t parse_item_ids(const cJSON *body, long long *ids, cJSON **errors)
{
    const cJSON *arr = NULL, *it;
    char field[48];
    size_t n = 0;

    if (jsonx_array(body, "itemIds", "itemIds", true, ORDER_MAX_ITEMS, &arr, errors) < 0)
        return 0;
    cJSON_ArrayForEach (it, arr) {
        double v = cJSON_IsNumber(it) ? it->valuedouble : 0;
        long long parsed = 0;

        snprintf(field, sizeof(field), "itemIds[%zu]", n);
        /* ids are integers; a decimal string is read tolerantly */
        if (cJSON_IsString(it) && jsonx_parse_id(it->valuestring, &parsed) == 0) {
            ids[n] = parsed;
        } else if (cJSON_IsNumber(it) && v >= 1 && v <= 9007199254740991.0 &&
                   v == (double)(long long)v) {
            ids[n] = (long long)v;
        } else {
            jsonx_field_error(errors, field, "must be a positive integer");
            ids[n++] = 0;
            continue;
        }
        for (size_t k = 0; k < n; k++) {
            if (ids[k] == ids[n]) {
                jsonx_field_error(errors, field, "is listed twice");
                break;
            }
        }
        n++;
    }
    if (n == 0)
        jsonx_field_error(errors, "itemIds", "must not be empty");
    return n;
}

void http_order_refund(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct order_app *app = arg;
    const char *id = order_param(req, resp);
    long long ids[ORDER_MAX_ITEMS];
    struct saga_result step;
    struct db_conn *conn = NULL;
    cJSON *body, *errors = NULL, *j = NULL;
    size_t n;
    int rc;

    if (!id)
        return;
    body = http_json_body(req, resp);
    if (!body)
        return;
    n = parse_item_ids(body, ids, &errors);
    cJSON_Delete(body);
    if (errors) {
        http_reply_problem(resp, 400, "ORDER-400-001", errors, "invalid refund");
        return;
    }
    conn = order_http_acquire(app, resp);
    if (!conn)
        return;
    {
        struct saga_input in = {.in = ORDER_IN_REFUND,
                                .order_id = id,
                                .owner = req->principal->sub,
                                .ctx = &req->ctx,
                                .event_id = req->ctx.message_id,
                                .note = "REFUND",
                                .item_ids = ids,
                                .nitem_ids = n};

        rc = order_saga_step(conn, &in, &step);
    }
    if (rc == 0 && step.refund_rc == 0 && step.out.verdict != ORDER_APPLIED)
        rc = -EINVAL; /* the refund plan allows what order_apply() applies: cannot happen */
    if (rc < 0) {
        reply_step_error(resp, rc, &step, id, "refund an order");
        goto out;
    }
    switch (step.refund_rc) {
    case 0:
        break;
    case -EPERM:
        http_reply_problem(resp, 409, "ORDER-409-002", NULL,
                           "an order in status %s cannot be refunded",
                           order_status_name(step.order.st.status));
        goto out;
    case -EALREADY:
        http_reply_problem(resp, 409, "ORDER-409-003", NULL, "item %lld is already refunded",
                           step.refund.item);
        goto out;
    default: /* -ENOENT (-EINVAL: parse_item_ids() refuses ids listed twice) */
        http_reply_problem(resp, 422, "ORDER-422-002", NULL, "item %lld is not part of order '%s'",
                           step.refund.item, id);
        goto out;
    }
    log_info("order '%s': refund '%s' of %zu items, %lld", id, step.refund_id, n,
             step.refund.amount);
    rc = order_json(conn, id, NULL, &j);
    if (rc < 0) {
        order_http_store_error(resp, rc, "read an order");
        goto out;
    }
    cJSON_AddStringToObject(j, "refundId", step.refund_id);
    cJSON_AddNumberToObject(j, "refundAmount", (double)step.refund.amount);
    http_reply_json(resp, 200, j);
out:
    db_release(app->pool, conn);
}
