/*
 * bench-hop - the raw anchor of one saga hop for scripts/bench.sh (`make bench`): the loop
 * "MariaDB commit → produce → consume → MariaDB commit" done directly with librdkafka and
 * mariadb-connector-c, one message in flight, on the stack's own broker and MariaDB.
 *
 * A round: INSERT a row and COMMIT (the producing side's transaction), produce one ~300-byte
 * message keyed like an order (idempotent producer, linger.ms from --linger-ms), consume it
 * (a consumer assigned to the topic's one partition, librdkafka's default fetch settings), then
 * INSERT a row and COMMIT (the consuming side's transaction). The hop is the time of the whole
 * round; "kafka" is produce → consumed alone. The first --warmup rounds are not counted.
 * The topic (bench-hop-<pid>-<time>, one partition) is created at start and deleted at the end;
 * the rows go to the database commerce_bench (tables hop_out, hop_in), made when missing.
 *
 * usage: bench-hop [--rounds N(300)] [--warmup W(20)] [--linger-ms MS(0)] [--idle-ms MS(0)]
 *                  [--set NAME=VALUE]...
 * --idle-ms leaves the machine idle that long before each round, as the one-client saga does
 * between its orders: threads that slept (and, on a VM, idle vCPUs) wake more slowly than busy
 * ones, so back-to-back rounds understate a hop at that duty cycle.
 * --set gives the producer and the consumer one more librdkafka property (repeatable), e.g. to
 * measure socket.nagle.disable=true or fetch settings against the defaults.
 * Environment (what scripts/stack.sh's .run/env exports): KAFKA_BOOTSTRAP, DB_HOST, DB_PORT,
 * DB_USER, DB_PASSWORD, and for a broker with SASL KAFKA_SECURITY_PROTOCOL,
 * KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD (a login that may create
 * topics: the admin's).
 * Prints one machine line on stdout:
 *   RESULT rounds=N linger_ms=L idle_ms=I hop_p50_ms=… hop_p99_ms=… kafka_p50_ms=… kafka_p99_ms=…
 *          commit_p50_ms=…
 * Exit 0 on success, 1 on an error (a message not consumed within 10 s included), 2 on bad
 * usage.
 */
#include <librdkafka/rdkafka.h>
#include <mysql.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HOP_MSG_TIMEOUT_S 10.0
#define HOP_PAYLOAD_BYTES 300

#define HOP_MAX_SETS 16

struct hop_opts {
    long rounds, warmup, linger_ms, idle_ms;
    const char *set[HOP_MAX_SETS]; /* NAME=VALUE of --set */
    size_t nset;
};

static double hop_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int hop_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* nearest-rank percentile of @n values, sorted in place */
static double hop_pct(double *v, size_t n, double p)
{
    size_t k;
    if (n == 0)
        return -1;
    qsort(v, n, sizeof(*v), hop_cmp);
    k = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    return v[k > n ? n - 1 : k - 1];
}

/* Prints the usage to @fp and exits with @status (0 for --help, 2 for a usage error). */
static void hop_usage(FILE *fp, int status)
{
    fprintf(fp, "usage: bench-hop [--rounds N] [--warmup W] [--linger-ms MS] [--idle-ms MS]\n"
                "                 [--set NAME=VALUE]...\n"
                "  one MariaDB commit -> produce -> consume -> MariaDB commit per round with\n"
                "  librdkafka and mariadb-connector-c directly; environment: KAFKA_BOOTSTRAP,\n"
                "  DB_HOST, DB_PORT, DB_USER, DB_PASSWORD, KAFKA_SECURITY_PROTOCOL,\n"
                "  KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD\n");
    exit(status);
}

static const char *hop_env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* bootstrap.servers and the SASL login of the environment into @conf; -1 with @errbuf */
static int hop_conf_common(rd_kafka_conf_t *conf, char *errbuf, size_t errlen)
{
    const char *proto = hop_env("KAFKA_SECURITY_PROTOCOL");
    const char *kv[] = {
        "bootstrap.servers",
        hop_env("KAFKA_BOOTSTRAP"),
        "security.protocol",
        proto,
        "sasl.mechanisms",
        proto && strncmp(proto, "SASL_", 5) == 0
            ? (hop_env("KAFKA_SASL_MECHANISM") ? hop_env("KAFKA_SASL_MECHANISM") : "SCRAM-SHA-512")
            : NULL,
        "sasl.username",
        proto && strncmp(proto, "SASL_", 5) == 0 ? hop_env("KAFKA_SASL_USERNAME") : NULL,
        "sasl.password",
        proto && strncmp(proto, "SASL_", 5) == 0 ? hop_env("KAFKA_SASL_PASSWORD") : NULL,
    };
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i += 2)
        if (kv[i + 1] && rd_kafka_conf_set(conf, kv[i], kv[i + 1], errbuf, errlen))
            return -1;
    return 0;
}

