/*
 * it_scripts.c - the stock scripts against real Redis: all-or-nothing reservation, confirm,
 * release and refund working from the recorded reservation, idempotency by event id with the
 * same outcome re-emitted, a reservation's retention (set once confirmed or released, never while
 * open; what comes after it expired changes no stock), and admin adjustments. Each test uses
 * fresh SKU ids, order ids and its own outbox stream.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "../src/scripts.h"
#include "testsup.h"

struct fixture {
    struct rds_pool *rds;
    struct rds_conn *conn;
    char stream[64];
    long long base; /* SKU ids base + 1, base + 2, … */
    long res_ttl_s; /* the reservation retention the helpers pass */
};

static long long random_base(void)
{
    char u[UTIL_UUID_LEN];
    unsigned long long v = 0;

    util_uuid(u);
    for (int i = 0; i < 8; i++)
        v = v * 16 + (unsigned long long)(u[i] >= 'a' ? u[i] - 'a' + 10 : u[i] - '0');
    /* 10^12 + up to 2^32 · 1000: far from catalog's ids, distinct per test */
    return 1000000000000LL + (long long)(v % 4000000000ULL) * 1000;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct rds_opts opts = {.host = ts_env("REDIS_HOST"),
                            .port = (unsigned)atoi(ts_env("REDIS_PORT")),
                            .timeout_ms = 2000};
    char err[256];

    f->rds = rds_pool_new(&opts, err, sizeof(err));
    assert_non_null(f->rds);
    f->conn = rds_acquire(f->rds, err, sizeof(err));
    if (!f->conn)
        fail_msg("redis: %s", err);
    ts_unique("it-inv-stream", f->stream, sizeof(f->stream));
    f->base = random_base();
    f->res_ttl_s = 600;
    *state = f;
    return 0;
}

static redisReply *cmdv(struct fixture *f, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;
    redisContext *ctx;

    /* struct rds_conn is opaque: use a plain hiredis context for inspection */
    (void)f;
    ctx = redisConnect(ts_env("REDIS_HOST"), atoi(ts_env("REDIS_PORT")));
    assert_non_null(ctx);
    va_start(ap, fmt);
    r = redisvCommand(ctx, fmt, ap);
    va_end(ap);
    redisFree(ctx);
    assert_non_null(r);
    return r;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    redisReply *r = cmdv(f, "DEL %s", f->stream);

    freeReplyObject(r);
    rds_release(f->rds, f->conn);
    rds_pool_free(f->rds);
    free(f);
    return 0;
}

static struct stock_counters counters(struct fixture *f, long long sku)
{
    struct stock_counters c;
    bool found = false;
    char err[256];

    assert_int_equal(inv_get(f->conn, &sku, 1, &c, &found, err, sizeof(err)), 0);
    assert_true(found);
    assert_true(stock_invariant_ok(&c));
    return c;
}

static void init_sku(struct fixture *f, long long sku, long long qty)
{
    struct inv_emit em = {.stream = f->stream, .ttl_s = 600};
    struct inv_result res;
    char id[UTIL_UUID_LEN], err[256];

    util_uuid(id);
    em.event_id = id;
    em.key = "sku";
    assert_int_equal(inv_sku_init(f->conn, &em, sku, qty, &res, err, sizeof(err)), 0);
    assert_string_equal(res.status, "INITIALISED");
}

/* Fake envelope heads: the script only appends "<data>}". */
static const struct inv_head H_RESERVED = {"{\"type\":\"stock.reserved\",\"data\":", "t-ok"};
static const struct inv_head H_FAILED = {"{\"type\":\"stock.reservation.failed\",\"data\":",
                                         "t-fail"};
static const struct inv_head H_CONFIRMED = {"{\"type\":\"stock.confirmed\",\"data\":", "t-ok"};
static const struct inv_head H_CONFIRM_FAILED = {"{\"type\":\"stock.confirm.failed\",\"data\":",
                                                 "t-fail"};
