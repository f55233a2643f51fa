/*
 * http_inventory.c - /api/inventories: read one or many SKUs' stock (public), and the admin
 * increase / decrease of one SKU or of many at once (all or nothing, in one Redis script).
 * A SKU answers {skuId, totalStock, reservedStock, availableStock}, total = available +
 * reserved, all read in one step.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "common/jsonx.h"
#include "common/log.h"
#include "scripts.h"
#include "stock.h"

#define CODE_INVALID "INVENTORY-400-001"
#define CODE_KEY_REUSED "INVENTORY-422-001"
#define CODE_NOT_FOUND "INVENTORY-404-001"
#define CODE_NOT_ENOUGH "INVENTORY-409-001"
#define CODE_INTERNAL "INVENTORY-500-001"
#define CODE_UNAVAILABLE "INVENTORY-503-001"

/* The one table from adjust decisions to HTTP answers. */
static const struct {
    int status;
    const char *code;
    const char *detail; /* %lld: the SKU */
} adjust_answers[] = {
    [STOCK_ADJUST_OK] = {200, NULL, NULL},
    [STOCK_ADJUST_SKU_NOT_FOUND] = {404, CODE_NOT_FOUND, "no stock for sku '%lld'"},
    [STOCK_ADJUST_NOT_ENOUGH] = {409, CODE_NOT_ENOUGH,
                                 "not enough available stock of sku '%lld' to decrease"},
    [STOCK_ADJUST_REPLAYED] = {200, NULL, NULL},
    [STOCK_ADJUST_KEY_REUSED] = {422, CODE_KEY_REUSED,
                                 "this Idempotency-Key was used for a different request"},
};

static void reply_unavailable(struct http_resp *resp, const char *why)
{
    http_reply_problem(resp, 503, CODE_UNAVAILABLE, NULL, "stock store unavailable, try again");
    log_warnx("redis unavailable: %s", why);
}

static void reply_store_error(struct http_resp *resp, int rc, const char *why)
{
    if (rc == -EIO) {
        reply_unavailable(resp, why);
        return;
    }
    http_reply_problem(resp, 500, CODE_INTERNAL, NULL, "internal error");
    log_errorx("stock store error: %s", why);
}

static cJSON *inventory_json(long long sku, const struct stock_counters *c)
{
    cJSON *j = cJSON_CreateObject();

    if (!stock_invariant_ok(c))
        log_errorx("stock invariant broken for sku '%lld': available %lld reserved %lld sold "
                   "%lld returned %lld received %lld",
                   sku, c->available, c->reserved, c->sold, c->returned, c->received);
    cJSON_AddNumberToObject(j, "skuId", (double)sku);
    cJSON_AddNumberToObject(j, "totalStock", (double)(c->available + c->reserved));
    cJSON_AddNumberToObject(j, "reservedStock", (double)c->reserved);
    cJSON_AddNumberToObject(j, "availableStock", (double)c->available);
    return j;
}

/* The {skuId} path parameter, or 0 after a 400 reply. */
static long long path_sku(struct http_req *req, struct http_resp *resp)
{
    long long sku;

    if (jsonx_parse_id(http_param(req, "skuId"), &sku) < 0) {
        cJSON *errors = NULL;

        jsonx_field_error(&errors, "skuId", "must be a positive integer");
        http_reply_problem(resp, 400, CODE_INVALID, errors, "invalid sku id");
        return 0;
    }
    return sku;
}

/* Replies with the stock of @n SKUs: one object when @single, else an array of those found. */
static void reply_stock(struct inv_app *app, struct http_resp *resp, const long long *skus,
                        size_t n, bool single)
{
    struct stock_counters *c = calloc(n ? n : 1, sizeof(*c));
    bool *found = calloc(n ? n : 1, sizeof(*found));
    struct rds_conn *conn = NULL;
    char err[256];
    int rc;

    if (!c || !found) {
        http_reply_problem(resp, 500, CODE_INTERNAL, NULL, "out of memory");
        goto out;
    }
    conn = rds_acquire(app->rds, err, sizeof(err));
    if (!conn) {
        reply_unavailable(resp, err);
        goto out;
    }
    rc = n ? inv_get(conn, skus, n, c, found, err, sizeof(err)) : 0;
    if (rc < 0) {
        reply_store_error(resp, rc, err);
        goto out;
    }
    if (single) {
        if (!found[0])
            http_reply_problem(resp, 404, CODE_NOT_FOUND, NULL, "no stock for sku '%lld'", skus[0]);
        else
            http_reply_json(resp, 200, inventory_json(skus[0], &c[0]));
    } else {
        cJSON *arr = cJSON_CreateArray();

        for (size_t i = 0; i < n; i++) {
            if (found[i])
                cJSON_AddItemToArray(arr, inventory_json(skus[i], &c[i]));
        }
        http_reply_json(resp, 200, arr);
    }
out:
    rds_release(app->rds, conn);
    free(c);
    free(found);
}

