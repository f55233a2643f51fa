/*
 * commercectl.c - the operator CLI: event contracts (issue 7) and the commands operators need
 * on a running stack (issue 6). Configuration from the environment (cfg_load table below).
 *
 *   commercectl contracts check [--dir DIR]
 *       loads every schema under DIR (default "contracts"), checks each type's versions under
 *       its compatibility mode; prints one OK line per type or the violations.
 *       Exit 0 compatible, 1 violations or unloadable contracts, 2 usage.
 *   commercectl contracts validate [--dir DIR] TYPE VERSION FILE
 *       validates the JSON in FILE ("-" = stdin) against TYPE's schema VERSION ("1" or "v1").
 *       FILE may hold the payload, or a whole envelope (an object with "specversion" and
 *       "data"): then the envelope is validated too, and "data" against the schema.
 *       Exit 0 valid, 1 invalid (the error on stderr), 2 usage.
 *   commercectl trace ID [--timeout-ms N]
 *       reads every topic of the topic map (TOPIC_* honoured) from the beginning to its end and
 *       prints the events whose correlationid, subject or key is ID as a causation tree (roots:
 *       events whose cause is not shown; children under their cause, by time), one line each:
 *       "<indent>time type service fields". When they include an order.placed, the
 *       product.sku.created of each SKU it ordered (where order-service took the unit price and
 *       inventory the stock from) is read from the product topic and shown too, as a root.
 *       Exit 0 found, 1 nothing matched or Kafka failed.
 *   commercectl dlq list TOPIC | dlq show TOPIC P:O | dlq replay TOPIC [--group G]
 *       dead letters of TOPIC (on "TOPIC.dlq"): one line each; one in full; or each one not
 *       yet replayed re-published to its original topic (dlq_* headers dropped, replayed_from
 *       added), progress committed as group G's offsets (default commercectl-dlq-replay) after
 *       the broker acknowledged. Exit 0 ok, 1 missing topic / record or a failure.
 *   commercectl kafka acls [--service NAME] [--group G] [--create-topics] [--dry-run]
 *       the ACLs of each service's Kafka principal (common/kafka_acl.h; default: every
 *       service, its group its name; --group needs one --service), for the topics of the topic
 *       map (TOPIC_* honoured), created on the broker as the logged-in user (the super user);
 *       --create-topics first creates the topics each one uses; --dry-run only prints them.
 *       One line each: "User:order-service ALLOW WRITE topic order-events".
 *       Exit 0 ok, 1 the broker refused, 2 usage.
 *   commercectl outbox status
 *       outbox backlog and oldest-row age of catalog, order and payment (MariaDB), and the
 *       inventory Redis stream's length and pending entries when REDIS_HOST is set.
 *       Exit 0 every store answered, 1 one was missing or unreachable.
 * Kafka: KAFKA_BOOTSTRAP, and KAFKA_SECURITY_PROTOCOL / KAFKA_SASL_* like the services
 * (config.h); on a broker with ACLs only the admin (the super user) may run these commands.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/config.h"
#include "common/contracts.h"
#include "common/db.h"
#include "common/event.h"
#include "common/event_types.h"
#include "common/jschema.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/ops.h"
#include "common/outbox.h"
#include "common/rds.h"
#include "common/util.h"

#define MAX_INPUT (4 * 1024 * 1024)

#define CTL_TRACE_TIMEOUT_MS 30000
#define CTL_KAFKA_TIMEOUT_MS 10000
#define CTL_DLQ_GROUP "commercectl-dlq-replay"
#define CTL_TOPIC_PARTITIONS 3 /* scripts/create-topics.sh's default */

/* Prints the usage to @fp (stdout for --help, stderr with a usage error). */
static void usage(FILE *fp)
{
    fprintf(fp, "usage: commercectl contracts check [--dir DIR]\n"
                "       commercectl contracts validate [--dir DIR] TYPE VERSION FILE\n"
                "       commercectl trace ORDER_ID|CORRELATION_ID [--timeout-ms N]\n"
                "       commercectl dlq list TOPIC\n"
                "       commercectl dlq show TOPIC PARTITION:OFFSET\n"
                "       commercectl dlq replay TOPIC [--group G]\n"
                "       commercectl kafka acls [--service NAME] [--group G] [--create-topics]\n"
                "                                  [--dry-run]\n"
                "       commercectl outbox status\n"
                "  DIR defaults to ./contracts; VERSION is 1 or v1; FILE - reads stdin\n"
                "  environment: KAFKA_BOOTSTRAP, KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_MECHANISM,\n"
                "  KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD[_FILE], TOPIC_<TYPE>; DB_HOST DB_PORT "
                "DB_USER DB_PASSWORD\n"
                "  CATALOG_DB_NAME ORDER_DB_NAME PAYMENT_DB_NAME; REDIS_HOST REDIS_PORT\n"
                "  INVENTORY_OUTBOX_STREAM INVENTORY_RELAY_GROUP\n"
                "exit: 0 ok, 1 problems found / not found, 2 usage\n");
}

static void print_violation(const struct contracts_violation *v, void *arg)
{
    char line[1024];

    (void)arg;
    contracts_violation_format(v, line, sizeof(line));
    printf("FAIL %s\n", line);
}