static const struct inv_head H_RELEASED = {"{\"type\":\"stock.released\",\"data\":", "t-ok"};

/* The stream's entries: count, and the last entry's env parsed into *@ret_last (owned). */
static size_t stream_entries(struct fixture *f, cJSON **ret_last, char *ret_topic)
{
    redisReply *r = cmdv(f, "XRANGE %s - +", f->stream);
    size_t n = r->elements;

    if (n > 0 && ret_last) {
        redisReply *fields = r->element[n - 1]->element[1];

        for (size_t i = 0; i + 1 < fields->elements; i += 2) {
            if (strcmp(fields->element[i]->str, "env") == 0)
                *ret_last = cJSON_Parse(fields->element[i + 1]->str);
            if (strcmp(fields->element[i]->str, "topic") == 0 && ret_topic)
                strcpy(ret_topic, fields->element[i + 1]->str);
        }
        assert_non_null(*ret_last);
    }
    freeReplyObject(r);
    return n;
}

static void reserve_w(struct fixture *f, const char *event_id, const char *order,
                      const struct stock_line *lines, size_t n, bool wait, const char *want)
{
    struct inv_emit em = {.stream = f->stream,
                          .event_id = event_id,
                          .key = order,
                          .ttl_s = 600,
                          .res_ttl_s = f->res_ttl_s};
    struct inv_result res;
    char ojson[96], err[256];

    snprintf(ojson, sizeof(ojson), "\"%s\"", order);
    assert_int_equal(inv_reserve(f->conn, &em, ojson, &H_RESERVED, &H_FAILED, lines, n, wait, &res,
                                 err, sizeof(err)),
                     0);
    assert_string_equal(res.status, want);
}

static void reserve(struct fixture *f, const char *event_id, const char *order,
                    const struct stock_line *lines, size_t n, const char *want)
{
    reserve_w(f, event_id, order, lines, n, false, want);
}

static long long exists(struct fixture *f, const char *prefix, const char *id)
{
    redisReply *r = cmdv(f, "EXISTS %s%s", prefix, id);
    long long n = r->integer;

    freeReplyObject(r);
    return n;
}

static void test_init_once(void **state)
{
    struct fixture *f = *state;
    struct inv_emit em = {.stream = f->stream, .event_id = "e-init-2", .key = "k", .ttl_s = 600};
    struct inv_result res;
    char id2[UTIL_UUID_LEN], err[256];
    long long sku = f->base + 1;

    init_sku(f, sku, 5);
    util_uuid(id2);
    em.event_id = id2;
    assert_int_equal(inv_sku_init(f->conn, &em, sku, 9, &res, err, sizeof(err)), 0);
    assert_string_equal(res.status, "EXISTS");
    assert_false(res.duplicate);
    /* the same event again: recorded, nothing changes */
    assert_int_equal(inv_sku_init(f->conn, &em, sku, 9, &res, err, sizeof(err)), 0);
    assert_string_equal(res.status, "EXISTS");
    assert_true(res.duplicate);
    assert_int_equal(counters(f, sku).available, 5);
    assert_int_equal(counters(f, sku).received, 5);
    assert_int_equal(stream_entries(f, NULL, NULL), 0); /* publishes nothing */
}

