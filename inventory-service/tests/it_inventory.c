/*
 * it_inventory.c - inventory-service end to end on real Redis, MariaDB and Kafka: the binary
 * is started per test with a fresh database, its own topics, consumer group and outbox stream,
 * driven by events produced to Kafka and by HTTP; outcomes are read back from the stock topic.
 * With a short INVENTORY_RESERVATION_RETENTION_S, terminal reservations expire, open ones stay,
 * and order events redelivered after the expiry change no stock.
 * SKU and order ids are random per test, since Redis is shared.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <mysql.h>

#include "common/db.h"
#include "common/util.h"
#include "testsup.h"

#define MAX_SENT 64

struct sent {
    char *topic;
    char *key;
    char *value;
};

struct fixture {
    struct ts_service svc;
    char db[64];
    char product_topic[64];
    char order_topic[64];
    char stock_topic[64];
    char group[64];
    char stream[64];
    char *admin;
    char *user;
    long long base; /* SKU ids base + 1, … */
    struct sent sent[MAX_SENT];
    size_t nsent;
    bool running;
};

static long long random_base(void)
{
    char u[UTIL_UUID_LEN];
    unsigned long long v = 0;

    util_uuid(u);
    for (int i = 0; i < 8; i++)
        v = v * 16 + (unsigned long long)(u[i] >= 'a' ? u[i] - 'a' + 10 : u[i] - '0');
    return 2000000000000LL + (long long)(v % 4000000000ULL) * 1000;
}

/* Starts the service with the fixture's environment plus @extra (NULL-terminated or NULL). */
static void start(struct fixture *f, const char *extra)
{
    char e[16][160];
    const char *env[24];
    size_t n = 0;
    static const char *const order_types[] = {"PLACED", "CONFIRMED", "CANCELLED", "REFUNDED"};
    static const char *const stock_types[] = {"RESERVED", "RESERVATION_FAILED", "CONFIRMED",
                                              "CONFIRM_FAILED", "RELEASED"};

    snprintf(e[n++], sizeof(e[0]), "DB_NAME=%s", f->db);
    snprintf(e[n++], sizeof(e[0]), "TOPIC_PRODUCT_SKU_CREATED=%s", f->product_topic);
    for (size_t i = 0; i < 4; i++)
        snprintf(e[n++], sizeof(e[0]), "TOPIC_ORDER_%s=%s", order_types[i], f->order_topic);
    for (size_t i = 0; i < 5; i++)
        snprintf(e[n++], sizeof(e[0]), "TOPIC_STOCK_%s=%s", stock_types[i], f->stock_topic);
    snprintf(e[n++], sizeof(e[0]), "KAFKA_GROUP_ID=%s", f->group);
    snprintf(e[n++], sizeof(e[0]), "INVENTORY_OUTBOX_STREAM=%s", f->stream);
    for (size_t i = 0; i < n; i++)
        env[i] = e[i];
    env[n++] = "KAFKA_CREATE_TOPICS=true";
    env[n++] = "MIGRATIONS_DIR=inventory-service/migrations";
    env[n++] = "INVENTORY_SNAPSHOT_S=1";
    env[n++] = "CONSUMER_BACKOFF_BASE_MS=50";
    env[n++] = "CONSUMER_BACKOFF_MAX_MS=500";
    env[n++] = "OUTBOX_POLL_MS=100";
    if (extra)
        env[n++] = extra;
    env[n] = NULL;
    assert_int_equal(ts_service_start("inventory-service", env, 60000, &f->svc), 0);
    f->running = true;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char dlq[80];

    if (ts_create_database("it_inventory", f->db, sizeof(f->db)) < 0)
        return -1;
    ts_unique("it-inv-products", f->product_topic, sizeof(f->product_topic));
    ts_unique("it-inv-orders", f->order_topic, sizeof(f->order_topic));
    ts_unique("it-inv-stock", f->stock_topic, sizeof(f->stock_topic));
    ts_unique("it-inv-group", f->group, sizeof(f->group));
    ts_unique("it-inv-outbox", f->stream, sizeof(f->stream));
    snprintf(dlq, sizeof(dlq), "%s.dlq", f->order_topic);
    if (ts_create_topic(f->product_topic) < 0 || ts_create_topic(f->order_topic) < 0 ||
        ts_create_topic(f->stock_topic) < 0 || ts_create_topic(dlq) < 0)
        return -1;
    f->admin = ts_token("admin-1", "ADMIN");
    f->user = ts_token("user-1", "USER");
    f->base = random_base();
    *state = f;
    return 0;
}

static redisReply *redis_cmd(const char *fmt, ...)
{
    redisContext *ctx = redisConnect(ts_env("REDIS_HOST"), atoi(ts_env("REDIS_PORT")));
    redisReply *r;
    va_list ap;

    assert_non_null(ctx);
    assert_int_equal(ctx->err, 0);
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
    redisReply *r;

    /* a clean stop must exit 0 (and, under ASan, without leaks) */
    if (f->running)
        assert_int_equal(ts_service_stop(&f->svc, SIGTERM), 0);
    r = redis_cmd("DEL %s", f->stream);
    freeReplyObject(r);
    for (size_t i = 0; i < f->nsent; i++) {
        free(f->sent[i].topic);
        free(f->sent[i].key);
        free(f->sent[i].value);
    }
    free(f->admin);
    free(f->user);
    free(f);
    return 0;
}

/* An envelope of @type v@version with event id @id, from @type's producer. Caller frees. */
static char *envelope(const char *type, int version, const char *id, const char *subject,
                      const char *data)
{
    char *s = NULL, source[64];

    assert_true(asprintf(&s,
                         "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"%s\",\"type\":"
                         "\"%s\",\"subject\":\"%s\",\"time\":\"2026-01-01T00:00:00.000Z\","
                         "\"dataschema\":\"urn:commerce:event:%s:v%d\",\"correlationid\":"
                         "\"corr-%s\",\"causationid\":\"cause-%s\",\"data\":%s}",
                         id, ts_event_source(type, source, sizeof(source)), type, subject, type,
                         version, subject, id, data) > 0);
    return s;
}