static int cmd_check(const char *dir)
{
    struct contracts *c;
    char err[1024];
    int total = 0;

    if (contracts_load(dir, &c, err, sizeof(err)) < 0) {
        fprintf(stderr, "commercectl: %s\n", err);
        return 1;
    }
    for (size_t i = 0; i < contracts_ntypes(c); i++) {
        const char *type = contracts_type(c, i);
        int n = contracts_check_type(c, type, print_violation, NULL);

        if (n == 0)
            printf("OK   %s v1..v%d (%s)\n", type, contracts_latest(c, type),
                   contracts_mode_name(contracts_mode(c, type)));
        total += n;
    }
    if (total)
        printf("%d violation%s in %s\n", total, total == 1 ? "" : "s", dir);
    else
        printf("all %zu event types compatible\n", contracts_ntypes(c));
    contracts_free(c);
    return total ? 1 : 0;
}

static cJSON *read_input(const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char *text;
    size_t len;
    cJSON *doc = NULL;

    if (!f) {
        fprintf(stderr, "commercectl: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    text = malloc(MAX_INPUT + 1);
    if (!text) {
        fprintf(stderr, "commercectl: out of memory\n");
        goto out;
    }
    len = fread(text, 1, MAX_INPUT + 1, f);
    if (len > MAX_INPUT)
        fprintf(stderr, "commercectl: %s: larger than %d bytes\n", path, MAX_INPUT);
    else if (!(doc = cJSON_ParseWithLength(text, len)))
        fprintf(stderr, "commercectl: %s: not valid JSON\n", path);
out:
    free(text);
    if (f != stdin)
        fclose(f);
    return doc;
}

static int cmd_validate(const char *dir, const char *type, const char *version, const char *file)
{
    struct contracts *c = NULL;
    cJSON *doc = NULL;
    const cJSON *data;
    char err[1024], *end;
    long v;
    int rc = 1;

    v = strtol(version + (version[0] == 'v'), &end, 10);
    if (*end || end == version + (version[0] == 'v') || v < 1 || v > CONTRACTS_MAX_VERSIONS) {
        fprintf(stderr, "commercectl: bad version '%s'\n", version);
        usage(stderr);
        return 2;
    }
    if (contracts_load(dir, &c, err, sizeof(err)) < 0) {
        fprintf(stderr, "commercectl: %s\n", err);
        goto out;
    }
    if (!contracts_schema(c, type, (int)v)) {
        fprintf(stderr, "commercectl: no schema for %s v%ld in %s\n", type, v, dir);
        goto out;
    }
    doc = read_input(file);
    if (!doc)
        goto out;
    data = doc;
    if (cJSON_IsObject(doc) && cJSON_GetObjectItemCaseSensitive(doc, "specversion") &&
        cJSON_GetObjectItemCaseSensitive(doc, "data")) {
        if (contracts_envelope(c) &&
            jschema_validate(contracts_envelope(c), doc, err, sizeof(err)) < 0) {
            fprintf(stderr, "INVALID envelope: %s\n", err);
            goto out;
        }
        data = cJSON_GetObjectItemCaseSensitive(doc, "data");
    }
    if (contracts_validate(c, type, (int)v, data, err, sizeof(err)) < 0) {
        fprintf(stderr, "INVALID %s v%ld: %s\n", type, v, err);
        goto out;
    }
    printf("VALID %s v%ld\n", type, v);
    rc = 0;
out:
    cJSON_Delete(doc);
    contracts_free(c);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* configuration                                                                               */

struct ctl_config {
    const char *kafka_bootstrap;
    const char *db_host;
    long db_port;
    const char *db_user;
    const char *db_password;
    const char *catalog_db;
    const char *order_db;
    const char *payment_db;
    const char *redis_host;
    long redis_port;
    const char *inv_stream;
    const char *inv_relay_group;
    struct cfg_kafka_auth kafka; /* KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_* */
};

#define S struct ctl_config
static const struct cfg_entry ctl_config_table[] = {
    CFG_ENTRY_STR("KAFKA_BOOTSTRAP", "127.0.0.1:9092", true, false, S, kafka_bootstrap,
                  "Kafka bootstrap servers"),
    CFG_ENTRY_STR("DB_HOST", "127.0.0.1", false, false, S, db_host, "MariaDB host"),
    CFG_ENTRY_INT("DB_PORT", "3306", 1, 65535, S, db_port, "MariaDB port"),
    CFG_ENTRY_STR("DB_USER", "commerce", false, false, S, db_user, "MariaDB user"),
    CFG_ENTRY_STR("DB_PASSWORD", "", false, true, S, db_password, "MariaDB password"),
    CFG_ENTRY_STR("CATALOG_DB_NAME", "commerce_catalog", false, false, S, catalog_db,
                  "catalog-service database"),
    CFG_ENTRY_STR("ORDER_DB_NAME", "commerce_order", false, false, S, order_db,
                  "order-service database"),
    CFG_ENTRY_STR("PAYMENT_DB_NAME", "commerce_payment", false, false, S, payment_db,
                  "payment-service database"),
    CFG_ENTRY_STR("REDIS_HOST", NULL, false, false, S, redis_host, "Redis host (optional)"),
    CFG_ENTRY_INT("REDIS_PORT", "6379", 1, 65535, S, redis_port, "Redis port"),
    CFG_ENTRY_STR("INVENTORY_OUTBOX_STREAM", "inv:outbox", false, false, S, inv_stream,
                  "inventory-service outbox stream"),
    CFG_ENTRY_STR("INVENTORY_RELAY_GROUP", "inventory-relay", false, false, S, inv_relay_group,
                  "inventory-service relay consumer group"),
};
#undef S

/* Loads the table and the TOPIC_* overrides; 0, or -EINVAL after printing every problem. */
static int ctl_config_load(struct ctl_config *cfg)
{
    char err[1024];

    if (cfg_load(ctl_config_table, sizeof(ctl_config_table) / sizeof(ctl_config_table[0]), cfg, err,
                 sizeof(err)) < 0 ||
        event_topics_load(err, sizeof(err)) < 0 ||
        cfg_kafka_auth_load(&cfg->kafka, err, sizeof(err)) < 0) {
        fprintf(stderr, "commercectl: %s\n", err);
        return -EINVAL;
    }
    return 0;
}

/* Parses a positive int option value; -EINVAL if it is not one. */
static int ctl_parse_int(const char *s, int *ret)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v <= 0 || v > 24L * 3600 * 1000)
        return -EINVAL;
    *ret = (int)v;
    return 0;
}

/* The record's event, parsed (0, caller releases) or -EINVAL. */
static int ctl_parse_event(const struct ops_record *rec, struct event *ret)
{
    char err[256];

    if (!rec->value)
        return -EINVAL;
    return event_parse(rec->value, rec->len, rec->headers, rec->nheaders, ret, err, sizeof(err));
}

/* ------------------------------------------------------------------------------------------ */
/* trace                                                                                       */

struct trace_ev {
    char id[64];
    char cause[64];
    char time[40];
    char type[64];
    char service[64];
    char fields[512];
    char where[320]; /* topic/partition:offset, the tie-breaker after time */
    int64_t offset;
    bool shown;
};

struct trace {
    struct trace_ev *evs;
    size_t n, cap;
    size_t duplicates;
    long long *skus; /* the SKUs of the order.placed events shown */
    size_t nskus, capskus;
    size_t nsku_events;
};

/* Appends " name=value" for the payload fields an operator looks at first. */
static void trace_fields(const cJSON *data, char *out, size_t outlen)
{
    static const char *const names[] = {
        "skuId",           "price",     "initialQuantity", "status",         "reason",
        "payableAmount",   "amount",    "paidAmount",      "refundedAmount", "totalRefunded",
        "remainingAmount", "paymentId", "transactionId",   "refundId",       NULL};
    size_t used = 0;
    const cJSON *it;

    out[0] = '\0';
#define ADD(...)                                                                                   \
    do {                                                                                           \
        int w_ = snprintf(out + used, outlen - used, __VA_ARGS__);                                 \
        if (w_ > 0)                                                                                \
            used = used + (size_t)w_ < outlen ? used + (size_t)w_ : outlen - 1;                    \
    } while (0)
    it = cJSON_GetObjectItemCaseSensitive(data, "orderId");
    if (cJSON_IsString(it))
        ADD("orderId=%s", it->valuestring);
    for (size_t i = 0; names[i]; i++) {
        it = cJSON_GetObjectItemCaseSensitive(data, names[i]);
        if (cJSON_IsString(it))
            ADD("%s%s=%s", used ? " " : "", names[i], it->valuestring);
        else if (cJSON_IsNumber(it))
            ADD("%s%s=%.0f", used ? " " : "", names[i], it->valuedouble);
    }
    it = cJSON_GetObjectItemCaseSensitive(data, "items");
    if (!cJSON_IsArray(it))
        it = cJSON_GetObjectItemCaseSensitive(data, "failedItems");
    if (cJSON_IsArray(it))
        ADD("%s%s=%d", used ? " " : "", it->string, cJSON_GetArraySize(it));
#undef ADD
}

static bool trace_has(const struct trace *t, const char *id)
{
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->evs[i].id, id) == 0)
            return true;
    }
    return false;
}