static void test_reserve_all_or_nothing(void **state)
{
    struct fixture *f = *state;
    long long a = f->base + 1, b = f->base + 2;
    struct stock_line lines[] = {{a, 2}, {b, 2}};
    struct stock_line unknown[] = {{a, 1}, {f->base + 3, 1}};
    cJSON *env = NULL, *item;
    char order[64], eid[UTIL_UUID_LEN], topic[64] = "";

    init_sku(f, a, 10);
    init_sku(f, b, 1);
    ts_unique("o", order, sizeof(order));
    util_uuid(eid);
    reserve(f, eid, order, lines, 2, "NOT_ENOUGH_STOCK");
    assert_int_equal(counters(f, a).available, 10);
    assert_int_equal(counters(f, a).reserved, 0);
    assert_int_equal(counters(f, b).available, 1);
    assert_int_equal(stream_entries(f, &env, topic), 1);
    assert_string_equal(topic, "t-fail");
    assert_string_equal(cJSON_GetObjectItem(env, "type")->valuestring, "stock.reservation.failed");
    item = cJSON_GetObjectItem(env, "data");
    assert_string_equal(cJSON_GetObjectItem(item, "orderId")->valuestring, order);
    assert_string_equal(cJSON_GetObjectItem(item, "reason")->valuestring, "NOT_ENOUGH_STOCK");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(item, "failedItems")), 1);
    item = cJSON_GetArrayItem(cJSON_GetObjectItem(item, "failedItems"), 0);
    assert_int_equal((long long)cJSON_GetObjectItem(item, "skuId")->valuedouble, b);
    assert_int_equal(cJSON_GetObjectItem(item, "requestedQuantity")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(item, "availableQuantity")->valueint, 1);
    cJSON_Delete(env);

    /* an unknown SKU: SKU_NOT_FOUND, nothing reserved */
    ts_unique("o", order, sizeof(order));
    util_uuid(eid);
    reserve(f, eid, order, unknown, 2, "SKU_NOT_FOUND");
    assert_int_equal(counters(f, a).available, 10);
    env = NULL;
    assert_int_equal(stream_entries(f, &env, NULL), 2);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(env, "data"), "reason")->valuestring,
        "SKU_NOT_FOUND");
    cJSON_Delete(env);
}

/* An order naming a SKU without stock, while it may still wait: SKU_PENDING and no trace at
 * all (no event record, no reservation, no outcome, no counter); once the SKU has stock, the
 * same event reserves. */
static void test_reserve_waits_for_unknown_sku(void **state)
{
    struct fixture *f = *state;
    long long a = f->base + 1, b = f->base + 2;
    struct stock_line lines[] = {{a, 1}, {b, 1}};
    char order[64], eid[UTIL_UUID_LEN];

    init_sku(f, a, 10);
    ts_unique("o", order, sizeof(order));
    util_uuid(eid);
    reserve_w(f, eid, order, lines, 2, true, "SKU_PENDING");
    reserve_w(f, eid, order, lines, 2, true, "SKU_PENDING"); /* again: still nothing recorded */
    assert_int_equal(exists(f, "inv:evt:", eid), 0);
    assert_int_equal(exists(f, "inv:res:", order), 0);
    assert_int_equal(stream_entries(f, NULL, NULL), 0);
    assert_int_equal(counters(f, a).available, 10);
    assert_int_equal(counters(f, a).reserved, 0);

    init_sku(f, b, 1);
    reserve_w(f, eid, order, lines, 2, true, "RESERVED");
    assert_int_equal(exists(f, "inv:evt:", eid), 1);
    assert_int_equal(counters(f, a).available, 9);
    assert_int_equal(counters(f, b).reserved, 1);
    assert_int_equal(stream_entries(f, NULL, NULL), 1);
    /* decided: waiting no longer matters, the stored outcome answers */
    reserve_w(f, eid, order, lines, 2, true, "RESERVED");
    assert_int_equal(counters(f, a).available, 9);

    /* the last delivery does not wait: a SKU still unknown fails the order */
    lines[1].sku_id = f->base + 3;
    ts_unique("o", order, sizeof(order));
    util_uuid(eid);
    reserve_w(f, eid, order, lines, 2, false, "SKU_NOT_FOUND");
    assert_int_equal(exists(f, "inv:evt:", eid), 1);
    assert_int_equal(counters(f, a).available, 9);
}

static void run_order(struct fixture *f, int which, const char *order, const char *want,
                      struct inv_result *res)
{
    struct inv_emit em = {
        .stream = f->stream, .key = order, .ttl_s = 600, .res_ttl_s = f->res_ttl_s};
    char ojson[96], eid[UTIL_UUID_LEN], err[256];