/* Produces an event and remembers it for a replay; its id goes to @ret_id (may be NULL). */
static void send_event(struct fixture *f, const char *topic, const char *type, const char *key,
                       const char *data, char *ret_id)
{
    char id[UTIL_UUID_LEN];
    char *value;

    util_uuid(id);
    value = envelope(type, 1, id, key, data);
    assert_int_equal(ts_produce(topic, key, value, strlen(value), NULL), 0);
    assert_true(f->nsent < MAX_SENT);
    f->sent[f->nsent].topic = strdup(topic);
    f->sent[f->nsent].key = strdup(key);
    f->sent[f->nsent].value = value;
    f->nsent++;
    if (ret_id)
        strcpy(ret_id, id);
}

static void sku_created(struct fixture *f, long long sku, long long qty)
{
    char data[256], key[32];

    snprintf(key, sizeof(key), "%lld", sku);
    snprintf(data, sizeof(data),
             "{\"skuId\":%lld,\"productId\":1,\"productCode\":\"P-1\",\"price\":1000,"
             "\"optionValues\":[],\"initialQuantity\":%lld}",
             sku, qty);
    send_event(f, f->product_topic, "product.sku.created", key, data, NULL);
}

/* An order.placed v1 as order-service writes it (contracts/order.placed/v1.json): @items
 * gives skuId and quantity per line; the other required fields are filled in. */
static void order_placed(struct fixture *f, const char *order, const char *items, char *ret_id)
{
    cJSON *lines = cJSON_Parse(items), *line, *data = cJSON_CreateObject();
    long long total = 0;
    int n = 0;
    char *text;

    assert_non_null(lines);
    cJSON_ArrayForEach (line, lines) {
        long long qty = (long long)cJSON_GetObjectItem(line, "quantity")->valuedouble;

        cJSON_AddNumberToObject(line, "orderItemId", ++n);
        if (!cJSON_GetObjectItem(line, "unitPrice"))
            cJSON_AddNumberToObject(line, "unitPrice", 1000);
        cJSON_AddNumberToObject(line, "amount", (double)(qty * 1000));
        total += qty * 1000;
    }
    cJSON_AddStringToObject(data, "orderId", order);
    cJSON_AddStringToObject(data, "userId", "u-1");
    cJSON_AddNumberToObject(data, "totalAmount", (double)total);
    cJSON_AddNumberToObject(data, "discountAmount", 0);
    cJSON_AddNumberToObject(data, "payableAmount", (double)total);
    cJSON_AddItemToObject(data, "items", lines);
    text = cJSON_PrintUnformatted(data);
    send_event(f, f->order_topic, "order.placed", order, text, ret_id);
    cJSON_free(text);
    cJSON_Delete(data);
}

static void order_simple(struct fixture *f, const char *type, const char *order, char *ret_id)
{
    char data[256];

    /* as order-service writes them (contracts/order.{cancelled,confirmed}/v1.json); inventory
     * reads only orderId, so payableAmount need not match the order's lines */
    if (strcmp(type, "order.cancelled") == 0)
        snprintf(data, sizeof(data),
                 "{\"orderId\":\"%s\",\"userId\":\"u-1\",\"reason\":\"USER_CANCELLED\","
                 "\"status\":\"CANCELLED\"}",
                 order);
    else
        snprintf(data, sizeof(data),
                 "{\"orderId\":\"%s\",\"userId\":\"u-1\",\"payableAmount\":1000}", order);
    send_event(f, f->order_topic, type, order, data, ret_id);
}

/* GET /api/inventories/@sku: status, and the body when 200 (caller frees). */
static long get_stock(struct fixture *f, long long sku, cJSON **ret)
{
    struct ts_resp r;
    char u[256];
    long status;

    snprintf(u, sizeof(u), "%s/api/inventories/%lld", f->svc.url, sku);
    assert_int_equal(ts_http("GET", u, NULL, NULL, NULL, &r), 0);
    status = r.status;
    if (ret) {
        *ret = r.json;
        r.json = NULL;
    }
    ts_resp_free(&r);
    return status;
}

static long long field(const cJSON *j, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(j, name);

    assert_non_null(v);
    return (long long)v->valuedouble;
}

struct stock_wait {
    struct fixture *f;
    long long sku;
    long long available; /* -1: any, just present */
};

static bool stock_is(void *arg)
{
    struct stock_wait *w = arg;
    cJSON *j = NULL;
    bool ok = false;

    if (get_stock(w->f, w->sku, &j) == 200)
        ok = w->available < 0 || field(j, "availableStock") == w->available;
    cJSON_Delete(j);
    return ok;
}

static void wait_stock(struct fixture *f, long long sku, long long available)
{
    struct stock_wait w = {f, sku, available};

    if (!ts_poll_until(stock_is, &w, 60000))
        fail_msg("sku %lld never had %lld available", sku, available);
}

/* Available, reserved (and total checked) of @sku. */
static void stock_of(struct fixture *f, long long sku, long long *available, long long *reserved)
{
    cJSON *j = NULL;

    assert_int_equal(get_stock(f, sku, &j), 200);
    *available = field(j, "availableStock");
    *reserved = field(j, "reservedStock");
    assert_int_equal(field(j, "totalStock"), *available + *reserved);
    assert_int_equal(field(j, "skuId"), sku);
    assert_true(*available >= 0 && *reserved >= 0);
    cJSON_Delete(j);
}

static const char *type_of(const struct ts_record *rec)
{
    const char *t = ts_record_header(rec, "ce_type");

    assert_non_null(t);
    return t;
}

static cJSON *data_of(const struct ts_record *rec, cJSON **ret_root)
{
    *ret_root = cJSON_ParseWithLength(rec->value, rec->len);
    assert_non_null(*ret_root);
    return cJSON_GetObjectItem(*ret_root, "data");
}