void http_inventory_get(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct inv_app *app = arg;
    struct rds_conn *conn;
    struct stock_counters c;
    long long sku = path_sku(req, resp);
    char key[48], err[256];
    const char *argv[] = {"HMGET", key, "available", "reserved", "sold", "returned", "received"};
    size_t lens[7];
    redisReply *reply;
    int rc;

    if (!sku)
        return;
    snprintf(key, sizeof(key), "inv:sku:%lld", sku);
    for (size_t i = 0; i < 7; i++)
        lens[i] = strlen(argv[i]);
    conn = rds_acquire(app->rds, err, sizeof(err));
    if (!conn) {
        reply_unavailable(resp, err);
        return;
    }
    /* one HMGET: the fields are read together, so total = available + reserved holds */
    reply = rds_command(conn, 7, argv, lens, err, sizeof(err));
    rds_release(app->rds, conn);
    if (!reply) {
        reply_unavailable(resp, err);
        return;
    }
    rc = inv_counters_from_reply(reply, &c);
    freeReplyObject(reply);
    if (rc == -ENOENT)
        http_reply_problem(resp, 404, CODE_NOT_FOUND, NULL, "no stock for sku '%lld'", sku);
    else if (rc < 0)
        reply_store_error(resp, -EPROTO, "unexpected reply to HMGET");
    else
        http_reply_json(resp, 200, inventory_json(sku, &c));
}

void http_inventory_bulk(struct http_req *req, struct http_resp *resp, void *arg)
{
    cJSON *body = http_json_body(req, resp);
    cJSON *errors = NULL;
    const cJSON *ids = NULL, *it;
    long long skus[STOCK_MAX_LINES];
    size_t n = 0;

    if (!body)
        return;
    jsonx_array(body, "skuIds", "skuIds", true, STOCK_MAX_LINES, &ids, &errors);
    cJSON_ArrayForEach (it, ids) {
        char field[32];
        double v = cJSON_IsNumber(it) ? it->valuedouble : 0;

        if (!cJSON_IsNumber(it) || v < 1 || v > 9007199254740991.0 || v != (double)(long long)v) {
            snprintf(field, sizeof(field), "skuIds[%zu]", n);
            jsonx_field_error(&errors, field, "must be a positive integer");
        } else {
            skus[n] = (long long)v;
        }
        n++;
    }
    if (errors) {
        http_reply_problem(resp, 400, CODE_INVALID, errors, "invalid request");
        goto out;
    }
    reply_stock(arg, resp, skus, n, false);
out:
    cJSON_Delete(body);
}

/* Reads {items[{skuId, quantity}]} (bulk) or {quantity} for @single into merged @lines. */
static int read_adjust(const cJSON *body, long long single, struct stock_line *lines, size_t *ret_n,
                       cJSON **errors)
{
    const cJSON *items = NULL, *it;
    size_t n = 0;

    if (single) {
        long long qty = 0;

        if (jsonx_int(body, "quantity", "quantity", true, 1, STOCK_MAX_QUANTITY, &qty, errors) < 0)
            return -EINVAL;
        lines[0] = (struct stock_line){single, qty};
        *ret_n = 1;
        return 0;
    }
    if (jsonx_array(body, "items", "items", true, STOCK_MAX_LINES, &items, errors) < 0)
        return -EINVAL;
    cJSON_ArrayForEach (it, items) {
        char field[64];
        long long sku = 0, qty = 0;

        if (!cJSON_IsObject(it)) {
            snprintf(field, sizeof(field), "items[%zu]", n);
            jsonx_field_error(errors, field, "must be an object");
        } else {
            snprintf(field, sizeof(field), "items[%zu].skuId", n);
            jsonx_int(it, "skuId", field, true, 1, INT64_MAX, &sku, errors);
            snprintf(field, sizeof(field), "items[%zu].quantity", n);
            jsonx_int(it, "quantity", field, true, 1, STOCK_MAX_QUANTITY, &qty, errors);
        }
        lines[n++] = (struct stock_line){sku, qty};
    }
    if (*errors)
        return -EINVAL;
    if (n == 0) {
        jsonx_field_error(errors, "items", "must not be empty");
        return -EINVAL;
    }
    if (stock_merge_lines(lines, n, ret_n) < 0) {
        jsonx_field_error(errors, "items", "quantity of a SKU too large");
        return -EINVAL;
    }
    return 0;
}

