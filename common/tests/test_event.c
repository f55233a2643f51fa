/*
 * test_event.c - unit tests of the CloudEvents envelope and the topic map (no I/O).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/event.h"
#include "common/msgctx.h"

#define ID "3f0e4a1c-2b6d-4c1e-9a77-0d5b6f7e8a90"
#define TP "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

static const char *const FULL_JSON =
    "{\"specversion\":\"1.0\",\"id\":\"" ID "\",\"source\":\"order-service\","
    "\"type\":\"order.placed\",\"subject\":\"o-1\",\"time\":\"2026-01-02T03:04:05.678Z\","
    "\"datacontenttype\":\"application/json\","
    "\"dataschema\":\"urn:commerce:event:order.placed:v2\",\"correlationid\":\"corr-1\","
    "\"causationid\":\"cause-1\",\"traceparent\":\"" TP "\",\"data\":{\"orderId\":\"o-1\"}}";

static struct msgctx test_ctx(void)
{
    struct msgctx ctx;

    memset(&ctx, 0, sizeof(ctx));
    strcpy(ctx.correlation_id, "corr-1");
    strcpy(ctx.causation_id, "cause-1");
    strcpy(ctx.message_id, ID);
    strcpy(ctx.traceparent, TP);
    return ctx;
}

static void make_event(struct event *ev)
{
    struct msgctx ctx = test_ctx();
    cJSON *data = cJSON_CreateObject();

    cJSON_AddStringToObject(data, "orderId", "o-1");
    cJSON_AddNumberToObject(data, "payableAmount", 12000);
    assert_int_equal(event_init(ev, "order.placed", 2, "order-service", "o-1", &ctx, data), 0);
}

static void assert_same_event(const struct event *a, const struct event *b)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->source, b->source);
    assert_string_equal(a->type, b->type);
    assert_string_equal(a->subject, b->subject);
    assert_string_equal(a->time, b->time);
    assert_string_equal(a->dataschema, b->dataschema);
    assert_string_equal(a->correlationid, b->correlationid);
    assert_string_equal(a->causationid, b->causationid);
    assert_string_equal(a->traceparent, b->traceparent);
    assert_int_equal(a->version, b->version);
    assert_true(cJSON_Compare(a->data, b->data, 1));
}

static void test_init_fills_from_ctx(void **state)
{
    struct event ev;

    (void)state;
    make_event(&ev);
    assert_string_equal(ev.id, ID);
    assert_string_equal(ev.correlationid, "corr-1");
    assert_string_equal(ev.causationid, "cause-1");
    assert_string_equal(ev.traceparent, TP);
    assert_string_equal(ev.dataschema, "urn:commerce:event:order.placed:v2");
    assert_int_equal(ev.version, 2);
    assert_int_equal(strlen(ev.time), 24);
    assert_non_null(ev.data);
    event_release(&ev);
    event_release(&ev); /* idempotent */
}

static void test_init_without_ctx_and_bad_args(void **state)
{
    struct event ev;

    (void)state;
    assert_int_equal(event_init(&ev, "stock.reserved", 1, "inventory-service", "o-2", NULL, NULL),
                     0);
    assert_int_equal(strlen(ev.id), 36);
    assert_string_equal(ev.correlationid, ev.id);
    assert_true(cJSON_IsObject(ev.data));
    event_release(&ev);

    /* ownership of data is taken even on failure (ASan would see a leak otherwise) */
    assert_int_equal(event_init(&ev, "", 1, "s", "x", NULL, cJSON_CreateObject()), -EINVAL);
    assert_null(ev.data);
    assert_int_equal(event_init(&ev, "order.placed", 0, "s", "x", NULL, cJSON_CreateObject()),
                     -EINVAL);
    assert_int_equal(event_init(&ev, "order.placed", 1, "s", "x", NULL, cJSON_CreateArray()),
                     -EINVAL);
    event_release(&ev);
}

static void test_json_round_trip(void **state)
{
    struct event ev, back;
    char err[256];
    char *json;

    (void)state;
    make_event(&ev);
    json = event_to_json(&ev);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"datacontenttype\":\"application/json\""));
    assert_non_null(strstr(json, "\"specversion\":\"1.0\""));
    assert_int_equal(event_parse(json, strlen(json), NULL, 0, &back, err, sizeof(err)), 0);
    assert_same_event(&ev, &back);
    event_release(&back);
    free(json);
    event_release(&ev);
}