    util_uuid(eid);
    em.event_id = eid;
    snprintf(ojson, sizeof(ojson), "\"%s\"", order);
    if (which == 0)
        assert_int_equal(inv_confirm(f->conn, &em, ojson, &H_CONFIRMED, &H_CONFIRM_FAILED, res, err,
                                     sizeof(err)),
                         0);
    else
        assert_int_equal(inv_release(f->conn, &em, ojson, &H_RELEASED, "\"PAYMENT_FAILED\"", res,
                                     err, sizeof(err)),
                         0);
    assert_string_equal(res->status, want);
}

static void refund(struct fixture *f, const char *order, const struct stock_line *lines, size_t n,
                   const char *want, long long count)
{
    struct inv_emit em = {
        .stream = f->stream, .key = order, .ttl_s = 600, .res_ttl_s = f->res_ttl_s};
    struct inv_result res;
    char eid[UTIL_UUID_LEN], err[256];

    util_uuid(eid);
    em.event_id = eid;
    assert_int_equal(inv_refund(f->conn, &em, lines, n, &res, err, sizeof(err)), 0);
    assert_string_equal(res.status, want);
    assert_int_equal(res.count, count);
}

static void test_confirm_and_refund_bounded(void **state)
{
    struct fixture *f = *state;
    long long a = f->base + 1;
    struct stock_line lines[] = {{a, 3}};
    struct stock_line back[] = {{a, 5}};
    struct inv_result res;
    cJSON *env = NULL;
    char order[64], eid[UTIL_UUID_LEN];
    struct stock_counters c;

    init_sku(f, a, 10);
    ts_unique("o", order, sizeof(order));
    refund(f, order, back, 1, "NOT_CONFIRMED", 0);
    run_order(f, 0, order, "NO_RESERVATION", &res);
    util_uuid(eid);
    reserve(f, eid, order, lines, 1, "RESERVED");
    c = counters(f, a);
    assert_int_equal(c.available, 7);
    assert_int_equal(c.reserved, 3);
    run_order(f, 0, order, "CONFIRMED", &res);
    assert_int_equal(stream_entries(f, &env, NULL), 3);
    assert_string_equal(cJSON_GetObjectItem(env, "type")->valuestring, "stock.confirmed");
    assert_int_equal(
        cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(env, "data"), "items")), 1);
    cJSON_Delete(env);
    c = counters(f, a);
    assert_int_equal(c.reserved, 0);
    assert_int_equal(c.sold, 3);
    /* confirmed again under another event id: announced again, counted once */
    run_order(f, 0, order, "CONFIRMED", &res);
    assert_int_equal(counters(f, a).sold, 3);
    /* refunds return at most what the order bought */
    refund(f, order, back, 1, "RETURNED", 3);
    refund(f, order, back, 1, "RETURNED", 0);
    c = counters(f, a);
    assert_int_equal(c.available, 10);
    assert_int_equal(c.returned, 3);
    assert_int_equal(c.sold, 3);
}

/* A paid order cancelled before its confirmation: order.confirmed already made the sale, so
 * the cancel takes back what was not refunded yet, once. */