static int hop_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errbuf,
                        size_t errlen)
{
    return rd_kafka_conf_set(conf, name, value, errbuf, errlen) == RD_KAFKA_CONF_OK ? 0 : -1;
}

/* The --set properties into @conf; -1 with @errbuf. */
static int hop_conf_sets(rd_kafka_conf_t *conf, const struct hop_opts *o, char *errbuf,
                         size_t errlen)
{
    for (size_t i = 0; i < o->nset; i++) {
        char name[128];
        const char *eq = strchr(o->set[i], '=');
        size_t len = eq ? (size_t)(eq - o->set[i]) : 0;

        if (!eq || len == 0 || len >= sizeof(name)) {
            snprintf(errbuf, errlen, "--set '%s': want NAME=VALUE", o->set[i]);
            return -1;
        }
        memcpy(name, o->set[i], len);
        name[len] = '\0';
        if (hop_conf_set(conf, name, eq + 1, errbuf, errlen) < 0)
            return -1;
    }
    return 0;
}

/* Creates (@create) or deletes the topic through @rk's admin API; 0 or -1 with @errbuf. */
static int hop_topic_admin(rd_kafka_t *rk, const char *topic, bool create, char *errbuf,
                           size_t errlen)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_event_t *ev = NULL;
    int r = -1;

    if (create) {
        rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, 1, 1, errbuf, errlen);
        if (!nt)
            goto out;
        rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
        rd_kafka_NewTopic_destroy(nt);
    } else {
        rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic);
        rd_kafka_DeleteTopics(rk, &dt, 1, NULL, q);
        rd_kafka_DeleteTopic_destroy(dt);
    }
    ev = rd_kafka_queue_poll(q, 30000);
    if (!ev) {
        snprintf(errbuf, errlen, "no admin answer within 30 s");
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        snprintf(errbuf, errlen, "%s", rd_kafka_event_error_string(ev));
        goto out;
    }
    {
        const rd_kafka_topic_result_t **res;
        size_t n = 0;
        if (create)
            res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        else
            res = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
        for (size_t i = 0; i < n; i++) {
            rd_kafka_resp_err_t err = rd_kafka_topic_result_error(res[i]);
            if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                snprintf(errbuf, errlen, "%s: %s", rd_kafka_topic_result_name(res[i]),
                         rd_kafka_err2str(err));
                goto out;
            }
        }
    }
    r = 0;
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    return r;
}

/* One statement and COMMIT on @db (autocommit off); 0 or -1 with the error on stderr. */
static int hop_sql(MYSQL *db, const char *sql, bool commit)
{
    if (mysql_query(db, sql) != 0 || (commit && mysql_commit(db) != 0)) {
        fprintf(stderr, "bench-hop: '%.60s': %s\n", sql, mysql_error(db));
        return -1;
    }
    return 0;
}

static MYSQL *hop_db_open(void)
{
    MYSQL *db = mysql_init(NULL);
    const char *port = hop_env("DB_PORT");
    static const char *const ddl[] = {
        "CREATE DATABASE IF NOT EXISTS commerce_bench",
        "USE commerce_bench",
        "CREATE TABLE IF NOT EXISTS hop_out (id BIGINT AUTO_INCREMENT PRIMARY KEY, round INT "
        "NOT NULL, payload VARCHAR(400) NOT NULL, created_at DATETIME(6) NOT NULL DEFAULT "
        "NOW(6)) ENGINE=InnoDB",
        "CREATE TABLE IF NOT EXISTS hop_in (id BIGINT AUTO_INCREMENT PRIMARY KEY, round INT "
        "NOT NULL, payload VARCHAR(400) NOT NULL, created_at DATETIME(6) NOT NULL DEFAULT "
        "NOW(6)) ENGINE=InnoDB",
    };

    if (!db)
        return NULL;
    if (!mysql_real_connect(db, hop_env("DB_HOST") ? hop_env("DB_HOST") : "127.0.0.1",
                            hop_env("DB_USER"), hop_env("DB_PASSWORD"), NULL,
                            port ? (unsigned)atoi(port) : 3306, NULL, 0)) {
        fprintf(stderr, "bench-hop: MariaDB: %s\n", mysql_error(db));
        mysql_close(db);
        return NULL;
    }
    for (size_t i = 0; i < sizeof(ddl) / sizeof(ddl[0]); i++)
        if (hop_sql(db, ddl[i], false) < 0) {
            mysql_close(db);
            return NULL;
        }
    mysql_autocommit(db, 0);
    return db;
}

