/*
 * e2e_ops.c - issue 6, the operator commands against a running stack: the six services on real
 * MariaDB, Redis and Kafka (tests/support/saga.h), and $BUILD_DIR/bin/commercectl run with
 * popen() the way an operator would.
 *
 *   - trace: a CONFIRMED order of two SKUs shows exactly its 8 events: the product.sku.created
 *     of both SKUs (roots, with their prices), order.placed a root with stock.reserved and
 *     payment.created under it, payment.completed a root (caused by the confirm request),
 *     order.confirmed under it and stock.confirmed under order.confirmed; after a refund of one
 *     line (PARTIALLY_REFUNDED) 10, order.refunded a root with payment.refunded under it;
 *   - dlq: a poison message, failed permanently by a consumer of common/'s kafka_consumer while
 *     "the bug" is present, is listed on <topic>.dlq; after "the fix" one `dlq replay` brings it
 *     to the handler exactly once, and a second replay re-publishes nothing;
 *   - outbox status: catalog, order and payment (and inventory's stream) at backlog 0 once the
 *     saga settled.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "common/kafka.h"
#include "common/util.h"
#include "saga.h"
#include "testsup.h"

#define STEP_MS 60000 /* one saga step under ASan on a busy machine */
#define CTL_MS 120000 /* until a commercectl command shows what is expected */
#define PRICE 12000
#define PRICE2 3500
#define OUT_MAX (256 * 1024)

struct fixture {
    struct saga_stack st;
    struct saga_user u;
    long long sku, sku2;
};

/* ---- commercectl ---- */