/* Reads exactly @want records from @c (and checks nothing more comes within 2 s). */
static size_t consume_exactly(struct ts_consumer *c, size_t want, struct ts_record **ret)
{
    struct ts_record *more = NULL;
    size_t n = ts_consume(c, want, 120000, ret), extra;

    if (n != want)
        fail_msg("read %zu records, wanted %zu", n, want);
    extra = ts_consume(c, 1, 2000, &more);
    ts_records_free(more, extra);
    assert_int_equal(extra, 0);
    return n;
}

/* ---- 200 concurrent orders of 1 unit for 50 units ---- */

struct producer_arg {
    struct fixture *f;
    int thread;
    int count;
    int failures;
};

static void *produce_orders(void *arg)
{
    struct producer_arg *p = arg;
    struct fixture *f = p->f;

    for (int i = 0; i < p->count; i++) {
        char id[UTIL_UUID_LEN], order[64], data[512];
        char *value;

        util_uuid(id);
        snprintf(order, sizeof(order), "ord-%lld-%d-%d", f->base, p->thread, i);
        snprintf(data, sizeof(data),
                 "{\"orderId\":\"%s\",\"userId\":\"u\",\"totalAmount\":1000,"
                 "\"discountAmount\":0,\"payableAmount\":1000,\"items\":[{\"orderItemId\":1,"
                 "\"skuId\":%lld,\"quantity\":1,\"unitPrice\":1000,\"amount\":1000}]}",
                 order, f->base + 1);
        value = envelope("order.placed", 1, id, order, data);
        if (ts_produce(f->order_topic, order, value, strlen(value), NULL) != 0)
            p->failures++;
        free(value);
    }
    return NULL;
}

static void test_concurrent_orders_never_oversell(void **state)
{
    struct fixture *f = *state;
    struct ts_consumer *c = ts_consumer_new(f->stock_topic);
    struct producer_arg args[4];
    pthread_t th[4];
    struct ts_record *recs = NULL;
    size_t n, reserved = 0, failed = 0;
    long long avail, held;

    start(f, NULL);
    sku_created(f, f->base + 1, 50);
    wait_stock(f, f->base + 1, 50);
    for (int t = 0; t < 4; t++) {
        args[t] = (struct producer_arg){.f = f, .thread = t, .count = 50};
        assert_int_equal(pthread_create(&th[t], NULL, produce_orders, &args[t]), 0);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(args[t].failures, 0);
    }
    n = consume_exactly(c, 200, &recs);
    for (size_t i = 0; i < n; i++) {
        cJSON *root, *data = data_of(&recs[i], &root);

        if (strcmp(type_of(&recs[i]), "stock.reserved") == 0) {
            reserved++;
        } else {
            assert_string_equal(type_of(&recs[i]), "stock.reservation.failed");
            assert_string_equal(cJSON_GetObjectItem(data, "reason")->valuestring,
                                "NOT_ENOUGH_STOCK");
            failed++;
        }
        /* keyed by order id, and the order id is the payload's */
        assert_string_equal(recs[i].key, cJSON_GetObjectItem(data, "orderId")->valuestring);
        cJSON_Delete(root);
    }
    assert_int_equal(reserved, 50);
    assert_int_equal(failed, 150);
    stock_of(f, f->base + 1, &avail, &held);
    assert_int_equal(avail, 0);
    assert_int_equal(held, 50);
    ts_records_free(recs, n);
    ts_consumer_free(c);
}

/* ---- saga: reserve, all-or-nothing, confirm, cancel, refund; ids chain ---- */