static void test_headers_round_trip(void **state)
{
    struct event_header hdrs[EVENT_MAX_HEADERS];
    struct event ev, back;
    const char *body = "{\"data\":{\"orderId\":\"o-1\",\"payableAmount\":12000}}";
    char err[256];
    size_t n, i;
    int seen_ct = 0, seen_sv = 0;

    (void)state;
    make_event(&ev);
    n = event_to_headers(&ev, hdrs, EVENT_MAX_HEADERS);
    assert_int_equal(n, 11);
    for (i = 0; i < n; i++) {
        if (strcmp(hdrs[i].name, "content-type") == 0) {
            /* structured mode: the JSON event format's media type */
            assert_string_equal(hdrs[i].value, "application/cloudevents+json");
            seen_ct = 1;
        } else {
            assert_memory_equal(hdrs[i].name, "ce_", 3);
        }
        if (strcmp(hdrs[i].name, "ce_specversion") == 0)
            seen_sv = 1;
    }
    assert_true(seen_ct && seen_sv);
    /* structured (content-type), a body with only data: every attribute from the headers */
    assert_int_equal(event_parse(body, strlen(body), hdrs, n, &back, err, sizeof(err)), 0);
    assert_same_event(&ev, &back);
    event_release(&back);
    /* the count is capped by max */
    assert_int_equal(event_to_headers(&ev, hdrs, 3), 3);
    event_release(&ev);
}

static void test_body_wins_over_headers(void **state)
{
    const struct event_header hdrs[] = {
        {"ce_id", "from-header"},
        {"ce_subject", "header-subject"},
        {"other", "x"},
    };
    struct event ev;
    char err[256];

    (void)state;
    assert_int_equal(event_parse(FULL_JSON, strlen(FULL_JSON), hdrs, 3, &ev, err, sizeof(err)), 0);
    assert_string_equal(ev.id, ID);
    assert_string_equal(ev.subject, "o-1");
    assert_int_equal(ev.version, 2);
    event_release(&ev);
}

/* FULL_JSON with attribute @name removed from the body. */
static char *without(const char *name)
{
    cJSON *root = cJSON_Parse(FULL_JSON);
    char *printed, *out;

    cJSON_DeleteItemFromObjectCaseSensitive(root, name);
    printed = cJSON_PrintUnformatted(root);
    out = strdup(printed);
    cJSON_free(printed);
    cJSON_Delete(root);
    return out;
}

/* FULL_JSON with attribute @name replaced by @item. */
static char *replaced(const char *name, cJSON *item)
{
    cJSON *root = cJSON_Parse(FULL_JSON);
    char *printed, *out;

    cJSON_ReplaceItemInObjectCaseSensitive(root, name, item);
    printed = cJSON_PrintUnformatted(root);
    out = strdup(printed);
    cJSON_free(printed);
    cJSON_Delete(root);
    return out;
}

static void test_required_missing(void **state)
{
    static const char *const required[] = {"specversion", "id",         "source",
                                           "type",        "dataschema", "data"};
    static const char *const optional[] = {"subject",     "time",        "correlationid",
                                           "causationid", "traceparent", "datacontenttype"};
    struct event ev;
    char err[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        char *json = without(required[i]);

        memset(&ev, 0, sizeof(ev));
        err[0] = '\0';
        assert_int_equal(event_parse(json, strlen(json), NULL, 0, &ev, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, required[i]));
        assert_null(ev.data);
        free(json);
    }
    for (i = 0; i < sizeof(optional) / sizeof(optional[0]); i++) {
        char *json = without(optional[i]);

        assert_int_equal(event_parse(json, strlen(json), NULL, 0, &ev, err, sizeof(err)), 0);
        event_release(&ev);
        free(json);
    }
}

static void test_header_fallback_for_missing(void **state)
{
    /* structured mode by content-type, so a body without specversion is still an envelope */
    const struct event_header hdrs[] = {{"ce_id", "hdr-id"},
                                        {"ce_specversion", "1.0"},
                                        {"content-type", "application/cloudevents+json"}};
    char *json = without("id");
    struct event ev;
    char err[256];

    (void)state;
    assert_int_equal(event_parse(json, strlen(json), hdrs, 3, &ev, err, sizeof(err)), 0);
    assert_string_equal(ev.id, "hdr-id");
    event_release(&ev);
    free(json);

    json = without("specversion");
    assert_int_equal(event_parse(json, strlen(json), hdrs, 3, &ev, err, sizeof(err)), 0);
    event_release(&ev);
    free(json);
}