/* Runs "$BUILD_DIR/bin/commercectl @args"; stdout into @out. Returns the exit status or -1. */
static int ctl(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int ctl(char *out, size_t outlen, const char *fmt, ...)
{
    char args[1024], cmd[1400];
    size_t used = 0, got;
    va_list ap;
    FILE *p;
    int st;

    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof(cmd), "%s/bin/commercectl %s", ts_env("BUILD_DIR"), args);
    p = popen(cmd, "r");
    if (!p)
        return -1;
    out[0] = '\0';
    while (used + 1 < outlen && (got = fread(out + used, 1, outlen - used - 1, p)) > 0)
        used += got;
    out[used] = '\0';
    st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Exports TOPIC_<TYPE> of the run (saga.c sets them only on the services). */
static void export_topics(const struct saga_stack *st)
{
    static const char *const types[] = {
        "PRODUCT_SKU_CREATED",      "ORDER_PLACED",     "ORDER_CONFIRMED",
        "ORDER_CANCELLED",          "ORDER_REFUNDED",   "STOCK_RESERVED",
        "STOCK_RESERVATION_FAILED", "STOCK_CONFIRMED",  "STOCK_CONFIRM_FAILED",
        "STOCK_RELEASED",           "PAYMENT_CREATED",  "PAYMENT_COMPLETED",
        "PAYMENT_FAILED",           "PAYMENT_REFUNDED", NULL};

    for (size_t i = 0; types[i]; i++) {
        char name[64];
        const char *topic = !strncmp(types[i], "PRODUCT", 7) ? st->topic_product
                            : !strncmp(types[i], "ORDER", 5) ? st->topic_order
                            : !strncmp(types[i], "STOCK", 5) ? st->topic_stock
                                                             : st->topic_payment;

        snprintf(name, sizeof(name), "TOPIC_%s", types[i]);
        setenv(name, topic, 1);
    }
}

/* ---- fixture ---- */

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct saga_opts opts = {
        .prefix = "e2e_ops", .payment_deadline_s = 900, .gateway_timeout_ms = 300};
    long long cat;
    char name[64];

    if (!f)
        return -1;
    if (saga_stack_start(&f->st, &opts) < 0) {
        free(f);
        return -1;
    }
    *state = f;
    export_topics(&f->st);
    ts_unique("Ops", name, sizeof(name));
    if (saga_user_new(&f->st, "ops", &f->u) < 0 || saga_category_new(&f->st, name, &cat) < 0 ||
        saga_product_new(&f->st, cat, "Ops product", PRICE, 10, &f->sku) < 0 ||
        saga_product_new(&f->st, cat, "Ops product 2", PRICE2, 10, &f->sku2) < 0 ||
        saga_stock_wait(&f->st, f->sku, STEP_MS) < 0 ||
        saga_stock_wait(&f->st, f->sku2, STEP_MS) < 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(saga_stack_stop(&f->st), 0);
    free(f);
    return 0;
}

/* ---- trace ---- */

struct trace_line {
    int depth;
    char type[64];
    char text[512];
    int parent; /* index of the line it is nested under, -1 for a root */
};

/* Parses commercectl trace output ("<2 spaces per depth>time type service fields"). Every line
 * is about the order (its id) or, for product.sku.created, about one of its SKUs. */
static size_t parse_trace(char *out, const char *order_id, const long long *skus, size_t nskus,
                          struct trace_line *lines, size_t max)
{
    size_t n = 0;
    char *save = NULL;

    for (char *l = strtok_r(out, "\n", &save); l && n < max; l = strtok_r(NULL, "\n", &save)) {
        char time[48], type[64];
        int sp = 0;

        while (l[sp] == ' ')
            sp++;
        assert_int_equal(sp % 2, 0);
        assert_int_equal(sscanf(l + sp, "%47s %63s", time, type), 2);
        if (strcmp(type, "product.sku.created") == 0) {
            bool ours = false;

            for (size_t i = 0; i < nskus && !ours; i++) {
                char want[64];

                snprintf(want, sizeof(want), " skuId=%lld ", skus[i]);
                ours = strstr(l, want) != NULL;
            }
            if (!ours)
                fail_msg("a product.sku.created of another SKU: %s", l);
        } else if (!strstr(l, order_id)) {
            fail_msg("a line about another order: %s", l);
        }
        lines[n].depth = sp / 2;
        snprintf(lines[n].type, sizeof(lines[n].type), "%s", type);
        snprintf(lines[n].text, sizeof(lines[n].text), "%s", l + sp);
        lines[n].parent = -1;
        for (size_t j = n; j-- > 0;) {
            if (lines[j].depth == lines[n].depth - 1) {
                lines[n].parent = (int)j;
                break;
            }
        }
        n++;
    }
    return n;
}

static size_t count_type(const struct trace_line *lines, size_t n, const char *type)
{
    size_t c = 0;

    for (size_t i = 0; i < n; i++)
        c += strcmp(lines[i].type, type) == 0;
    return c;
}

static const struct trace_line *find_line(const struct trace_line *lines, size_t n,
                                          const char *type)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(lines[i].type, type) == 0)
            return &lines[i];
    }
    fail_msg("trace has no %s", type);
    return NULL;
}

/* Asserts @child is nested directly under @parent (NULL: a root). */
static void assert_under(const struct trace_line *lines, size_t n, const char *child,
                         const char *parent)
{
    const struct trace_line *c = find_line(lines, n, child);

    if (!parent) {
        if (c->depth != 0)
            fail_msg("%s is not a root (depth %d)", child, c->depth);
        return;
    }
    if (c->parent < 0 || strcmp(lines[c->parent].type, parent) != 0)
        fail_msg("%s is under %s, want %s", child,
                 c->parent < 0 ? "nothing" : lines[c->parent].type, parent);
}

/* Runs `commercectl trace @id` until its output has @want_lines lines and holds @last (the
 * outboxes publish the last events a moment after the statuses changed); parses it. */
static size_t trace_until(const char *id, const long long *skus, size_t nskus, size_t want_lines,
                          const char *last, struct trace_line *lines, size_t max)
{
    static char out[OUT_MAX];
    int64_t deadline = util_now_mono_ms() + CTL_MS;
    size_t nl;
    int rc;

    do {
        rc = ctl(out, sizeof(out), "trace %s --timeout-ms 60000", id);
        nl = 0;
        for (const char *c = out; *c; c++)
            nl += *c == '\n';
        if (rc == 0 && strstr(out, last) && nl >= want_lines)
            break;
        util_sleep_ms(200); /* poll interval */
    } while (util_now_mono_ms() < deadline);
    printf("%s", out);
    assert_int_equal(rc, 0);
    return parse_trace(out, id, skus, nskus, lines, max);
}