static void test_saga_outcomes(void **state)
{
    struct fixture *f = *state;
    struct ts_consumer *c = ts_consumer_new(f->stock_topic);
    long long a = f->base + 1, b = f->base + 2, avail, held;
    char o1[64], o2[64], o3[64], o4[64], items[384], placed_id[UTIL_UUID_LEN];
    struct ts_record *recs = NULL;
    size_t n;
    cJSON *root, *data, *it;

    start(f, NULL);
    snprintf(o1, sizeof(o1), "o1-%lld", f->base);
    snprintf(o2, sizeof(o2), "o2-%lld", f->base);
    snprintf(o3, sizeof(o3), "o3-%lld", f->base);
    snprintf(o4, sizeof(o4), "o4-%lld", f->base);
    sku_created(f, a, 5);
    sku_created(f, b, 1);
    wait_stock(f, a, 5);
    wait_stock(f, b, 1);

    /* two lines, the second short: nothing reserved */
    snprintf(items, sizeof(items),
             "[{\"skuId\":%lld,\"quantity\":2,\"unitPrice\":1},{\"skuId\":%lld,\"quantity\":2,"
             "\"unitPrice\":1}]",
             a, b);
    order_placed(f, o1, items, placed_id);
    n = consume_exactly(c, 1, &recs);
    assert_string_equal(type_of(&recs[0]), "stock.reservation.failed");
    data = data_of(&recs[0], &root);
    assert_string_equal(cJSON_GetObjectItem(data, "reason")->valuestring, "NOT_ENOUGH_STOCK");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(data, "failedItems")), 1);
    it = cJSON_GetArrayItem(cJSON_GetObjectItem(data, "failedItems"), 0);
    assert_int_equal(field(it, "skuId"), b);
    assert_int_equal(field(it, "requestedQuantity"), 2);
    assert_int_equal(field(it, "availableQuantity"), 1);
    /* correlation and causation chain from the consumed event */
    {
        char corr[96];

        snprintf(corr, sizeof(corr), "corr-%s", o1);
        assert_string_equal(cJSON_GetObjectItem(root, "correlationid")->valuestring, corr);
        assert_string_equal(cJSON_GetObjectItem(root, "causationid")->valuestring, placed_id);
        assert_string_equal(ts_record_header(&recs[0], "ce_correlationid"), corr);
    }
    cJSON_Delete(root);
    ts_records_free(recs, n);
    stock_of(f, a, &avail, &held);
    assert_int_equal(avail, 5);
    assert_int_equal(held, 0);
    stock_of(f, b, &avail, &held);
    assert_int_equal(avail, 1);

    /* o2: reserve 2 of a (a line split in two is merged), confirm */
    snprintf(items, sizeof(items),
             "[{\"skuId\":%lld,\"quantity\":1,\"unitPrice\":1},{\"skuId\":%lld,\"quantity\":1,"
             "\"unitPrice\":1}]",
             a, a);
    order_placed(f, o2, items, NULL);
    order_simple(f, "order.confirmed", o2, NULL);
    /* o3: reserve 1 of b, cancel */
    snprintf(items, sizeof(items), "[{\"skuId\":%lld,\"quantity\":1,\"unitPrice\":1}]", b);
    order_placed(f, o3, items, NULL);
    order_simple(f, "order.cancelled", o3, NULL);
    /* o4: confirm without a reservation */
    order_simple(f, "order.confirmed", o4, NULL);
    n = consume_exactly(c, 5, &recs);
    {
        int seen_confirmed = 0, seen_released = 0, seen_failed = 0, seen_reserved = 0;

        for (size_t i = 0; i < n; i++) {
            const char *t = type_of(&recs[i]);

            data = data_of(&recs[i], &root);
            if (strcmp(t, "stock.reserved") == 0) {
                seen_reserved++;
            } else if (strcmp(t, "stock.confirmed") == 0) {
                assert_string_equal(recs[i].key, o2);
                it = cJSON_GetArrayItem(cJSON_GetObjectItem(data, "items"), 0);
                assert_int_equal(field(it, "skuId"), a);
                assert_int_equal(field(it, "quantity"), 2);
                seen_confirmed++;
            } else if (strcmp(t, "stock.released") == 0) {
                assert_string_equal(recs[i].key, o3);
                assert_string_equal(cJSON_GetObjectItem(data, "reason")->valuestring,
                                    "USER_CANCELLED");
                seen_released++;
            } else {
                assert_string_equal(t, "stock.confirm.failed");
                assert_string_equal(recs[i].key, o4);
                assert_string_equal(cJSON_GetObjectItem(data, "reason")->valuestring,
                                    "NO_RESERVATION");
                seen_failed++;
            }
            assert_string_equal(ts_record_header(&recs[i], "ce_source"), "/inventory-service");
            cJSON_Delete(root);
        }
        assert_int_equal(seen_reserved, 2);
        assert_int_equal(seen_confirmed, 1);
        assert_int_equal(seen_released, 1);
        assert_int_equal(seen_failed, 1);
    }
    ts_records_free(recs, n);
    stock_of(f, a, &avail, &held);
    assert_int_equal(avail, 3);
    assert_int_equal(held, 0);
    stock_of(f, b, &avail, &held);
    assert_int_equal(avail, 1);
    assert_int_equal(held, 0);

    /* refund of o2: at most the 2 bought come back, however often asked */
    snprintf(items, sizeof(items),
             "{\"orderId\":\"%s\",\"userId\":\"u-1\",\"refundId\":\"rf-%s\",\"amount\":5000,"
             "\"items\":[{\"orderItemId\":1,\"skuId\":%lld,\"quantity\":5,\"amount\":5000}]}",
             o2, o2, a);
    send_event(f, f->order_topic, "order.refunded", o2, items, NULL);
    send_event(f, f->order_topic, "order.refunded", o2, items, NULL);
    wait_stock(f, a, 5);
    ts_consumer_free(c);
}

/* ---- replay: the same events again change nothing and re-emit the same outcomes ---- */