/* Whether @ev belongs to @want: its correlation id, subject or record key. */
static bool trace_matches(const struct ops_record *rec, const struct event *ev, const char *want)
{
    bool key_match =
        rec->key && rec->keylen == strlen(want) && memcmp(rec->key, want, rec->keylen) == 0;

    return strcmp(ev->correlationid, want) == 0 || strcmp(ev->subject, want) == 0 || key_match;
}

/* @arr with room for one more element of @size (@n used of *@cap; doubled when full): @arr
 * itself or its reallocation, or NULL when out of memory (@arr and *@cap unchanged). */
static void *trace_grow(void *arr, size_t *cap, size_t n, size_t size)
{
    size_t want;
    void *p;

    if (arr && n < *cap)
        return arr;
    want = *cap ? *cap * 2 : 16;
    p = realloc(arr, want * size);
    if (p)
        *cap = want;
    return p;
}

static bool trace_has_sku(const struct trace *t, long long sku)
{
    for (size_t i = 0; i < t->nskus; i++) {
        if (t->skus[i] == sku)
            return true;
    }
    return false;
}

/* Remembers the SKUs of an order.placed (items[].skuId). 0 or -ENOMEM. */
static int trace_note_skus(struct trace *t, const struct event *ev)
{
    const cJSON *item;

    if (event_type_parse(ev->type) != EVENT_ORDER_PLACED)
        return 0;
    cJSON_ArrayForEach (item, cJSON_GetObjectItemCaseSensitive(ev->data, "items")) {
        const cJSON *sku = cJSON_GetObjectItemCaseSensitive(item, "skuId");
        long long *skus;

        if (!cJSON_IsNumber(sku) || trace_has_sku(t, (long long)sku->valuedouble))
            continue;
        skus = trace_grow(t->skus, &t->capskus, t->nskus, sizeof(*skus));
        if (!skus)
            return -ENOMEM;
        t->skus = skus;
        t->skus[t->nskus++] = (long long)sku->valuedouble;
    }
    return 0;
}