static void test_trace_shows_the_causation_tree(void **state)
{
    struct fixture *f = *state;
    struct saga_line order_lines[2] = {{f->sku, 1}, {f->sku2, 2}};
    const long long skus[2] = {f->sku, f->sku2};
    static char out[OUT_MAX];
    char id[64], item[64], body[1024], status[32], want[96];
    const char *items[1];
    struct trace_line lines[64];
    cJSON *j = NULL;
    long long payable;
    long http;
    size_t n;

    http = saga_order_place(&f->st, &f->u, order_lines, 2, NULL, NULL, STEP_MS, id, sizeof(id));
    assert_true(http == 201 || http == 200);
    assert_int_equal(
        saga_order_wait(&f->st, f->u.token, id, "PAYMENT_PENDING", STEP_MS, status, 32, &j), 0);
    payable = saga_order_payable(j);
    cJSON_Delete(j);
    assert_int_equal(payable, PRICE + 2 * PRICE2);
    http = saga_pay(&f->st, f->u.token, id, payable, "card_ok_ops", STEP_MS, body, sizeof(body));
    assert_int_equal(http, 200);
    assert_int_equal(saga_order_wait(&f->st, f->u.token, id, "CONFIRMED", STEP_MS, status, 32, &j),
                     0);
    assert_int_equal(saga_order_item(j, 0, item, sizeof(item), NULL), 0);
    cJSON_Delete(j);

    /* the confirmed order: its six saga events and the two SKUs it bought */
    n = trace_until(id, skus, 2, 8, " stock.confirmed ", lines, sizeof(lines) / sizeof(lines[0]));
    assert_int_equal(n, 8);
    assert_int_equal(count_type(lines, n, "product.sku.created"), 2);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(lines[i].type, "product.sku.created") == 0)
            assert_int_equal(lines[i].depth, 0);
    }
    snprintf(want, sizeof(want), " skuId=%lld price=%d ", f->sku2, PRICE2);
    assert_non_null(strstr(lines[0].text, want) ? lines[0].text : strstr(lines[1].text, want));
    assert_under(lines, n, "order.placed", NULL);
    assert_under(lines, n, "stock.reserved", "order.placed");
    assert_under(lines, n, "payment.created", "order.placed");
    assert_under(lines, n, "payment.completed", NULL);
    assert_under(lines, n, "order.confirmed", "payment.completed");
    assert_under(lines, n, "stock.confirmed", "order.confirmed");

    /* a refund of one line adds order.refunded and payment.refunded */
    items[0] = item;
    http = saga_order_refund(&f->st, f->u.token, id, items, 1);
    assert_true(http == 200 || http == 202);
    j = NULL;
    assert_int_equal(
        saga_order_wait(&f->st, f->u.token, id, "PARTIALLY_REFUNDED", STEP_MS, status, 32, &j), 0);
    cJSON_Delete(j);
    n = trace_until(id, skus, 2, 10, " payment.refunded ", lines, sizeof(lines) / sizeof(lines[0]));
    assert_int_equal(n, 10);
    assert_under(lines, n, "order.refunded", NULL);
    assert_under(lines, n, "payment.refunded", "order.refunded");

    /* nothing matches an unknown id: exit 1 */
    assert_int_equal(ctl(out, sizeof(out), "trace no-such-order-%s --timeout-ms 60000", id), 1);
}

/* ---- dlq ---- */

#define POISON_TYPE "ops.test.poison"

struct poison_app {
    atomic_bool bug;      /* while true the handler fails permanently */
    atomic_int failed;    /* poison deliveries failed */
    atomic_int handled;   /* poison deliveries handled after the fix */
    atomic_int sentinels; /* sentinel deliveries */
    char poison_id[64];
};