static void expect_invalid(const char *json, const char *reason)
{
    struct event ev;
    char err[256] = "";

    memset(&ev, 0, sizeof(ev));
    assert_int_equal(event_parse(json, strlen(json), NULL, 0, &ev, err, sizeof(err)), -EINVAL);
    if (reason)
        assert_non_null(strstr(err, reason));
    assert_null(ev.data);
}

static void test_invalid_payloads(void **state)
{
    char *json;

    (void)state;
    expect_invalid("not json", "not JSON");
    expect_invalid("[1,2]", "not a JSON object");
    expect_invalid("{\"specversion\":\"0.3\"}", "specversion");
    expect_invalid("{\"specversion\":1.0}", "specversion");

    json = strdup(FULL_JSON);
    memcpy(strstr(json, "\"1.0\""), "\"2.0\"", 5);
    expect_invalid(json, "specversion");
    free(json);

    json = strdup(FULL_JSON);
    memcpy(strstr(json, ":v2\""), ":vX\"", 4);
    expect_invalid(json, "dataschema");
    free(json);

    json = strdup(FULL_JSON);
    memcpy(strstr(json, ":v2\""), ":v0\"", 4);
    expect_invalid(json, "dataschema");
    free(json);

    json = strdup(FULL_JSON);
    memcpy(strstr(json, "\"type\":\"order.placed\""), "\"type\":\"order.plac3d\"", 21);
    expect_invalid(json, "dataschema"); /* schema names another type */
    free(json);

    json = replaced("data", cJSON_CreateArray());
    expect_invalid(json, "data");
    free(json);

    json = replaced("source", cJSON_CreateNumber(42));
    expect_invalid(json, "source");
    free(json);

    json = replaced("id", cJSON_CreateString("an-id-that-is-far-too-long-for-the-id-field-of-"
                                             "struct-event-which-holds-63-characters"));
    expect_invalid(json, "too long");
    free(json);

    /* a length that cuts the document is honoured */
    {
        struct event ev;
        char err[64];

        assert_int_equal(event_parse(FULL_JSON, 20, NULL, 0, &ev, err, sizeof(err)), -EINVAL);
    }
}

static void test_version_parse(void **state)
{
    char urn[160];
    struct event ev;
    char err[128];
    char *json;

    (void)state;
    event_schema_urn("payment.completed", 7, urn, sizeof(urn));
    assert_string_equal(urn, "urn:commerce:event:payment.completed:v7");

    json = strdup(FULL_JSON);
    memcpy(strstr(json, ":v2\""), ":v9\"", 4);
    assert_int_equal(event_parse(json, strlen(json), NULL, 0, &ev, err, sizeof(err)), 0);
    assert_int_equal(ev.version, 9);
    event_release(&ev);
    free(json);
}

/* ---- content modes (the CloudEvents Kafka protocol binding) ---- */

#define SKU_DATA "{\"skuId\":\"sku-9\",\"productId\":\"p-1\",\"price\":1500}"

/* A binary-mode message as the CloudEvents SDKs write it: attributes as ce_* headers with
 * percent-encoded values, datacontenttype as content-type, the value = data. */
static const struct event_header BINARY_HDRS[] = {
    {"ce_specversion", "1.0"},
    {"ce_id", "sdk-1"},
    {"ce_source", "%2Fcatalog-service"},
    {"ce_type", "product.sku.created"},
    {"ce_time", "2026-01-02T03%3A04%3A05.123456Z"},
    {"ce_subject", "sku-9"},
    {"ce_dataschema", "urn%3Acommerce%3Aevent%3Aproduct.sku.created%3Av1"},
    {"ce_correlationid", "corr-9"},
    {"ce_causationid", "cause-9"},
    {"ce_traceparent", TP},
    {"content-type", "application/json"},
};
#define BINARY_N (sizeof(BINARY_HDRS) / sizeof(BINARY_HDRS[0]))

static int parse_with(const char *value, const struct event_header *hdrs, size_t n,
                      struct event *ev, char *err, size_t errlen)
{
    memset(ev, 0, sizeof(*ev));
    err[0] = '\0';
    return event_parse(value, strlen(value), hdrs, n, ev, err, errlen);
}