static void test_cancel_after_sale_returns_the_rest(void **state)
{
    struct fixture *f = *state;
    long long a = f->base + 1;
    struct stock_line lines[] = {{a, 3}};
    struct stock_line one[] = {{a, 1}};
    struct inv_result res;
    cJSON *env = NULL, *data;
    char order[64], eid[UTIL_UUID_LEN];
    struct stock_counters c;
    size_t n;

    init_sku(f, a, 10);
    ts_unique("o", order, sizeof(order));
    util_uuid(eid);
    reserve(f, eid, order, lines, 1, "RESERVED");
    run_order(f, 0, order, "CONFIRMED", &res);
    refund(f, order, one, 1, "RETURNED", 1);
    n = stream_entries(f, NULL, NULL);
    run_order(f, 1, order, "RELEASED", &res);
    assert_int_equal(stream_entries(f, &env, NULL), n + 1);
    assert_string_equal(cJSON_GetObjectItem(env, "type")->valuestring, "stock.released");
    data = cJSON_GetObjectItem(env, "data");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(data, "items")), 1);
    assert_int_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(data, "items"), 0), "quantity")
            ->valueint,
        2);
    cJSON_Delete(env);
    /* once: a second cancel and a later refund change nothing */
    run_order(f, 1, order, "NOTHING_TO_RELEASE", &res);
    refund(f, order, one, 1, "NOT_CONFIRMED", 0);
    c = counters(f, a);
    assert_int_equal(c.available, 10);
    assert_int_equal(c.reserved, 0);
    assert_int_equal(c.sold, 3);
    assert_int_equal(c.returned, 3);
}

static void test_release_once(void **state)
{
    struct fixture *f = *state;
    long long a = f->base + 1, b = f->base + 2;
    struct stock_line lines[] = {{a, 4}, {b, 1}};
    struct inv_result res;
    cJSON *env = NULL, *data;
    char order[64], eid[UTIL_UUID_LEN];

    init_sku(f, a, 4);
    init_sku(f, b, 1);
    ts_unique("o", order, sizeof(order));
    util_uuid(eid);
    reserve(f, eid, order, lines, 2, "RESERVED");
    assert_int_equal(counters(f, a).available, 0);
    run_order(f, 1, order, "RELEASED", &res);
    assert_int_equal(stream_entries(f, &env, NULL), 2);
    data = cJSON_GetObjectItem(env, "data");
    assert_string_equal(cJSON_GetObjectItem(data, "reason")->valuestring, "PAYMENT_FAILED");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(data, "items")), 2);
    cJSON_Delete(env);
    run_order(f, 1, order, "NOTHING_TO_RELEASE", &res);
    run_order(f, 0, order, "RESERVATION_RELEASED", &res);
    assert_int_equal(counters(f, a).available, 4);
    assert_int_equal(counters(f, a).reserved, 0);
    assert_int_equal(counters(f, b).available, 1);
    assert_int_equal(stream_entries(f, NULL, NULL), 3); /* released + confirm.failed */
}

static void test_duplicate_reemits_same_outcome(void **state)
{
    struct fixture *f = *state;
    long long a = f->base + 1;
    struct stock_line lines[] = {{a, 1}};
    cJSON *first = NULL, *again = NULL;
    char order[64], eid[UTIL_UUID_LEN];
    char *s1, *s2;
    redisReply *r;

    init_sku(f, a, 1);
    ts_unique("o", order, sizeof(order));
    util_uuid(eid);
    reserve(f, eid, order, lines, 1, "RESERVED");
    assert_int_equal(stream_entries(f, &first, NULL), 1);
    /* still waiting in the stream: a redelivery does not queue it twice */
    reserve(f, eid, order, lines, 1, "RESERVED");
    assert_int_equal(stream_entries(f, NULL, NULL), 1);
    /* once published (deleted from the stream), a redelivery queues the same envelope */
    r = cmdv(f, "DEL %s", f->stream);
    freeReplyObject(r);
    reserve(f, eid, order, lines, 1, "RESERVED");
    assert_int_equal(stream_entries(f, &again, NULL), 1);
    s1 = cJSON_PrintUnformatted(first);
    s2 = cJSON_PrintUnformatted(again);
    assert_string_equal(s1, s2);
    assert_int_equal(counters(f, a).available, 0);
    assert_int_equal(counters(f, a).reserved, 1);
    cJSON_free(s1);
    cJSON_free(s2);
    cJSON_Delete(first);
    cJSON_Delete(again);
}