static enum kafka_result poison_handler(const struct event *ev, const struct kafka_record *rec,
                                        void *app, char *errbuf, size_t errlen)
{
    struct poison_app *a = app;

    (void)rec;
    if (strcmp(ev->id, a->poison_id) != 0) {
        atomic_fetch_add(&a->sentinels, 1);
        return KAFKA_OK;
    }
    if (atomic_load(&a->bug)) {
        atomic_fetch_add(&a->failed, 1);
        snprintf(errbuf, errlen, "the bug: cannot handle %s", ev->id);
        return KAFKA_FAIL;
    }
    atomic_fetch_add(&a->handled, 1);
    return KAFKA_OK;
}

/* Produces a valid envelope of POISON_TYPE with @id to @topic. */
static void produce_event(const char *topic, const char *id)
{
    char value[512];
    const char *headers[] = {"ce_id", id, "ce_type", POISON_TYPE, NULL};

    snprintf(
        value, sizeof(value),
        "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"/e2e-ops\",\"type\":\"" POISON_TYPE
        "\",\"subject\":\"k1\",\"dataschema\":\"urn:commerce:event:" POISON_TYPE ":v1\","
        "\"data\":{\"n\":1}}",
        id);
    assert_int_equal(ts_produce(topic, "k1", value, strlen(value), headers), 0);
}

static bool at_least(atomic_int *v, int want, int timeout_ms)
{
    int64_t deadline = util_now_mono_ms() + timeout_ms;

    while (atomic_load(v) < want) {
        if (util_now_mono_ms() > deadline)
            return false;
        util_sleep_ms(50); /* polling a counter, not synchronising on time */
    }
    return true;
}