/* Waits for the message of round @round on @consumer; 0, or -1 after HOP_MSG_TIMEOUT_S. */
static int hop_consume(rd_kafka_t *consumer, rd_kafka_t *producer, long round)
{
    char want[32];
    double deadline = hop_now_ms() + HOP_MSG_TIMEOUT_S * 1000.0;
    size_t wlen = (size_t)snprintf(want, sizeof(want), "order-%ld", round);

    while (hop_now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 100);
        bool hit;
        rd_kafka_poll(producer, 0); /* delivery reports */
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, "bench-hop: consume: %s\n", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        hit = m->key_len == wlen && memcmp(m->key, want, wlen) == 0;
        rd_kafka_message_destroy(m);
        if (hit)
            return 0;
    }
    fprintf(stderr, "bench-hop: round %ld: message not consumed within %.0f s\n", round,
            HOP_MSG_TIMEOUT_S);
    return -1;
}

int main(int argc, char **argv)
{
    struct hop_opts o = {.rounds = 300, .warmup = 20};
    char errbuf[512], topic[96], linger[32], payload[HOP_PAYLOAD_BYTES + 1], sql[600], key[32];
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_t *producer = NULL, *consumer = NULL;
    rd_kafka_topic_partition_list_t *parts = NULL;
    double *hop = NULL, *kafka = NULL, *commit = NULL;
    MYSQL *db = NULL;
    bool topic_made = false;
    int rc = 1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            hop_usage(stdout, 0);
        if (!v)
            hop_usage(stderr, 2);
        if (strcmp(a, "--rounds") == 0)
            o.rounds = atol(v);
        else if (strcmp(a, "--warmup") == 0)
            o.warmup = atol(v);
        else if (strcmp(a, "--linger-ms") == 0)
            o.linger_ms = atol(v);
        else if (strcmp(a, "--idle-ms") == 0)
            o.idle_ms = atol(v);
        else if (strcmp(a, "--set") == 0 && o.nset < HOP_MAX_SETS)
            o.set[o.nset++] = v;
        else
            hop_usage(stderr, 2);
        i++;
    }
    if (o.rounds <= 0 || o.warmup < 0 || o.linger_ms < 0 || o.idle_ms < 0 || o.idle_ms > 10000 ||
        !hop_env("KAFKA_BOOTSTRAP") || !hop_env("DB_USER"))
        hop_usage(stderr, 2);

    hop = calloc((size_t)o.rounds, sizeof(*hop));
    kafka = calloc((size_t)o.rounds, sizeof(*kafka));
    commit = calloc((size_t)o.rounds, sizeof(*commit));
    if (!hop || !kafka || !commit || !(db = hop_db_open()))
        goto out;
    snprintf(topic, sizeof(topic), "bench-hop-%ld-%ld", (long)getpid(), (long)time(NULL));
    snprintf(linger, sizeof(linger), "%ld", o.linger_ms);
    memset(payload, 'x', HOP_PAYLOAD_BYTES);
    payload[HOP_PAYLOAD_BYTES] = '\0';

    /* the producer: as the services' (idempotent), linger.ms from the option */
    conf = rd_kafka_conf_new();
    if (hop_conf_common(conf, errbuf, sizeof(errbuf)) < 0 ||
        hop_conf_set(conf, "enable.idempotence", "true", errbuf, sizeof(errbuf)) < 0 ||
        hop_conf_set(conf, "linger.ms", linger, errbuf, sizeof(errbuf)) < 0 ||
        hop_conf_sets(conf, &o, errbuf, sizeof(errbuf)) < 0)
        goto bad_conf;
    producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errbuf, sizeof(errbuf));
    if (!producer)
        goto bad_conf;
    conf = NULL; /* now owned by producer */
    if (hop_topic_admin(producer, topic, true, errbuf, sizeof(errbuf)) < 0) {
        fprintf(stderr, "bench-hop: create topic %s: %s\n", topic, errbuf);
        goto out;
    }
    topic_made = true;

    /* the consumer: the one partition assigned from its start, no group coordination */
    conf = rd_kafka_conf_new();
    if (hop_conf_common(conf, errbuf, sizeof(errbuf)) < 0 ||
        hop_conf_set(conf, "group.id", "bench-hop", errbuf, sizeof(errbuf)) < 0 ||
        hop_conf_set(conf, "enable.auto.commit", "false", errbuf, sizeof(errbuf)) < 0 ||
        hop_conf_sets(conf, &o, errbuf, sizeof(errbuf)) < 0)
        goto bad_conf;
    consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errbuf, sizeof(errbuf));
    if (!consumer)
        goto bad_conf;
    conf = NULL; /* now owned by consumer */
    rd_kafka_poll_set_consumer(consumer);
    parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    if (rd_kafka_assign(consumer, parts) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "bench-hop: cannot assign %s\n", topic);
        goto out;
    }

    for (long i = 0; i < o.warmup + o.rounds; i++) {
        double t0, t1, t2, t3;
        rd_kafka_resp_err_t err;

        if (o.idle_ms > 0) { /* the load's shape, not a synchronisation */
            struct timespec idle = {o.idle_ms / 1000, (o.idle_ms % 1000) * 1000000L};
            rd_kafka_poll(producer, 0);
            nanosleep(&idle, NULL);
        }
        t0 = hop_now_ms();

        snprintf(sql, sizeof(sql), "INSERT INTO hop_out (round, payload) VALUES (%ld, '%s')", i,
                 payload);
        if (hop_sql(db, sql, true) < 0)
            goto out;
        t1 = hop_now_ms();
        snprintf(key, sizeof(key), "order-%ld", i);
        err = rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                                RD_KAFKA_V_KEY(key, strlen(key)),
                                RD_KAFKA_V_VALUE(payload, HOP_PAYLOAD_BYTES),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err) {
            fprintf(stderr, "bench-hop: produce: %s\n", rd_kafka_err2str(err));
            goto out;
        }
        if (hop_consume(consumer, producer, i) < 0)
            goto out;
        t2 = hop_now_ms();
        snprintf(sql, sizeof(sql), "INSERT INTO hop_in (round, payload) VALUES (%ld, '%s')", i,
                 payload);
        if (hop_sql(db, sql, true) < 0)
            goto out;
        t3 = hop_now_ms();
        if (i >= o.warmup) {
            hop[i - o.warmup] = t3 - t0;
            kafka[i - o.warmup] = t2 - t1;
            commit[i - o.warmup] = t1 - t0;
        }
    }
    {
        size_t n = (size_t)o.rounds;
        double h50 = hop_pct(hop, n, 50), h99 = hop_pct(hop, n, 99);
        double k50 = hop_pct(kafka, n, 50), k99 = hop_pct(kafka, n, 99);
        double c50 = hop_pct(commit, n, 50);
        fprintf(stderr,
                "bench-hop: %ld rounds, linger.ms=%ld, idle %ld ms: hop p50 %.2f ms, p99 %.2f ms\n",
                o.rounds, o.linger_ms, o.idle_ms, h50, h99);
        printf("RESULT rounds=%ld linger_ms=%ld idle_ms=%ld hop_p50_ms=%.2f hop_p99_ms=%.2f "
               "kafka_p50_ms=%.2f kafka_p99_ms=%.2f commit_p50_ms=%.2f\n",
               o.rounds, o.linger_ms, o.idle_ms, h50, h99, k50, k99, c50);
    }
    rc = 0;
    goto out;

bad_conf:
    fprintf(stderr, "bench-hop: Kafka configuration: %s\n", errbuf);
out:
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    if (consumer) {
        rd_kafka_consumer_close(consumer);
        rd_kafka_destroy(consumer);
    }
    if (producer) {
        rd_kafka_flush(producer, 5000);
        if (topic_made && hop_topic_admin(producer, topic, false, errbuf, sizeof(errbuf)) < 0)
            fprintf(stderr, "bench-hop: delete topic %s: %s\n", topic, errbuf);
        rd_kafka_destroy(producer);
    }
    if (db)
        mysql_close(db);
    free(hop);
    free(kafka);
    free(commit);
    return rc;
}