static void test_binary_mode(void **state)
{
    cJSON *want = cJSON_Parse(SKU_DATA);
    struct event ev;
    char err[256];

    (void)state;
    assert_int_equal(parse_with(SKU_DATA, BINARY_HDRS, BINARY_N, &ev, err, sizeof(err)), 0);
    assert_int_equal(ev.mode, EVENT_MODE_BINARY);
    assert_string_equal(ev.id, "sdk-1");
    assert_string_equal(ev.source, "/catalog-service"); /* percent-decoded */
    assert_string_equal(ev.type, "product.sku.created");
    assert_string_equal(ev.time, "2026-01-02T03:04:05.123456Z");
    assert_string_equal(ev.subject, "sku-9");
    assert_string_equal(ev.dataschema, "urn:commerce:event:product.sku.created:v1");
    assert_int_equal(ev.version, 1); /* from ce_dataschema */
    assert_string_equal(ev.correlationid, "corr-9");
    assert_string_equal(ev.causationid, "cause-9");
    assert_string_equal(ev.traceparent, TP);
    assert_true(cJSON_Compare(ev.data, want, 1)); /* the value is data, not an envelope */
    event_release(&ev);

    /* no content-type: binary too (datacontenttype absent: JSON); parameters are allowed */
    assert_int_equal(parse_with(SKU_DATA, BINARY_HDRS, BINARY_N - 1, &ev, err, sizeof(err)), 0);
    assert_int_equal(ev.mode, EVENT_MODE_BINARY);
    assert_true(cJSON_Compare(ev.data, want, 1));
    event_release(&ev);
    {
        struct event_header hdrs[BINARY_N];

        memcpy(hdrs, BINARY_HDRS, sizeof(hdrs));
        hdrs[BINARY_N - 1] =
            (struct event_header){"Content-Type", "application/json; charset=utf-8"};
        assert_int_equal(parse_with(SKU_DATA, hdrs, BINARY_N, &ev, err, sizeof(err)), 0);
        event_release(&ev);
    }

    /* data that has members named like attributes is still data: the value is not consulted */
    {
        const char *value = "{\"id\":\"not-the-id\",\"data\":{\"x\":1}}";
        cJSON *v = cJSON_Parse(value);

        assert_int_equal(parse_with(value, BINARY_HDRS, BINARY_N, &ev, err, sizeof(err)), 0);
        assert_string_equal(ev.id, "sdk-1");
        assert_true(cJSON_Compare(ev.data, v, 1));
        event_release(&ev);
        cJSON_Delete(v);
    }
    cJSON_Delete(want);
}

/* BINARY_HDRS without header @name (NULL: all), with @extra appended when given. */
static size_t binary_hdrs(struct event_header *out, const char *drop, struct event_header *extra)
{
    size_t n = 0, i;

    for (i = 0; i < BINARY_N; i++)
        if (!drop || strcmp(BINARY_HDRS[i].name, drop) != 0)
            out[n++] = BINARY_HDRS[i];
    if (extra)
        out[n++] = *extra;
    return n;
}