static void test_dlq_replay_brings_a_fixed_poison_message_through_once(void **state)
{
    static const struct kafka_type types[] = {{POISON_TYPE, 1, 1}, {NULL, 0, 0}};
    static char out[OUT_MAX];
    struct poison_app app = {0};
    struct kafka_producer_opts popts = {
        .bootstrap = ts_env("KAFKA_BOOTSTRAP"), .client_id = "e2e-ops", .auth = ts_kafka_auth()};
    struct kafka_producer *producer;
    struct kafka_consumer *consumer;
    char topic[96], dlq[128], group[64], sentinel[UTIL_UUID_LEN], err[512], from[160];
    const char *topics[2] = {topic, NULL};
    struct ts_consumer *tc;
    struct ts_record *recs = NULL;
    size_t nrecs, replayed = 0;
    int64_t deadline;
    int rc;

    (void)state;
    ts_unique("e2e_ops_poison", topic, sizeof(topic));
    snprintf(dlq, sizeof(dlq), "%s.dlq", topic);
    assert_int_equal(ts_create_topic(topic), 0);
    assert_int_equal(ts_create_topic(dlq), 0);
    util_uuid(app.poison_id);
    atomic_store(&app.bug, true);

    producer = kafka_producer_new(&popts, err, sizeof(err));
    assert_non_null(producer);
    ts_unique("e2e-ops-consumer", group, sizeof(group));
    {
        struct kafka_consumer_opts copts = {.bootstrap = ts_env("KAFKA_BOOTSTRAP"),
                                            .auth = ts_kafka_auth(),
                                            .group_id = group,
                                            .service = "e2e-ops",
                                            .topics = topics,
                                            .types = types,
                                            .handler = poison_handler,
                                            .app = &app,
                                            .dlq_producer = producer};

        consumer = kafka_consumer_start(&copts, err, sizeof(err));
        if (!consumer)
            fail_msg("consumer: %s", err);
    }

    /* the bug: the handler fails permanently, the consumer dead-letters the message */
    produce_event(topic, app.poison_id);
    assert_true(at_least(&app.failed, 1, STEP_MS));
    deadline = util_now_mono_ms() + CTL_MS;
    do {
        rc = ctl(out, sizeof(out), "dlq list %s", topic);
        if (rc == 0 && strstr(out, app.poison_id))
            break;
        util_sleep_ms(200); /* poll interval */
    } while ((rc != 0 || !strstr(out, app.poison_id)) && util_now_mono_ms() < deadline);
    printf("%s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, app.poison_id));
    assert_non_null(strstr(out, "service=e2e-ops"));
    assert_non_null(strstr(out, "the bug"));
    assert_int_equal(ctl(out, sizeof(out), "dlq show %s 9:0", topic), 1);

    /* the fix, then one replay: handled once */
    atomic_store(&app.bug, false);
    rc = ctl(out, sizeof(out), "dlq replay %s", topic);
    printf("%s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, app.poison_id));
    assert_true(at_least(&app.handled, 1, STEP_MS));

    /* a second replay re-publishes nothing: after a sentinel went through, still once */
    rc = ctl(out, sizeof(out), "dlq replay %s", topic);
    assert_int_equal(rc, 0);
    assert_null(strstr(out, "replayed "));
    util_uuid(sentinel);
    produce_event(topic, sentinel);
    assert_true(at_least(&app.sentinels, 1, STEP_MS));
    assert_int_equal(atomic_load(&app.handled), 1);
    assert_int_equal(atomic_load(&app.failed), 1);

    /* on the topic: the original, the replay (tagged, without dlq_* headers), the sentinel */
    tc = ts_consumer_new(topic);
    assert_non_null(tc);
    nrecs = ts_consume(tc, 3, STEP_MS, &recs);
    assert_int_equal(nrecs, 3);
    for (size_t i = 0; i < nrecs; i++) {
        const char *rf = ts_record_header(&recs[i], "replayed_from");

        if (!rf)
            continue;
        replayed++;
        snprintf(from, sizeof(from), "%s/", dlq);
        assert_int_equal(strncmp(rf, from, strlen(from)), 0);
        assert_null(ts_record_header(&recs[i], "dlq_error"));
        assert_null(ts_record_header(&recs[i], "dlq_original_topic"));
        assert_string_equal(ts_record_header(&recs[i], "ce_id"), app.poison_id);
        assert_string_equal(recs[i].key, "k1");
    }
    assert_int_equal(replayed, 1);
    ts_records_free(recs, nrecs);
    ts_consumer_free(tc);

    kafka_consumer_stop(consumer);
    kafka_producer_free(producer);
}

/* ---- outbox status ---- */

/* true when @out shows at least one backlog and every one is 0 */
static bool backlogs_zero(const char *out)
{
    const char *p = strstr(out, "backlog=");

    if (!p)
        return false;
    for (; p; p = strstr(p + 1, "backlog=")) {
        if (strncmp(p, "backlog=0 ", 10) != 0)
            return false;
    }
    return true;
}

static void test_outbox_status_after_the_saga_settled(void **state)
{
    struct fixture *f = *state;
    static char out[OUT_MAX];
    char group[96];
    int64_t deadline;
    int rc;

    setenv("CATALOG_DB_NAME", f->st.catalog_db, 1);
    setenv("ORDER_DB_NAME", f->st.order_db, 1);
    setenv("PAYMENT_DB_NAME", f->st.payment_db, 1);
    setenv("INVENTORY_OUTBOX_STREAM", f->st.stream, 1);
    snprintf(group, sizeof(group), "%s-relay", f->st.stream);
    setenv("INVENTORY_RELAY_GROUP", group, 1);
    deadline = util_now_mono_ms() + CTL_MS;
    do {
        rc = ctl(out, sizeof(out), "outbox status");
        if (rc == 0 && backlogs_zero(out))
            break;
        util_sleep_ms(200); /* poll interval */
    } while ((rc != 0 || !backlogs_zero(out)) && util_now_mono_ms() < deadline);
    printf("%s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "catalog "));
    assert_non_null(strstr(out, "order "));
    assert_non_null(strstr(out, "payment "));
    assert_non_null(strstr(out, "inventory "));
    assert_true(backlogs_zero(out));

    /* a database that does not exist is reported, not fatal: exit 1, the others still shown */
    setenv("ORDER_DB_NAME", "e2e_ops_no_such_database", 1);
    rc = ctl(out, sizeof(out), "outbox status");
    printf("%s", out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "e2e_ops_no_such_database"));
    assert_non_null(strstr(out, "payment "));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_shows_the_causation_tree),
        cmocka_unit_test(test_dlq_replay_brings_a_fixed_poison_message_through_once),
        cmocka_unit_test(test_outbox_status_after_the_saga_settled),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