/* TTL of @key: -2 missing, -1 no expiry, else seconds left. */
static long long ttl_of(struct fixture *f, const char *prefix, const char *id)
{
    redisReply *r = cmdv(f, "TTL %s%s", prefix, id);
    long long ttl;

    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    ttl = r->integer;
    freeReplyObject(r);
    return ttl;
}

/* The retention starts when the reservation becomes terminal (confirmed, released, or released
 * after a sale), never while it is open; refusals and no-ops leave no key behind. */
static void test_retention_set_when_terminal(void **state)
{
    struct fixture *f = *state;
    long long a = f->base + 1;
    struct stock_line lines[] = {{a, 2}}, many[] = {{a, 100}}, one[] = {{a, 1}};
    struct inv_result res;
    char o1[64], o2[64], o3[64], none[64], eid[UTIL_UUID_LEN];
    long long ttl;

    init_sku(f, a, 10);
    ts_unique("o", o1, sizeof(o1));
    ts_unique("o", o2, sizeof(o2));
    ts_unique("o", o3, sizeof(o3));
    ts_unique("o", none, sizeof(none));
    util_uuid(eid);
    reserve(f, eid, o1, lines, 1, "RESERVED");
    assert_int_equal(ttl_of(f, "inv:res:", o1), -1); /* open: kept however long it takes */
    ttl = ttl_of(f, "inv:evt:", eid);                /* the event record has its own TTL */
    assert_true(ttl > 0 && ttl <= 600);
    run_order(f, 0, o1, "CONFIRMED", &res);
    ttl = ttl_of(f, "inv:res:", o1);
    assert_true(ttl > 0 && ttl <= f->res_ttl_s);
    refund(f, o1, one, 1, "RETURNED", 1); /* a refund keeps the TTL */
    ttl = ttl_of(f, "inv:res:", o1);
    assert_true(ttl > 0 && ttl <= f->res_ttl_s);

    util_uuid(eid);
    reserve(f, eid, o2, lines, 1, "RESERVED");
    assert_int_equal(ttl_of(f, "inv:res:", o2), -1);
    run_order(f, 1, o2, "RELEASED", &res);
    ttl = ttl_of(f, "inv:res:", o2);
    assert_true(ttl > 0 && ttl <= f->res_ttl_s);

    /* a paid order cancelled after its sale: released, with the retention again */
    util_uuid(eid);
    reserve(f, eid, o3, lines, 1, "RESERVED");
    run_order(f, 0, o3, "CONFIRMED", &res);
    run_order(f, 1, o3, "RELEASED", &res);
    ttl = ttl_of(f, "inv:res:", o3);
    assert_true(ttl > 0 && ttl <= f->res_ttl_s);

    /* nothing reserved, nothing kept: a refused reservation, a confirm or cancel or refund of
     * an order without one */
    util_uuid(eid);
    reserve(f, eid, none, many, 1, "NOT_ENOUGH_STOCK");
    run_order(f, 0, none, "NO_RESERVATION", &res);
    run_order(f, 1, none, "NOTHING_TO_RELEASE", &res);
    refund(f, none, one, 1, "NOT_CONFIRMED", 0);
    assert_int_equal(ttl_of(f, "inv:res:", none), -2);
}

struct gone_wait {
    struct fixture *f;
    const char *order;
};

static bool reservation_gone(void *arg)
{
    struct gone_wait *w = arg;

    return ttl_of(w->f, "inv:res:", w->order) == -2;
}

/* With a 1 s retention the terminal reservations really expire, the open one stays; order
 * events arriving after that (a duplicate whose inbox record expired too) change no stock. */