static void test_binary_refused(void **state)
{
    static const char *const required[] = {"specversion", "id", "source", "type", "dataschema"};
    struct event_header hdrs[BINARY_N + 1];
    struct event ev;
    char err[256], name[32];
    size_t i, n;

    (void)state;
    /* a missing required attribute: refused with its name (the consumer dead-letters it) */
    for (i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        snprintf(name, sizeof(name), "ce_%s", required[i]);
        n = binary_hdrs(hdrs, name, NULL);
        assert_int_equal(n, BINARY_N - 1);
        assert_int_equal(parse_with(SKU_DATA, hdrs, n, &ev, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, required[i]));
        assert_non_null(strstr(err, "binary mode"));
        assert_null(ev.data);
    }
    /* optional ones may be absent */
    n = binary_hdrs(hdrs, "ce_subject", NULL);
    assert_int_equal(parse_with(SKU_DATA, hdrs, n, &ev, err, sizeof(err)), 0);
    assert_string_equal(ev.subject, "");
    event_release(&ev);

    n = binary_hdrs(hdrs, NULL, NULL);
    hdrs[BINARY_N - 1].value = "text/plain";
    assert_int_equal(parse_with(SKU_DATA, hdrs, n, &ev, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "datacontenttype"));

    hdrs[BINARY_N - 1].value = "application/cloudevents+avro";
    assert_int_equal(parse_with(SKU_DATA, hdrs, n, &ev, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "event format"));

    n = binary_hdrs(hdrs, NULL, NULL);
    assert_int_equal(parse_with("[1,2]", hdrs, n, &ev, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "not a JSON object"));
    assert_int_equal(parse_with("\"text\"", hdrs, n, &ev, err, sizeof(err)), -EINVAL);
    assert_int_equal(event_parse("", 0, hdrs, n, &ev, err, sizeof(err)), -EINVAL); /* tombstone */
    assert_null(ev.data);

    hdrs[1].value = "%00id"; /* an encoded NUL */
    assert_int_equal(parse_with(SKU_DATA, hdrs, n, &ev, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "'id'"));
    hdrs[1].value = "100%zz"; /* not an escape: kept as it is */
    assert_int_equal(parse_with(SKU_DATA, hdrs, n, &ev, err, sizeof(err)), 0);
    assert_string_equal(ev.id, "100%zz");
    event_release(&ev);

    n = binary_hdrs(hdrs, NULL, NULL);
    hdrs[6].value = "urn:commerce:event:order.placed:v1"; /* names another type */
    assert_int_equal(parse_with(SKU_DATA, hdrs, n, &ev, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "dataschema"));
    hdrs[0].value = "0.3";
    assert_int_equal(parse_with(SKU_DATA, hdrs, n, &ev, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "specversion"));
}

static void test_structured_mode(void **state)
{
    /* an envelope without ce_* headers, as the SDKs write structured mode */
    struct event_header ct = {"content-type", "application/cloudevents+json; charset=UTF-8"};
    cJSON *want = cJSON_Parse("{\"orderId\":\"o-1\"}");
    struct event ev;
    char err[256];

    (void)state;
    assert_int_equal(parse_with(FULL_JSON, &ct, 1, &ev, err, sizeof(err)), 0);
    assert_int_equal(ev.mode, EVENT_MODE_STRUCTURED);
    assert_string_equal(ev.id, ID);
    assert_true(cJSON_Compare(ev.data, want, 1));
    event_release(&ev);

    /* a structured value that is not an envelope is refused, not read as binary data */
    assert_int_equal(parse_with(SKU_DATA, &ct, 1, &ev, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "specversion"));
    assert_null(ev.data);

    /* our messages from before structured mode (application/json + ce_* headers, value = the
     * envelope) and envelopes whose producer put datacontenttype into content-type */
    {
        struct event_header hdrs[BINARY_N];
        size_t n = binary_hdrs(hdrs, NULL, NULL);

        assert_int_equal(parse_with(FULL_JSON, hdrs, n, &ev, err, sizeof(err)), 0);
        assert_int_equal(ev.mode, EVENT_MODE_STRUCTURED);
        assert_string_equal(ev.id, ID); /* the body wins over the headers */
        assert_string_equal(ev.type, "order.placed");
        assert_true(cJSON_Compare(ev.data, want, 1));
        event_release(&ev);
    }
    cJSON_Delete(want);
}

static void test_topic_defaults(void **state)
{
    size_t i;

    (void)state;
    unsetenv("TOPIC_ORDER_PLACED");
    unsetenv("TOPIC_STOCK_RESERVATION_FAILED");
    assert_int_equal(event_topics_load(NULL, 0), 0);
    assert_string_equal(event_topic("product.sku.created"), "product-events");
    assert_string_equal(event_topic("order.placed"), "order-events");
    assert_string_equal(event_topic("order.refunded"), "order-events");
    assert_string_equal(event_topic("stock.reservation.failed"), "stock-events");
    assert_string_equal(event_topic("payment.refunded"), "payment-events");
    for (i = 0; EVENT_TYPES[i]; i++)
        assert_non_null(event_topic(EVENT_TYPES[i]));
    assert_int_equal(i, 14);
    assert_null(event_topic("order.exploded"));
    assert_null(event_topic("order"));
    assert_null(event_topic(""));
    assert_null(event_topic(NULL));
}

/* event_types.h: every type's name parses back to it, each has a producer, a version and a
 * topic in its own family ("order.*" → "order-events"); unknown names are EVENT_NONE. */