/* Keeps @ev (once per event id). 0 or -ENOMEM. */
static int trace_add(struct trace *t, const struct ops_record *rec, const struct event *ev)
{
    struct trace_ev *te, *evs;

    if (trace_has(t, ev->id)) {
        t->duplicates++; /* at-least-once delivery: the same event published again */
        return 0;
    }
    evs = trace_grow(t->evs, &t->cap, t->n, sizeof(*evs));
    if (!evs)
        return -ENOMEM;
    t->evs = evs;
    te = &t->evs[t->n++];
    memset(te, 0, sizeof(*te));
    util_strlcpy(te->id, ev->id, sizeof(te->id));
    util_strlcpy(te->cause, ev->causationid, sizeof(te->cause));
    util_strlcpy(te->time, ev->time[0] ? ev->time : "-", sizeof(te->time));
    util_strlcpy(te->type, ev->type, sizeof(te->type));
    util_strlcpy(te->service, ev->source[0] == '/' ? ev->source + 1 : ev->source,
                 sizeof(te->service));
    trace_fields(ev->data, te->fields, sizeof(te->fields));
    snprintf(te->where, sizeof(te->where), "%s/%" PRId32, rec->topic, rec->partition);
    te->offset = rec->offset;
    return trace_note_skus(t, ev);
}

/* Reads @topics from the beginning to the end until @deadline (monotonic ms) and keeps the
 * events @keep accepts. 0 read to the end, -EIO (Kafka failed or the time ran out: the reason
 * printed, the trace may be incomplete), -ENOMEM. Unparseable records are counted. */
static int trace_scan(struct trace *t, const struct ctl_config *cfg, const char *const *topics,
                      int64_t deadline,
                      bool (*keep)(const struct trace *t, const struct ops_record *rec,
                                   const struct event *ev, const void *arg),
                      const void *arg, size_t *unparsed)
{
    struct ops_reader *r;
    struct ops_record rec;
    char err[512];
    int got, rc = 0;
    size_t ntopics = 0;

    while (topics[ntopics])
        ntopics++;
    r = ops_reader_new(cfg->kafka_bootstrap, &cfg->kafka.auth, NULL, topics, CTL_KAFKA_TIMEOUT_MS,
                       err, sizeof(err));
    if (!r) {
        fprintf(stderr, "commercectl: %s\n", err);
        return -EIO;
    }
    if (ops_reader_missing(r))
        fprintf(stderr, "commercectl: %zu of %zu topics do not exist\n", ops_reader_missing(r),
                ntopics);
    for (;;) {
        int64_t left = deadline - util_now_mono_ms();
        struct event ev;

        got = ops_reader_next(r, left > 0 ? (int)left : 1, &rec, err, sizeof(err));
        if (got <= 0)
            break;
        if (ctl_parse_event(&rec, &ev) < 0) {
            (*unparsed)++;
            continue;
        }
        if (keep(t, &rec, &ev, arg) && trace_add(t, &rec, &ev) < 0) {
            event_release(&ev);
            fprintf(stderr, "commercectl: out of memory\n");
            rc = -ENOMEM;
            break;
        }
        event_release(&ev);
    }
    if (rc == 0 && got < 0) {
        fprintf(stderr, "commercectl: %s; the trace may be incomplete\n", err);
        rc = -EIO;
    }
    ops_reader_free(r);
    return rc;
}

static bool keep_wanted(const struct trace *t, const struct ops_record *rec, const struct event *ev,
                        const void *want)
{
    (void)t;
    return trace_matches(rec, ev, want);
}

/* A product.sku.created of one of the order's SKUs. */
static bool keep_order_sku(const struct trace *t, const struct ops_record *rec,
                           const struct event *ev, const void *arg)
{
    const cJSON *sku = cJSON_GetObjectItemCaseSensitive(ev->data, "skuId");

    (void)rec;
    (void)arg;
    return event_type_parse(ev->type) == EVENT_PRODUCT_SKU_CREATED && cJSON_IsNumber(sku) &&
           trace_has_sku(t, (long long)sku->valuedouble);
}

static int trace_cmp(const void *a, const void *b)
{
    const struct trace_ev *x = a, *y = b;
    int c = strcmp(x->time, y->time);

    if (c)
        return c;
    c = strcmp(x->where, y->where);
    if (c)
        return c;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Prints @i and, under it, the events it caused (the array is in time order). */
static void trace_print(struct trace *t, size_t i, int depth)
{
    struct trace_ev *te = &t->evs[i];

    te->shown = true;
    printf("%*s%s %s %s %s\n", depth * 2, "", te->time, te->type, te->service, te->fields);
    for (size_t j = 0; j < t->n; j++) {
        if (!t->evs[j].shown && strcmp(t->evs[j].cause, te->id) == 0)
            trace_print(t, j, depth + 1);
    }
}

/* The deduplicated topics of the topic map (NULL-terminated; strings borrowed). */
static size_t ctl_event_topics(const char **out, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; EVENT_TYPES[i] && n + 1 < max; i++) {
        const char *topic = event_topic(EVENT_TYPES[i]);
        size_t j;

        for (j = 0; j < n && strcmp(out[j], topic) != 0; j++)
            ;
        if (topic && j == n)
            out[n++] = topic;
    }
    out[n] = NULL;
    return n;
}