static bool stream_empty(void *arg)
{
    struct fixture *f = arg;
    redisReply *r = redis_cmd("XLEN %s", f->stream);
    bool empty = r->type == REDIS_REPLY_INTEGER && r->integer == 0;

    freeReplyObject(r);
    return empty;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static void ids_of(struct ts_record *recs, size_t n, char **out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (char *)ts_record_header(&recs[i], "ce_id");
    qsort(out, n, sizeof(*out), cmp_str);
}

static void test_replay_changes_nothing(void **state)
{
    struct fixture *f = *state;
    struct ts_consumer *c = ts_consumer_new(f->stock_topic);
    long long a = f->base + 1, avail1, held1, avail2, held2;
    char o1[64], o2[64], o3[64], items[256];
    struct ts_record *first = NULL, *again = NULL;
    char *ids1[8], *ids2[8];
    size_t n1, n2, sent;

    start(f, NULL);
    snprintf(o1, sizeof(o1), "r1-%lld", f->base);
    snprintf(o2, sizeof(o2), "r2-%lld", f->base);
    snprintf(o3, sizeof(o3), "r3-%lld", f->base);
    sku_created(f, a, 3);
    wait_stock(f, a, 3);
    snprintf(items, sizeof(items), "[{\"skuId\":%lld,\"quantity\":2,\"unitPrice\":1}]", a);
    order_placed(f, o1, items, NULL); /* reserved */
    order_placed(f, o2, items, NULL); /* fails: 1 left */
    order_simple(f, "order.confirmed", o1, NULL);
    snprintf(items, sizeof(items), "[{\"skuId\":%lld,\"quantity\":1,\"unitPrice\":1}]", a);
    order_placed(f, o3, items, NULL); /* reserved */
    order_simple(f, "order.cancelled", o3, NULL);
    n1 = consume_exactly(c, 5, &first);
    assert_true(ts_poll_until(stream_empty, f, 30000));
    stock_of(f, a, &avail1, &held1);
    assert_int_equal(avail1, 1);
    assert_int_equal(held1, 0);

    /* every consumed event once more, byte for byte */
    sent = f->nsent;
    for (size_t i = 0; i < sent; i++)
        assert_int_equal(ts_produce(f->sent[i].topic, f->sent[i].key, f->sent[i].value,
                                    strlen(f->sent[i].value), NULL),
                         0);
    n2 = consume_exactly(c, 5, &again);
    ids_of(first, n1, ids1);
    ids_of(again, n2, ids2);
    for (size_t i = 0; i < n1; i++)
        assert_string_equal(ids1[i], ids2[i]);
    /* identical envelopes, too */
    for (size_t i = 0; i < n1; i++) {
        for (size_t k = 0; k < n2; k++) {
            if (strcmp(ts_record_header(&first[i], "ce_id"),
                       ts_record_header(&again[k], "ce_id")) == 0) {
                assert_int_equal(first[i].len, again[k].len);
                assert_memory_equal(first[i].value, again[k].value, first[i].len);
            }
        }
    }
    stock_of(f, a, &avail2, &held2);
    assert_int_equal(avail2, avail1);
    assert_int_equal(held2, held1);
    ts_records_free(first, n1);
    ts_records_free(again, n2);
    ts_consumer_free(c);
}

/* ---- retention: terminal reservations expire, open ones stay; late duplicates ---- */

struct res_wait {
    const char *order;
    long long want; /* TTL the reservation must show: > 0 "expiring", -1 kept, -2 gone */
};

static bool res_ttl_is(void *arg)
{
    struct res_wait *w = arg;
    redisReply *r = redis_cmd("TTL inv:res:%s", w->order);
    bool ok = r->type == REDIS_REPLY_INTEGER &&
              (w->want > 0 ? r->integer > 0 && r->integer <= w->want : r->integer == w->want);

    freeReplyObject(r);
    return ok;
}

static void wait_res_ttl(const char *order, long long want)
{
    struct res_wait w = {order, want};

    if (!ts_poll_until(res_ttl_is, &w, 60000))
        fail_msg("reservation of '%s' never had TTL %lld", order, want);
}

/* The event's own record expires after INBOX_RETENTION_S (≥ 60 s): checked, then deleted as
 * its expiry would, so a redelivery finds neither record. */
static void expire_event_record(const char *event_id)
{
    redisReply *r = redis_cmd("TTL inv:evt:%s", event_id);

    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_true(r->integer > 0);
    freeReplyObject(r);
    r = redis_cmd("DEL inv:evt:%s", event_id);
    freeReplyObject(r);
}

/* The stored bytes of the sent event @event_id, produced again. */
static void resend(struct fixture *f, const char *event_id)
{
    for (size_t i = 0; i < f->nsent; i++) {
        if (strstr(f->sent[i].value, event_id)) {
            assert_int_equal(ts_produce(f->sent[i].topic, f->sent[i].key, f->sent[i].value,
                                        strlen(f->sent[i].value), NULL),
                             0);
            return;
        }
    }
    fail_msg("event '%s' was not sent", event_id);
}

static void test_terminal_reservations_expire(void **state)
{
    struct fixture *f = *state;
    struct ts_consumer *c = ts_consumer_new(f->stock_topic);
    long long a = f->base + 1, avail, held;
    char sold[64], freed[64], open[64], items[256];
    char confirm_id[UTIL_UUID_LEN], cancel_id[UTIL_UUID_LEN];
    struct ts_record *recs = NULL;
    size_t n;

    start(f, "INVENTORY_RESERVATION_RETENTION_S=4");
    snprintf(sold, sizeof(sold), "t1-%lld", f->base);
    snprintf(freed, sizeof(freed), "t2-%lld", f->base);
    snprintf(open, sizeof(open), "t3-%lld", f->base);
    sku_created(f, a, 10);
    wait_stock(f, a, 10);
    snprintf(items, sizeof(items), "[{\"skuId\":%lld,\"quantity\":3,\"unitPrice\":1}]", a);
    order_placed(f, sold, items, NULL);
    snprintf(items, sizeof(items), "[{\"skuId\":%lld,\"quantity\":2,\"unitPrice\":1}]", a);
    order_placed(f, freed, items, NULL);
    snprintf(items, sizeof(items), "[{\"skuId\":%lld,\"quantity\":1,\"unitPrice\":1}]", a);
    order_placed(f, open, items, NULL);
    wait_res_ttl(sold, -1); /* reserved: no expiry */
    order_simple(f, "order.confirmed", sold, confirm_id);
    order_simple(f, "order.cancelled", freed, cancel_id);
    wait_res_ttl(sold, 4);  /* confirmed: expiring */
    wait_res_ttl(freed, 4); /* released: expiring */
    n = ts_consume(c, 5, 120000, &recs);
    assert_int_equal(n, 5); /* reserved ×3, confirmed, released */
    ts_records_free(recs, n);
    wait_res_ttl(sold, -2);
    wait_res_ttl(freed, -2);
    wait_res_ttl(open, -1); /* still held after the others expired */
    stock_of(f, a, &avail, &held);
    assert_int_equal(avail, 6);
    assert_int_equal(held, 1);

    /* redelivered after both records expired: confirm → stock.confirm.failed (order-service
     * ignores it for a confirmed order), cancel → nothing; then an order.confirmed of the
     * released order (same key, so handled after the cancel) shows the cancel was handled */
    expire_event_record(confirm_id);
    expire_event_record(cancel_id);
    resend(f, confirm_id);
    resend(f, cancel_id);
    order_simple(f, "order.confirmed", freed, NULL);
    n = consume_exactly(c, 2, &recs);
    for (size_t i = 0; i < n; i++) {
        cJSON *root, *data = data_of(&recs[i], &root);

        assert_string_equal(type_of(&recs[i]), "stock.confirm.failed");
        assert_string_equal(cJSON_GetObjectItem(data, "reason")->valuestring, "NO_RESERVATION");
        cJSON_Delete(root);
    }
    ts_records_free(recs, n);
    stock_of(f, a, &avail, &held);
    assert_int_equal(avail, 6);
    assert_int_equal(held, 1);
    wait_res_ttl(sold, -2); /* no key made again */
    wait_res_ttl(freed, -2);

    /* the open reservation is released by its own cancel, once */
    order_simple(f, "order.cancelled", open, NULL);
    wait_stock(f, a, 7);
    wait_res_ttl(open, 4);
    ts_consumer_free(c);
}

/* ---- killed between the Redis change and the publish ---- */

struct evt_wait {
    const char *event_id;
};

static bool event_recorded(void *arg)
{
    struct evt_wait *w = arg;
    redisReply *r = redis_cmd("EXISTS inv:evt:%s", w->event_id);
    bool yes = r->type == REDIS_REPLY_INTEGER && r->integer == 1;

    freeReplyObject(r);
    return yes;
}

static void test_sigkill_after_script_publishes_once(void **state)
{
    struct fixture *f = *state;
    struct ts_consumer *c = ts_consumer_new(f->stock_topic);
    long long a = f->base + 1, avail, held;
    char order[64], items[256], id[UTIL_UUID_LEN];
    struct ts_record *recs = NULL;
    struct evt_wait w = {id};
    redisReply *r;
    size_t n;
    int status;

    /* stock set up directly, so the only event the crashing instance sees is the order */
    r = redis_cmd("HSET inv:sku:%lld available 4 reserved 0 sold 0 returned 0 received 4", a);
    freeReplyObject(r);
    start(f, "INVENTORY_TEST_CRASH_AFTER_SCRIPT=true");
    snprintf(order, sizeof(order), "k-%lld", f->base);
    snprintf(items, sizeof(items), "[{\"skuId\":%lld,\"quantity\":3,\"unitPrice\":1}]", a);
    order_placed(f, order, items, id);
    assert_true(ts_poll_until(event_recorded, &w, 60000));
    status = ts_service_stop(&f->svc, SIGKILL);
    f->running = false;
    assert_int_equal(status, 128 + SIGKILL);
    /* the change is in Redis, its event is not on Kafka */
    n = ts_consume(c, 1, 2000, &recs);
    assert_int_equal(n, 0);
    ts_records_free(recs, n);

    /* back up (same group: the order is delivered again): published exactly once */
    start(f, NULL);
    n = consume_exactly(c, 1, &recs);
    assert_string_equal(type_of(&recs[0]), "stock.reserved");
    assert_string_equal(recs[0].key, order);
    assert_string_equal(ts_record_header(&recs[0], "ce_causationid"), id);
    ts_records_free(recs, n);
    stock_of(f, a, &avail, &held);
    assert_int_equal(avail, 1);
    assert_int_equal(held, 3);
    ts_consumer_free(c);
}

/* ---- bad events go to the dead-letter topic; the consumer goes on ---- */

static void test_bad_events_to_dlq(void **state)
{
    struct fixture *f = *state;
    char dlq[80], order[64], items[256], id[UTIL_UUID_LEN], data[256];
    struct ts_consumer *dc, *sc = ts_consumer_new(f->stock_topic);
    struct ts_record *recs = NULL;
    const char *junk = "{not json";
    char *v2;
    size_t n;

    snprintf(dlq, sizeof(dlq), "%s.dlq", f->order_topic);
    dc = ts_consumer_new(dlq);
    start(f, NULL);
    sku_created(f, f->base + 1, 2);
    wait_stock(f, f->base + 1, 2);
    snprintf(order, sizeof(order), "d-%lld", f->base);
    /* 1: not JSON */
    assert_int_equal(ts_produce(f->order_topic, order, junk, strlen(junk), NULL), 0);
    /* 2: a version this service does not know */
    snprintf(items, sizeof(items),
             "{\"orderId\":\"%s\",\"items\":[{\"skuId\":%lld,\"quantity\":1}]}", order,
             f->base + 1);
    util_uuid(id);
    v2 = envelope("order.placed", 2, id, order, items);
    assert_int_equal(ts_produce(f->order_topic, order, v2, strlen(v2), NULL), 0);
    free(v2);
    /* 3: quantity 0; 4: no items; 5: skuId a string */
    snprintf(items, sizeof(items), "[{\"skuId\":%lld,\"quantity\":0}]", f->base + 1);
    order_placed(f, order, items, NULL);
    snprintf(data, sizeof(data), "{\"orderId\":\"%s\"}", order);
    send_event(f, f->order_topic, "order.placed", order, data, NULL);
    order_placed(f, order, "[{\"skuId\":\"x\",\"quantity\":1}]", NULL);
    /* a type this service does not handle: skipped, not dead-lettered */
    send_event(f, f->order_topic, "order.shipped", order, data, NULL);
    /* and a good one after them all */
    snprintf(items, sizeof(items), "[{\"skuId\":%lld,\"quantity\":1,\"unitPrice\":1}]",
             f->base + 1);
    order_placed(f, order, items, NULL);

    n = consume_exactly(dc, 5, &recs);
    for (size_t i = 0; i < n; i++) {
        assert_non_null(ts_record_header(&recs[i], "dlq_error"));
        assert_string_equal(recs[i].key, order);
        /* all but the non-JSON one are refused by the schema validator */
        if (i > 0)
            assert_int_equal(strncmp(ts_record_header(&recs[i], "dlq_error"), "schema: ", 8), 0);
    }
    ts_records_free(recs, n);
    n = consume_exactly(sc, 1, &recs);
    assert_string_equal(type_of(&recs[0]), "stock.reserved");
    ts_records_free(recs, n);
    ts_consumer_free(dc);
    ts_consumer_free(sc);
}

/* ---- an order taken before its SKU's product.sku.created waits for it ---- */

static bool sku_pending_counted(void *arg)
{
    struct fixture *f = arg;
    struct ts_resp r;
    char u[256];
    bool seen;

    snprintf(u, sizeof(u), "%s/metrics", f->svc.url);
    assert_int_equal(ts_http("GET", u, NULL, NULL, NULL, &r), 0);
    seen = r.status == 200 && r.body &&
           strstr(r.body, "commerce_inventory_outcomes_total{outcome=\"SKU_PENDING\"}");
    ts_resp_free(&r);
    return seen;
}

static void test_order_before_its_sku(void **state)
{
    struct fixture *f = *state;
    struct ts_consumer *sc = ts_consumer_new(f->stock_topic), *dc;
    long long a = f->base + 1, never = f->base + 2, avail, held;
    char dlq[80], o1[64], o2[64], items[256];
    struct ts_record *recs = NULL;
    cJSON *root, *data;
    size_t n;

    snprintf(dlq, sizeof(dlq), "%s.dlq", f->order_topic);
    dc = ts_consumer_new(dlq);
    /* deliveries 1-7 wait, at least 25 ms each (CONSUMER_BACKOFF_BASE_MS=50) */
    start(f, "INVENTORY_UNKNOWN_SKU_ATTEMPTS=8");
    snprintf(o1, sizeof(o1), "early-%lld", f->base);
    snprintf(o2, sizeof(o2), "never-%lld", f->base);

    /* the order first; its SKU's stock once inventory has met the order and waited */
    snprintf(items, sizeof(items), "[{\"skuId\":%lld,\"quantity\":2}]", a);
    order_placed(f, o1, items, NULL);
    if (!ts_poll_until(sku_pending_counted, f, 60000))
        fail_msg("order '%s' of an unknown SKU never waited", o1);
    sku_created(f, a, 5);
    n = consume_exactly(sc, 1, &recs);
    assert_string_equal(type_of(&recs[0]), "stock.reserved");
    assert_string_equal(recs[0].key, o1);
    ts_records_free(recs, n);
    stock_of(f, a, &avail, &held);
    assert_int_equal(avail, 3);
    assert_int_equal(held, 2);

    /* a SKU that never comes: the last delivery fails the order, nothing reserved, no DLQ */
    snprintf(items, sizeof(items),
             "[{\"skuId\":%lld,\"quantity\":1},{\"skuId\":%lld,\"quantity\":1}]", a, never);
    order_placed(f, o2, items, NULL);
    n = consume_exactly(sc, 1, &recs);
    assert_string_equal(type_of(&recs[0]), "stock.reservation.failed");
    assert_string_equal(recs[0].key, o2);
    data = data_of(&recs[0], &root);
    assert_string_equal(cJSON_GetObjectItem(data, "reason")->valuestring, "SKU_NOT_FOUND");
    cJSON_Delete(root);
    ts_records_free(recs, n);
    stock_of(f, a, &avail, &held);
    assert_int_equal(avail, 3);
    assert_int_equal(held, 2);
    n = ts_consume(dc, 1, 2000, &recs);
    ts_records_free(recs, n);
    assert_int_equal(n, 0);
    ts_consumer_free(dc);
    ts_consumer_free(sc);
}

/* ---- HTTP ---- */

/* An HTTP call with @headers ("Name: value", NULL-terminated, may be NULL); when @want_code is
 * set, the answer must be a problem+json with that code. The status; the JSON into *@ret. */
static long http_call_h(struct fixture *f, const char *method, const char *path, const char *token,
                        const char *body, const char *const *headers, const char *want_code,
                        cJSON **ret)
{
    struct ts_resp r;
    char u[256];
    long status;

    snprintf(u, sizeof(u), "%s%s", f->svc.url, path);
    assert_int_equal(ts_http(method, u, token, body, headers, &r), 0);
    status = r.status;
    if (want_code) {
        const cJSON *code = r.json ? cJSON_GetObjectItem(r.json, "code") : NULL;

        if (!code || strcmp(code->valuestring, want_code) != 0)
            fail_msg("%s %s: wanted problem %s, got %ld %s", method, path, want_code, status,
                     r.body);
        assert_non_null(strstr(r.content_type, "application/problem+json"));
    }
    if (ret) {
        *ret = r.json;
        r.json = NULL;
    }
    ts_resp_free(&r);
    return status;
}

static long http_call(struct fixture *f, const char *method, const char *path, const char *token,
                      const char *body, const char *want_code, cJSON **ret)
{
    return http_call_h(f, method, path, token, body, NULL, want_code, ret);
}

struct snap_wait {
    struct db_pool *pool;
    long long sku;
    long long available;
};

static bool snapshot_has(void *arg)
{
    struct snap_wait *w = arg;
    char err[256];
    struct db_conn *conn = db_acquire(w->pool, err, sizeof(err));
    struct db_result *res = NULL;
    struct db_param p[] = {DB_INT(w->sku)};
    bool ok = false;

    if (!conn)
        return false;
    if (db_query(conn, "SELECT available, received FROM inventory_snapshot WHERE sku_id = ?", p, 1,
                 &res) == 0)
        ok = db_result_rows(res) == 1 && db_result_int(res, 0, 0) == w->available;
    db_result_free(res);
    db_release(w->pool, conn);
    return ok;
}

static void test_http_routes_and_snapshot(void **state)
{
    struct fixture *f = *state;
    long long a = f->base + 1, b = f->base + 2, unknown = f->base + 9;
    char path[128], body[512];
    cJSON *j = NULL;

    start(f, NULL);
    sku_created(f, a, 10);
    sku_created(f, b, 1);
    wait_stock(f, a, 10);
    wait_stock(f, b, 1);

    snprintf(path, sizeof(path), "/api/inventories/%lld", unknown);
    assert_int_equal(http_call(f, "GET", path, NULL, NULL, "INVENTORY-404-001", NULL), 404);
    assert_int_equal(
        http_call(f, "GET", "/api/inventories/abc", NULL, NULL, "INVENTORY-400-001", NULL), 400);
    snprintf(path, sizeof(path), "/api/inventories/%lld", a);
    assert_int_equal(http_call(f, "GET", path, NULL, NULL, NULL, &j), 200);
    assert_int_equal(field(j, "skuId"), a);
    assert_int_equal(field(j, "totalStock"), 10);
    assert_int_equal(field(j, "reservedStock"), 0);
    assert_int_equal(field(j, "availableStock"), 10);
    cJSON_Delete(j);

    /* single increase / decrease */
    snprintf(path, sizeof(path), "/api/inventories/%lld/increase", a);
    assert_int_equal(http_call(f, "POST", path, NULL, "{\"quantity\":5}", NULL, NULL), 401);
    assert_int_equal(http_call(f, "POST", path, f->user, "{\"quantity\":5}", NULL, NULL), 403);
    assert_int_equal(
        http_call(f, "POST", path, f->admin, "{\"quantity\":0}", "INVENTORY-400-001", NULL), 400);
    assert_int_equal(http_call(f, "POST", path, f->admin, "{\"quantity\":", NULL, NULL), 400);
    assert_int_equal(http_call(f, "POST", path, f->admin, "{\"quantity\":5}", NULL, &j), 200);
    assert_int_equal(field(j, "availableStock"), 15);
    cJSON_Delete(j);
    snprintf(path, sizeof(path), "/api/inventories/%lld/decrease", a);
    assert_int_equal(
        http_call(f, "POST", path, f->admin, "{\"quantity\":16}", "INVENTORY-409-001", NULL), 409);
    assert_int_equal(http_call(f, "POST", path, f->admin, "{\"quantity\":3}", NULL, &j), 200);
    assert_int_equal(field(j, "availableStock"), 12);
    cJSON_Delete(j);
    snprintf(path, sizeof(path), "/api/inventories/%lld/increase", unknown);
    assert_int_equal(
        http_call(f, "POST", path, f->admin, "{\"quantity\":1}", "INVENTORY-404-001", NULL), 404);

    /* bulk: all or nothing */
    snprintf(body, sizeof(body),
             "{\"items\":[{\"skuId\":%lld,\"quantity\":1},{\"skuId\":%lld,\"quantity\":1}]}", a,
             unknown);
    assert_int_equal(http_call(f, "POST", "/api/inventories/increase", f->admin, body,
                               "INVENTORY-404-001", NULL),
                     404);
    snprintf(body, sizeof(body),
             "{\"items\":[{\"skuId\":%lld,\"quantity\":2},{\"skuId\":%lld,\"quantity\":2}]}", a, b);
    assert_int_equal(http_call(f, "POST", "/api/inventories/decrease", f->admin, body,
                               "INVENTORY-409-001", NULL),
                     409);
    assert_int_equal(http_call(f, "POST", "/api/inventories/increase", f->admin, body, NULL, &j),
                     200);
    assert_int_equal(cJSON_GetArraySize(j), 2);
    cJSON_Delete(j);
    assert_int_equal(http_call(f, "POST", "/api/inventories/decrease", f->admin, body, NULL, &j),
                     200);
    assert_int_equal(field(cJSON_GetArrayItem(j, 0), "availableStock"), 12);
    assert_int_equal(field(cJSON_GetArrayItem(j, 1), "availableStock"), 1);
    cJSON_Delete(j);
    assert_int_equal(http_call(f, "POST", "/api/inventories/increase", f->admin, "{\"items\":[]}",
                               "INVENTORY-400-001", NULL),
                     400);

    /* an Idempotency-Key: a retried increase answers 200 and changes nothing, the key with
     * another quantity is refused, a key of 129 characters is bad input */
    {
        char key[48], hdr[300], path_dec[96];
        const char *headers[] = {hdr, NULL};

        ts_unique("inc", key, sizeof(key));
        snprintf(hdr, sizeof(hdr), "Idempotency-Key: %s", key);
        snprintf(path, sizeof(path), "/api/inventories/%lld/increase", a);
        for (int i = 0; i < 2; i++) {
            assert_int_equal(
                http_call_h(f, "POST", path, f->admin, "{\"quantity\":4}", headers, NULL, &j), 200);
            assert_int_equal(field(j, "availableStock"), 16);
            cJSON_Delete(j);
        }
        assert_int_equal(http_call_h(f, "POST", path, f->admin, "{\"quantity\":5}", headers,
                                     "INVENTORY-422-001", NULL),
                         422);
        snprintf(hdr, sizeof(hdr), "Idempotency-Key: %0129d", 7);
        assert_int_equal(http_call_h(f, "POST", path, f->admin, "{\"quantity\":5}", headers,
                                     "INVENTORY-400-001", NULL),
                         400);
        /* back to 12 for what follows */
        snprintf(path_dec, sizeof(path_dec), "/api/inventories/%lld/decrease", a);
        assert_int_equal(http_call(f, "POST", path_dec, f->admin, "{\"quantity\":4}", NULL, &j),
                         200);
        assert_int_equal(field(j, "availableStock"), 12);
        cJSON_Delete(j);
    }

    /* bulk read: the SKUs that have stock */
    snprintf(body, sizeof(body), "{\"skuIds\":[%lld,%lld,%lld]}", a, unknown, b);
    assert_int_equal(http_call(f, "POST", "/api/inventories/bulk", NULL, body, NULL, &j), 200);
    assert_int_equal(cJSON_GetArraySize(j), 2);
    assert_int_equal(field(cJSON_GetArrayItem(j, 0), "skuId"), a);
    assert_int_equal(field(cJSON_GetArrayItem(j, 1), "skuId"), b);
    cJSON_Delete(j);
    {
        char big[2048];
        size_t used = (size_t)snprintf(big, sizeof(big), "{\"skuIds\":[1");

        for (int i = 0; i < 100; i++)
            used += (size_t)snprintf(big + used, sizeof(big) - used, ",%d", i + 2);
        snprintf(big + used, sizeof(big) - used, "]}");
        assert_int_equal(
            http_call(f, "POST", "/api/inventories/bulk", NULL, big, "INVENTORY-400-001", NULL),
            400);
    }
    assert_int_equal(http_call(f, "POST", "/api/inventories/bulk", NULL, "{\"skuIds\":[\"x\"]}",
                               "INVENTORY-400-001", NULL),
                     400);

    /* the snapshot reaches MariaDB */
    {
        struct db_opts opts = {.host = ts_env("DB_HOST"),
                               .port = (unsigned)atoi(ts_env("DB_PORT")),
                               .user = ts_env("DB_USER"),
                               .password = ts_env("DB_PASSWORD"),
                               .database = f->db,
                               .pool_size = 1,
                               .connect_timeout_s = 5,
                               .acquire_timeout_ms = 5000};
        char err[256];
        struct snap_wait w = {.sku = a, .available = 12};

        w.pool = db_pool_new(&opts, err, sizeof(err));
        assert_non_null(w.pool);
        assert_true(ts_poll_until(snapshot_has, &w, 30000));
        db_pool_free(w.pool);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_concurrent_orders_never_oversell, setup, teardown),
        cmocka_unit_test_setup_teardown(test_saga_outcomes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_terminal_reservations_expire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigkill_after_script_publishes_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_events_to_dlq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_before_its_sku, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_routes_and_snapshot, setup, teardown),
    };
    int rc;

    mysql_library_init(0, NULL, NULL);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    mysql_library_end();
    return rc;
}