static void test_after_expiry_nothing_changes(void **state)
{
    struct fixture *f = *state;
    long long a = f->base + 1;
    struct stock_line l3[] = {{a, 3}}, l2[] = {{a, 2}}, l1[] = {{a, 1}};
    struct inv_result res;
    struct stock_counters before, after;
    char sold[64], freed[64], open[64], eid[UTIL_UUID_LEN];
    struct gone_wait w1 = {f, sold}, w2 = {f, freed};
    cJSON *env = NULL;
    char topic[64] = "";

    f->res_ttl_s = 1;
    init_sku(f, a, 10);
    ts_unique("o", sold, sizeof(sold));
    ts_unique("o", freed, sizeof(freed));
    ts_unique("o", open, sizeof(open));
    util_uuid(eid);
    reserve(f, eid, sold, l3, 1, "RESERVED");
    run_order(f, 0, sold, "CONFIRMED", &res);
    util_uuid(eid);
    reserve(f, eid, freed, l2, 1, "RESERVED");
    run_order(f, 1, freed, "RELEASED", &res);
    util_uuid(eid);
    reserve(f, eid, open, l1, 1, "RESERVED");
    if (!ts_poll_until(reservation_gone, &w1, 30000) ||
        !ts_poll_until(reservation_gone, &w2, 30000))
        fail_msg("a terminal reservation did not expire within 30 s of a 1 s retention");
    assert_int_equal(ttl_of(f, "inv:res:", open), -1); /* still held, still no TTL */

    before = counters(f, a);
    assert_int_equal(before.available, 6);
    assert_int_equal(before.reserved, 1);
    assert_int_equal(before.sold, 3);
    /* run_order and refund use fresh event ids: as a redelivery past INBOX_RETENTION_S */
    run_order(f, 0, sold, "NO_RESERVATION", &res);
    assert_false(res.duplicate);
    stream_entries(f, &env, topic);
    assert_string_equal(topic, "t-fail"); /* stock.confirm.failed: order-service ignores it */
    cJSON_Delete(env);
    run_order(f, 1, sold, "NOTHING_TO_RELEASE", &res);
    run_order(f, 1, freed, "NOTHING_TO_RELEASE", &res);
    refund(f, sold, l3, 1, "NOT_CONFIRMED", 0);
    after = counters(f, a);
    assert_memory_equal(&after, &before, sizeof(before));
    /* and none of them left a key behind */
    assert_int_equal(ttl_of(f, "inv:res:", sold), -2);
    assert_int_equal(ttl_of(f, "inv:res:", freed), -2);
    /* the open one is still released once, by its own cancel */
    run_order(f, 1, open, "RELEASED", &res);
    assert_int_equal(counters(f, a).available, 7);
}

static void test_adjust_all_or_nothing(void **state)
{
    struct fixture *f = *state;
    long long a = f->base + 1, b = f->base + 2, bad = 0;
    struct stock_line inc[] = {{a, 5}, {f->base + 9, 1}};
    struct stock_line dec[] = {{a, 1}, {b, 3}};
    struct stock_line ok[] = {{a, 2}, {b, 2}};
    enum stock_adjust adj;
    char err[256];

    init_sku(f, a, 1);
    init_sku(f, b, 2);
    assert_int_equal(inv_adjust(f->conn, 1, inc, 2, NULL, &adj, &bad, err, sizeof(err)), 0);
    assert_int_equal(adj, STOCK_ADJUST_SKU_NOT_FOUND);
    assert_int_equal(bad, f->base + 9);
    assert_int_equal(counters(f, a).available, 1);
    assert_int_equal(inv_adjust(f->conn, -1, dec, 2, NULL, &adj, &bad, err, sizeof(err)), 0);
    assert_int_equal(adj, STOCK_ADJUST_NOT_ENOUGH);
    assert_int_equal(bad, b);
    assert_int_equal(counters(f, a).available, 1);
    assert_int_equal(inv_adjust(f->conn, 1, ok, 2, NULL, &adj, &bad, err, sizeof(err)), 0);
    assert_int_equal(adj, STOCK_ADJUST_OK);
    assert_int_equal(inv_adjust(f->conn, -1, dec, 2, NULL, &adj, &bad, err, sizeof(err)), 0);
    assert_int_equal(adj, STOCK_ADJUST_OK);
    assert_int_equal(counters(f, a).available, 2);
    assert_int_equal(counters(f, a).received, 2);
    assert_int_equal(counters(f, b).available, 1);
}