static int cmd_trace(const struct ctl_config *cfg, const char *want, int timeout_ms)
{
    const char *topics[64];
    struct trace t = {0};
    int64_t deadline = util_now_mono_ms() + timeout_ms;
    size_t ntopics = ctl_event_topics(topics, sizeof(topics) / sizeof(topics[0]));
    size_t unparsed = 0, nsaga;
    int rc = 1, scan;

    scan = trace_scan(&t, cfg, topics, deadline, keep_wanted, want, &unparsed);
    if (scan == -ENOMEM)
        goto out;
    if (t.n == 0) {
        fprintf(stderr,
                "commercectl: no event with correlation id, subject or key '%s' in %zu "
                "topics\n",
                want, ntopics);
        goto out;
    }
    nsaga = t.n;
    if (t.nskus > 0 && event_topic(event_type_name(EVENT_PRODUCT_SKU_CREATED))) {
        const char *product[2] = {event_topic(event_type_name(EVENT_PRODUCT_SKU_CREATED)), NULL};

        if (trace_scan(&t, cfg, product, deadline, keep_order_sku, NULL, &unparsed) == -ENOMEM)
            goto out;
    }
    t.nsku_events = t.n - nsaga;
    qsort(t.evs, t.n, sizeof(*t.evs), trace_cmp);
    for (size_t i = 0; i < t.n; i++) {
        if (!t.evs[i].shown && (!t.evs[i].cause[0] || !trace_has(&t, t.evs[i].cause)))
            trace_print(&t, i, 0);
    }
    /* a causation cycle (never produced by the services) still shows every event */
    for (size_t i = 0; i < t.n; i++) {
        if (!t.evs[i].shown)
            trace_print(&t, i, 0);
    }
    fprintf(stderr, "commercectl: %zu event(s) of '%s'", nsaga, want);
    if (t.nsku_events)
        fprintf(stderr, " and %zu product.sku.created of its SKUs", t.nsku_events);
    if (t.duplicates)
        fprintf(stderr, ", %zu duplicate(s) skipped", t.duplicates);
    if (unparsed)
        fprintf(stderr, ", %zu unparseable record(s) ignored", unparsed);
    fprintf(stderr, "\n");
    rc = 0;
out:
    free(t.evs);
    free(t.skus);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* dlq                                                                                         */

/* "<topic>.dlq" into @out; @topic may already name the DLQ. */
static void dlq_topic_name(const char *topic, char *out, size_t outlen)
{
    size_t len = strlen(topic);

    if (len > 4 && strcmp(topic + len - 4, ".dlq") == 0)
        snprintf(out, outlen, "%s", topic);
    else
        snprintf(out, outlen, "%s.dlq", topic);
}

static const char *hdr_or(const struct ops_record *rec, const char *name, const char *def)
{
    const char *v = ops_record_header(rec, name);

    return v ? v : def;
}

/* Opens a reader of the DLQ of @topic; NULL (message printed) when it fails or is missing. */
static struct ops_reader *dlq_open(const struct ctl_config *cfg, const char *topic,
                                   const char *group, char *dlq, size_t dlqlen)
{
    const char *topics[2] = {dlq, NULL};
    struct ops_reader *r;
    char err[512];

    dlq_topic_name(topic, dlq, dlqlen);
    r = ops_reader_new(cfg->kafka_bootstrap, &cfg->kafka.auth, group, topics, CTL_KAFKA_TIMEOUT_MS,
                       err, sizeof(err));
    if (!r) {
        fprintf(stderr, "commercectl: %s\n", err);
        return NULL;
    }
    if (ops_reader_missing(r)) {
        fprintf(stderr, "commercectl: topic '%s' does not exist\n", dlq);
        ops_reader_free(r);
        return NULL;
    }
    return r;
}

/* The original event's type and id, from the value or the ce_* headers. */
static void dlq_event_ids(const struct ops_record *rec, char *type, size_t typelen, char *id,
                          size_t idlen)
{
    struct event ev;

    if (ctl_parse_event(rec, &ev) == 0) {
        snprintf(type, typelen, "%s", ev.type);
        snprintf(id, idlen, "%s", ev.id);
        event_release(&ev);
        return;
    }
    snprintf(type, typelen, "%s(unparseable)", hdr_or(rec, "ce_type", ""));
    snprintf(id, idlen, "%s", hdr_or(rec, "ce_id", "-"));
}

static int cmd_dlq_list(const struct ctl_config *cfg, const char *topic)
{
    struct ops_reader *r;
    struct ops_record rec;
    char dlq[300], err[512], type[96], id[80];
    size_t n = 0;
    int got;

    r = dlq_open(cfg, topic, NULL, dlq, sizeof(dlq));
    if (!r)
        return 1;
    while ((got = ops_reader_next(r, CTL_TRACE_TIMEOUT_MS, &rec, err, sizeof(err))) > 0) {
        dlq_event_ids(&rec, type, sizeof(type), id, sizeof(id));
        printf("%" PRId32 ":%" PRId64 " %s id=%s from=%s/%s:%s service=%s group=%s attempts=%s "
               "time=%s error=\"%s\"\n",
               rec.partition, rec.offset, type, id, hdr_or(&rec, "dlq_original_topic", "?"),
               hdr_or(&rec, "dlq_original_partition", "?"),
               hdr_or(&rec, "dlq_original_offset", "?"), hdr_or(&rec, "dlq_service", "?"),
               hdr_or(&rec, "dlq_consumer_group", "?"), hdr_or(&rec, "dlq_attempts", "?"),
               hdr_or(&rec, "dlq_time", "?"), hdr_or(&rec, "dlq_error", ""));
        n++;
    }
    ops_reader_free(r);
    if (got < 0) {
        fprintf(stderr, "commercectl: %s\n", err);
        return 1;
    }
    fprintf(stderr, "commercectl: %zu dead letter(s) on '%s'\n", n, dlq);
    return 0;
}

static int cmd_dlq_show(const struct ctl_config *cfg, const char *topic, const char *where)
{
    struct ops_reader *r;
    struct ops_record rec;
    const char *arg = where;
    char dlq[300], err[512], *end;
    long partition;
    long long offset;
    int got, rc = 1;

    errno = 0;
    partition = strtol(where, &end, 10);
    if (errno || end == where || *end != ':' || partition < 0)
        goto bad_where;
    where = end + 1;
    offset = strtoll(where, &end, 10);
    if (errno || end == where || *end || offset < 0)
        goto bad_where;
    r = dlq_open(cfg, topic, NULL, dlq, sizeof(dlq));
    if (!r)
        return 1;
    while ((got = ops_reader_next(r, CTL_TRACE_TIMEOUT_MS, &rec, err, sizeof(err))) > 0) {
        cJSON *doc;
        char *pretty = NULL;

        if (rec.partition != partition || rec.offset != offset)
            continue;
        printf("record:    %s/%" PRId32 ":%" PRId64 "\n", dlq, rec.partition, rec.offset);
        printf("key:       %.*s\n", rec.key ? (int)rec.keylen : 0, rec.key ? rec.key : "");
        printf("timestamp: %" PRId64 "\n", rec.timestamp_ms);
        printf("headers:\n");
        for (size_t i = 0; i < rec.nheaders; i++)
            printf("  %s: %s\n", rec.headers[i].name, rec.headers[i].value);
        doc = rec.value ? cJSON_ParseWithLength(rec.value, rec.len) : NULL;
        if (doc)
            pretty = cJSON_Print(doc);
        printf("value:\n%.*s\n", pretty ? (int)strlen(pretty) : (int)rec.len,
               pretty ? pretty : (rec.value ? rec.value : ""));
        cJSON_free(pretty);
        cJSON_Delete(doc);
        rc = 0;
        break;
    }
    ops_reader_free(r);
    if (got < 0)
        fprintf(stderr, "commercectl: %s\n", err);
    else if (rc)
        fprintf(stderr, "commercectl: no record %ld:%lld on '%s'\n", partition, offset, dlq);
    return rc;
bad_where:
    fprintf(stderr, "commercectl: '%s' is not PARTITION:OFFSET\n", arg);
    usage(stderr);
    return 2;
}

/* Re-publishes @rec to its original topic; 0 or -EIO (reason printed). */
static int dlq_replay_one(struct kafka_producer *producer, const char *dlq, const char *topic,
                          const struct ops_record *rec)
{
    struct event_header hdrs[OPS_MAX_HEADERS + 1];
    struct kafka_msg msg;
    char from[400];
    size_t n = 0;

    for (size_t i = 0; i < rec->nheaders; i++) {
        if (strncmp(rec->headers[i].name, "dlq_", 4) == 0 ||
            strcmp(rec->headers[i].name, "replayed_from") == 0)
            continue;
        hdrs[n++] = rec->headers[i];
    }
    snprintf(from, sizeof(from), "%s/%" PRId32 ":%" PRId64, dlq, rec->partition, rec->offset);
    hdrs[n].name = "replayed_from";
    hdrs[n].value = from;
    n++;

    memset(&msg, 0, sizeof(msg));
    msg.topic = hdr_or(rec, "dlq_original_topic", topic);
    msg.key = rec->key;
    msg.keylen = rec->keylen;
    msg.value = rec->value;
    msg.len = rec->len;
    msg.headers = hdrs;
    msg.nheaders = n;
    if (kafka_produce_wait(producer, &msg, 1) < 0) {
        fprintf(stderr, "commercectl: cannot replay %s to '%s': %s\n", from, msg.topic, msg.error);
        return -EIO;
    }
    return 0;
}

static int cmd_dlq_replay(const struct ctl_config *cfg, const char *topic, const char *group)
{
    struct kafka_producer_opts popts = {.bootstrap = cfg->kafka_bootstrap,
                                        .client_id = "commercectl",
                                        .message_timeout_ms = CTL_KAFKA_TIMEOUT_MS,
                                        .auth = &cfg->kafka.auth};
    struct kafka_producer *producer = NULL;
    struct ops_reader *r;
    struct ops_record rec;
    char dlq[300], base[300], err[512], type[96], id[80];
    size_t n = 0;
    int got, rc = 1;

    r = dlq_open(cfg, topic, group, dlq, sizeof(dlq));
    if (!r)
        return 1;
    /* without dlq_original_topic a record goes back to the topic the DLQ is named after */
    snprintf(base, sizeof(base), "%.*s", (int)(strlen(dlq) - 4), dlq);
    producer = kafka_producer_new(&popts, err, sizeof(err));
    if (!producer) {
        fprintf(stderr, "commercectl: %s\n", err);
        goto out;
    }
    while ((got = ops_reader_next(r, CTL_TRACE_TIMEOUT_MS, &rec, err, sizeof(err))) > 0) {
        if (dlq_replay_one(producer, dlq, base, &rec) < 0)
            goto out;
        /* acknowledged by the broker: only now is it marked replayed. A crash right here
         * replays it once more next time; consumers dedupe by event id (inbox). */
        if (ops_reader_commit(r, &rec, err, sizeof(err)) < 0) {
            fprintf(stderr, "commercectl: replayed %s/%" PRId32 ":%" PRId64 " but %s\n", dlq,
                    rec.partition, rec.offset, err);
            goto out;
        }
        dlq_event_ids(&rec, type, sizeof(type), id, sizeof(id));
        printf("replayed %" PRId32 ":%" PRId64 " %s id=%s to %s\n", rec.partition, rec.offset, type,
               id, hdr_or(&rec, "dlq_original_topic", base));
        n++;
    }
    if (got < 0) {
        fprintf(stderr, "commercectl: %s\n", err);
        goto out;
    }
    fprintf(stderr, "commercectl: %zu dead letter(s) replayed from '%s' (group '%s')\n", n, dlq,
            group);
    rc = 0;
out:
    ops_reader_free(r);
    kafka_producer_free(producer);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* kafka acls                                                                                  */

#define CTL_MAX_ACLS 64

/* Creates (or with @dry_run only prints) the ACLs of @service with @group (NULL: its name),
 * after its topics when @create_topics. 0 or -EIO (reported). */
static int kafka_acls_one(const struct ctl_config *cfg, const char *service, const char *group,
                          bool create_topics, bool dry_run)
{
    struct kafka_acl acls[CTL_MAX_ACLS];
    char topics[CTL_MAX_ACLS][KAFKA_ACL_NAME_MAX], principal[300], err[512];
    const char *names[CTL_MAX_ACLS + 1];
    int n = kafka_acl_list(service, group, acls, CTL_MAX_ACLS), ntopics;

    if (n < 0) {
        fprintf(stderr, "commercectl: %s: %s\n", service,
                n == -ENOENT ? "no such service with a Kafka principal" : "too many ACLs");
        return -EIO;
    }
    snprintf(principal, sizeof(principal), "User:%s", service);
    if (create_topics) {
        ntopics = kafka_acl_topics(service, topics, CTL_MAX_ACLS);
        for (int i = 0; i < ntopics; i++)
            names[i] = topics[i];
        names[ntopics > 0 ? ntopics : 0] = NULL;
        if (!dry_run && kafka_create_topics(cfg->kafka_bootstrap, &cfg->kafka.auth, names,
                                            CTL_TOPIC_PARTITIONS, err, sizeof(err)) < 0) {
            fprintf(stderr, "commercectl: %s: %s\n", service, err);
            return -EIO;
        }
    }
    for (int i = 0; i < n; i++)
        printf("%s ALLOW %s %s %s\n", principal, kafka_acl_op_name(acls[i].op),
               kafka_acl_resource_name(acls[i].resource), acls[i].name);
    if (!dry_run && kafka_acls_create(cfg->kafka_bootstrap, &cfg->kafka.auth, principal, acls,
                                      (size_t)n, err, sizeof(err)) < 0) {
        fprintf(stderr, "commercectl: %s\n", err);
        return -EIO;
    }
    return 0;
}

/* commercectl kafka acls [--service NAME]... [--group G] [--create-topics] [--dry-run] */
static int main_kafka(int argc, char **argv)
{
    const char *services[8], *group = NULL;
    size_t nservices = 0;
    bool create_topics = false, dry_run = false;
    struct ctl_config cfg;
    int rc = 0;

    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--service") == 0 && i + 1 < argc && nservices < 8) {
            services[nservices++] = argv[++i];
        } else if (strcmp(argv[i], "--group") == 0 && i + 1 < argc) {
            group = argv[++i];
        } else if (strcmp(argv[i], "--create-topics") == 0) {
            create_topics = true;
        } else if (strcmp(argv[i], "--dry-run") == 0) {
            dry_run = true;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (strcmp(argv[2], "acls") != 0 || (group && (nservices != 1 || !*group))) {
        usage(stderr);
        return 2;
    }
    if (ctl_config_load(&cfg) < 0)
        return 2;
    for (const char *const *all = kafka_acl_services(); nservices == 0 && *all; all++)
        rc |= kafka_acls_one(&cfg, *all, NULL, create_topics, dry_run);
    for (size_t i = 0; i < nservices; i++)
        rc |= kafka_acls_one(&cfg, services[i], group, create_topics, dry_run);
    return rc ? 1 : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* outbox                                                                                      */

/* One service's outbox; 0 when it answered, -EIO otherwise (reported either way). */
static int outbox_status_db(const struct ctl_config *cfg, const char *service, const char *db)
{
    struct db_opts opts = {.host = cfg->db_host,
                           .port = (unsigned)cfg->db_port,
                           .user = cfg->db_user,
                           .password = cfg->db_password,
                           .database = db,
                           .pool_size = 1,
                           .connect_timeout_s = 5,
                           .acquire_timeout_ms = 5000};
    struct db_pool *pool;
    struct db_conn *conn = NULL;
    long long backlog;
    double age;
    char err[512];
    int rc = -EIO;

    pool = db_pool_new(&opts, err, sizeof(err));
    if (!pool) {
        printf("%-10s %-28s unavailable: %s\n", service, db, err);
        return -EIO;
    }
    conn = db_acquire(pool, err, sizeof(err));
    if (!conn) {
        printf("%-10s %-28s unavailable: %s\n", service, db, err);
        goto out;
    }
    if (outbox_stats(conn, &backlog, &age) < 0) {
        printf("%-10s %-28s no outbox: %s\n", service, db, db_errmsg(conn));
        goto out;
    }
    printf("%-10s %-28s backlog=%lld oldest_age_s=%.1f\n", service, db, backlog, age);
    rc = 0;
out:
    if (conn)
        db_release(pool, conn);
    db_pool_free(pool);
    return rc;
}

/* inventory's Redis stream: XLEN (not yet published) and the relay group's pending entries. */
static int outbox_status_redis(const struct ctl_config *cfg)
{
    struct rds_opts opts = {.host = cfg->redis_host,
                            .port = (unsigned)cfg->redis_port,
                            .timeout_ms = 5000,
                            .pool_size = 1};
    const char *xlen[] = {"XLEN", cfg->inv_stream};
    const char *xpending[] = {"XPENDING", cfg->inv_stream, cfg->inv_relay_group};
    struct rds_pool *pool;
    struct rds_conn *conn = NULL;
    redisReply *len = NULL, *pending = NULL;
    char err[512], pend[64] = "n/a";
    int rc = -EIO;

    pool = rds_pool_new(&opts, err, sizeof(err));
    if (!pool) {
        printf("%-10s %-28s unavailable: %s\n", "inventory", cfg->inv_stream, err);
        return -EIO;
    }
    conn = rds_acquire(pool, err, sizeof(err));
    if (!conn || !(len = rds_command(conn, 2, xlen, NULL, err, sizeof(err)))) {
        printf("%-10s %-28s unavailable: %s\n", "inventory", cfg->inv_stream, err);
        goto out;
    }
    if (len->type != REDIS_REPLY_INTEGER) {
        printf("%-10s %-28s error: %s\n", "inventory", cfg->inv_stream,
               len->type == REDIS_REPLY_ERROR ? len->str : "unexpected XLEN reply");
        goto out;
    }
    /* summary form: [count, smallest id, greatest id, consumers]; NOGROUP when never relayed */
    pending = rds_command(conn, 3, xpending, NULL, err, sizeof(err));
    if (pending && pending->type == REDIS_REPLY_ARRAY && pending->elements > 0 &&
        pending->element[0]->type == REDIS_REPLY_INTEGER)
        snprintf(pend, sizeof(pend), "%lld", pending->element[0]->integer);
    printf("%-10s %-28s backlog=%lld pending=%s (group %s)\n", "inventory", cfg->inv_stream,
           len->integer, pend, cfg->inv_relay_group);
    rc = 0;
out:
    if (len)
        freeReplyObject(len);
    if (pending)
        freeReplyObject(pending);
    if (conn)
        rds_release(pool, conn);
    rds_pool_free(pool);
    return rc;
}

static int cmd_outbox_status(const struct ctl_config *cfg)
{
    int bad = 0;

    bad |= outbox_status_db(cfg, "catalog", cfg->catalog_db) < 0;
    bad |= outbox_status_db(cfg, "order", cfg->order_db) < 0;
    bad |= outbox_status_db(cfg, "payment", cfg->payment_db) < 0;
    if (cfg->redis_host)
        bad |= outbox_status_redis(cfg) < 0;
    return bad ? 1 : 0;
}

/* ------------------------------------------------------------------------------------------ */

static int main_contracts(int argc, char **argv)
{
    const char *dir = "contracts";
    const char *args[4];
    int nargs = 0;

    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strncmp(argv[i], "--dir=", 6) == 0) {
            dir = argv[i] + 6;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "commercectl: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (nargs < 4) {
            args[nargs++] = argv[i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (strcmp(argv[2], "check") == 0 && nargs == 0)
        return cmd_check(dir);
    if (strcmp(argv[2], "validate") == 0 && nargs == 3)
        return cmd_validate(dir, args[0], args[1], args[2]);
    usage(stderr);
    return 2;
}

/* trace, dlq and outbox: options --timeout-ms and --group, then positional arguments. */
static int main_ops(int argc, char **argv)
{
    struct ctl_config cfg;
    const char *args[4], *group = CTL_DLQ_GROUP;
    int nargs = 0, timeout_ms = CTL_TRACE_TIMEOUT_MS;
    bool dlq = strcmp(argv[1], "dlq") == 0;

    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc) {
            if (ctl_parse_int(argv[++i], &timeout_ms) < 0) {
                fprintf(stderr, "commercectl: bad --timeout-ms '%s'\n", argv[i]);
                usage(stderr);
                return 2;
            }
        } else if (dlq && strcmp(argv[i], "--group") == 0 && i + 1 < argc) {
            group = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "commercectl: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (nargs < 4) {
            args[nargs++] = argv[i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!((strcmp(argv[1], "trace") == 0 && nargs == 1) ||
          (dlq && nargs == 2 && (!strcmp(args[0], "list") || !strcmp(args[0], "replay"))) ||
          (dlq && nargs == 3 && !strcmp(args[0], "show")) ||
          (!strcmp(argv[1], "outbox") && nargs == 1 && !strcmp(args[0], "status"))) ||
        !*group) {
        usage(stderr);
        return 2;
    }
    if (ctl_config_load(&cfg) < 0)
        return 2;
    if (strcmp(argv[1], "trace") == 0)
        return cmd_trace(&cfg, args[0], timeout_ms);
    if (strcmp(argv[1], "outbox") == 0)
        return cmd_outbox_status(&cfg);
    if (strcmp(args[0], "list") == 0)
        return cmd_dlq_list(&cfg, args[1]);
    if (strcmp(args[0], "show") == 0)
        return cmd_dlq_show(&cfg, args[1], args[2]);
    return cmd_dlq_replay(&cfg, args[1], group);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
    }
    log_init("commercectl", LOG_WARN);
    if (argc >= 3 && strcmp(argv[1], "contracts") == 0)
        return main_contracts(argc, argv);
    if (argc >= 3 && strcmp(argv[1], "kafka") == 0)
        return main_kafka(argc, argv);
    if (argc >= 2 && (strcmp(argv[1], "trace") == 0 || strcmp(argv[1], "dlq") == 0 ||
                      strcmp(argv[1], "outbox") == 0))
        return main_ops(argc, argv);
    usage(stderr);
    return 2;
}