static void test_type_table(void **state)
{
    (void)state;
    for (int t = EVENT_NONE + 1; t < EVENT_NTYPES; t++) {
        const char *name = event_type_name((enum event_type)t);
        const char *topic = event_type_default_topic((enum event_type)t);
        size_t family = strcspn(name, ".");

        assert_non_null(name);
        assert_int_equal(event_type_parse(name), t);
        assert_string_equal(EVENT_TYPES[t - 1], name);
        assert_true(event_type_version((enum event_type)t) >= 1);
        assert_true(event_type_version((enum event_type)t) <=
                    event_type_max_version((enum event_type)t));
        assert_non_null(strstr(event_type_producer((enum event_type)t), "-service"));
        assert_int_equal(strncmp(topic, name, family), 0);
        assert_string_equal(topic + family, "-events");
    }
    assert_string_equal(event_type_producer(EVENT_STOCK_RESERVED), "inventory-service");
    assert_int_equal(event_type_version(EVENT_ORDER_PLACED), 2);
    assert_int_equal(event_type_parse("order.exploded"), EVENT_NONE);
    assert_int_equal(event_type_parse(NULL), EVENT_NONE);
    assert_null(event_type_name(EVENT_NONE));
    assert_null(event_type_name(EVENT_NTYPES));
    assert_int_equal(event_type_version(EVENT_NONE), 0);
    assert_int_equal(event_type_max_version(EVENT_PAYMENT_COMPLETED), 2);
    assert_int_equal(event_type_max_version(EVENT_NONE), 0);
    /* the consumers column: whole names only */
    assert_true(event_type_consumed_by(EVENT_ORDER_PLACED, "inventory-service"));
    assert_true(event_type_consumed_by(EVENT_ORDER_PLACED, "payment-service"));
    assert_false(event_type_consumed_by(EVENT_ORDER_PLACED, "order-service"));
    assert_false(event_type_consumed_by(EVENT_ORDER_PLACED, "payment"));
    assert_false(event_type_consumed_by(EVENT_ORDER_PLACED, "payment-service2"));
    assert_false(event_type_consumed_by(EVENT_ORDER_PLACED, ""));
    assert_false(event_type_consumed_by(EVENT_NONE, "order-service"));
    assert_true(event_type_consumed_by(EVENT_STOCK_RESERVED, "order-service"));
}

static void test_topic_overrides(void **state)
{
    char err[256];

    (void)state;
    setenv("TOPIC_ORDER_PLACED", "orders-v2", 1);
    setenv("TOPIC_STOCK_RESERVATION_FAILED", "stock.failures", 1);
    assert_int_equal(event_topics_load(err, sizeof(err)), 0);
    assert_string_equal(event_topic("order.placed"), "orders-v2");
    assert_string_equal(event_topic("order.confirmed"), "order-events");
    assert_string_equal(event_topic("stock.reservation.failed"), "stock.failures");

    setenv("TOPIC_ORDER_PLACED", "bad topic!", 1);
    setenv("TOPIC_PAYMENT_FAILED", "also/bad", 1);
    assert_int_equal(event_topics_load(err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "TOPIC_ORDER_PLACED"));
    assert_non_null(strstr(err, "TOPIC_PAYMENT_FAILED"));

    unsetenv("TOPIC_ORDER_PLACED");
    unsetenv("TOPIC_PAYMENT_FAILED");
    unsetenv("TOPIC_STOCK_RESERVATION_FAILED");
    assert_int_equal(event_topics_load(err, sizeof(err)), 0);
    assert_string_equal(event_topic("order.placed"), "order-events");
    assert_string_equal(event_topic("stock.reservation.failed"), "stock-events");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_fills_from_ctx),
        cmocka_unit_test(test_init_without_ctx_and_bad_args),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_headers_round_trip),
        cmocka_unit_test(test_body_wins_over_headers),
        cmocka_unit_test(test_required_missing),
        cmocka_unit_test(test_header_fallback_for_missing),
        cmocka_unit_test(test_invalid_payloads),
        cmocka_unit_test(test_binary_mode),
        cmocka_unit_test(test_binary_refused),
        cmocka_unit_test(test_structured_mode),
        cmocka_unit_test(test_version_parse),
        cmocka_unit_test(test_topic_defaults),
        cmocka_unit_test(test_topic_overrides),
        cmocka_unit_test(test_type_table),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