/* An Idempotency-Key applies its change once; a retry changes nothing; the key with another
 * request is refused; a refused change records nothing (the key stays usable). */
static void test_adjust_idempotency_key(void **state)
{
    struct fixture *f = *state;
    long long a = f->base + 1, bad = 0;
    struct stock_line inc[] = {{a, 5}};
    struct stock_line other[] = {{a, 6}};
    struct stock_line too_much[] = {{a, 100}};
    enum stock_adjust adj;
    char err[256], key[64], key2[64];

    ts_unique("admin-1:k", key, sizeof(key));
    ts_unique("admin-1:k", key2, sizeof(key2));
    init_sku(f, a, 1);
    assert_int_equal(inv_adjust(f->conn, 1, inc, 1, key, &adj, &bad, err, sizeof(err)), 0);
    assert_int_equal(adj, STOCK_ADJUST_OK);
    assert_int_equal(counters(f, a).available, 6);
    /* the client's retry */
    assert_int_equal(inv_adjust(f->conn, 1, inc, 1, key, &adj, &bad, err, sizeof(err)), 0);
    assert_int_equal(adj, STOCK_ADJUST_REPLAYED);
    assert_int_equal(counters(f, a).available, 6);
    assert_int_equal(counters(f, a).received, 6);
    /* the same key, another request: another quantity, or the other direction */
    assert_int_equal(inv_adjust(f->conn, 1, other, 1, key, &adj, &bad, err, sizeof(err)), 0);
    assert_int_equal(adj, STOCK_ADJUST_KEY_REUSED);
    assert_int_equal(inv_adjust(f->conn, -1, inc, 1, key, &adj, &bad, err, sizeof(err)), 0);
    assert_int_equal(adj, STOCK_ADJUST_KEY_REUSED);
    assert_int_equal(counters(f, a).available, 6);
    /* refused, then the fixed request under the same key goes through once */
    assert_int_equal(inv_adjust(f->conn, -1, too_much, 1, key2, &adj, &bad, err, sizeof(err)), 0);
    assert_int_equal(adj, STOCK_ADJUST_NOT_ENOUGH);
    assert_int_equal(inv_adjust(f->conn, -1, inc, 1, key2, &adj, &bad, err, sizeof(err)), 0);
    assert_int_equal(adj, STOCK_ADJUST_OK);
    assert_int_equal(inv_adjust(f->conn, -1, inc, 1, key2, &adj, &bad, err, sizeof(err)), 0);
    assert_int_equal(adj, STOCK_ADJUST_REPLAYED);
    assert_int_equal(counters(f, a).available, 1);
    assert_int_equal(counters(f, a).received, 1);
    /* without a key every call applies */
    assert_int_equal(inv_adjust(f->conn, 1, inc, 1, NULL, &adj, &bad, err, sizeof(err)), 0);
    assert_int_equal(inv_adjust(f->conn, 1, inc, 1, NULL, &adj, &bad, err, sizeof(err)), 0);
    assert_int_equal(counters(f, a).available, 11);
}

static void test_script_reloaded_after_flush(void **state)
{
    struct fixture *f = *state;
    redisReply *r = cmdv(f, "SCRIPT FLUSH");

    freeReplyObject(r);
    /* NOSCRIPT → EVAL fallback */
    init_sku(f, f->base + 1, 3);
    assert_int_equal(counters(f, f->base + 1).available, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_init_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reserve_all_or_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reserve_waits_for_unknown_sku, setup, teardown),
        cmocka_unit_test_setup_teardown(test_confirm_and_refund_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_after_sale_returns_the_rest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_reemits_same_outcome, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_set_when_terminal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_after_expiry_nothing_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_adjust_all_or_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_adjust_idempotency_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_reloaded_after_flush, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