static void adjust(struct http_req *req, struct http_resp *resp, struct inv_app *app, int sign,
                   bool single)
{
    const char *key = http_header(req, "Idempotency-Key");
    struct stock_line lines[STOCK_MAX_LINES];
    long long skus[STOCK_MAX_LINES], bad = 0, sku = 0;
    char *idem = NULL;
    struct rds_conn *conn = NULL;
    enum stock_adjust decision;
    cJSON *body = NULL, *errors = NULL;
    char err[256];
    size_t n = 0;
    bool unreplicated;
    int rc;

    if (single && !(sku = path_sku(req, resp)))
        return;
    body = http_json_body(req, resp);
    if (!body)
        return;
    rc = read_adjust(body, sku, lines, &n, &errors);
    if (key && (!*key || strlen(key) > STOCK_IDEM_KEY_MAX))
        jsonx_field_error(&errors, "Idempotency-Key", "must be 1..128 characters");
    if (rc < 0 || errors) {
        http_reply_problem(resp, 400, CODE_INVALID, errors, "invalid request");
        goto out;
    }
    /* a key is the admin's own: another admin's same key is another request */
    if (key && asprintf(&idem, "%s:%s", req->principal ? req->principal->sub : "", key) < 0) {
        idem = NULL;
        reply_store_error(resp, -ENOMEM, "out of memory");
        goto out;
    }
    conn = rds_acquire(app->rds, err, sizeof(err));
    if (!conn) {
        reply_unavailable(resp, err);
        goto out;
    }
    rc = inv_adjust(conn, sign, lines, n, idem, &decision, &bad, err, sizeof(err));
    /* with REDIS_WAIT_REPLICAS, 200 only once a replica holds the change (a replay's too: its
     * first answer may have been this 503), so an answered change survives a failover */
    unreplicated =
        rc >= 0 && !adjust_answers[decision].code && rds_wait(conn, err, sizeof(err)) < 0;
    rds_release(app->rds, conn);
    if (unreplicated) {
        resp->retry_after_s = 1;
        http_reply_problem(resp, 503, CODE_UNAVAILABLE, NULL,
                           "the change is not yet on a replica of the stock store: repeat the "
                           "request with the same Idempotency-Key");
        log_warnx("stock change by admin '%s' not yet on a redis replica: %s",
                  req->principal ? req->principal->sub : "?", err);
        goto out;
    }
    if (rc < 0) {
        reply_store_error(resp, rc, err);
        goto out;
    }
    if (adjust_answers[decision].code) {
        http_reply_problem(resp, adjust_answers[decision].status, adjust_answers[decision].code,
                           NULL, adjust_answers[decision].detail, bad);
        goto out;
    }
    log_info("stock %s by admin '%s' for %zu skus%s", sign > 0 ? "increased" : "decreased",
             req->principal ? req->principal->sub : "?", n,
             decision == STOCK_ADJUST_REPLAYED ? " (a retry: already applied, unchanged)" : "");
    for (size_t i = 0; i < n; i++)
        skus[i] = lines[i].sku_id;
    reply_stock(app, resp, skus, n, single);
out:
    free(idem);
    cJSON_Delete(body);
}

void http_inventory_increase(struct http_req *req, struct http_resp *resp, void *app)
{
    adjust(req, resp, app, +1, true);
}

void http_inventory_decrease(struct http_req *req, struct http_resp *resp, void *app)
{
    adjust(req, resp, app, -1, true);
}

void http_inventory_bulk_increase(struct http_req *req, struct http_resp *resp, void *app)
{
    adjust(req, resp, app, +1, false);
}

void http_inventory_bulk_decrease(struct http_req *req, struct http_resp *resp, void *app)
{
    adjust(req, resp, app, -1, false);
}
