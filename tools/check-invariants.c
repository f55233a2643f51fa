/*
 * check-invariants - checks the invariants of the order saga (docs/saga.md) on the stored state of
 * order-service (MariaDB), payment-service (MariaDB) and inventory-service (Redis).
 *
 *   per SKU     received − sold + returned = available + reserved; no counter negative;
 *               reserved = 0 when every order is terminal; what customers keep matches the
 *               orders (sold − returned = Σ unrefunded units of CONFIRMED / refund-status
 *               orders; a paid order cancelled before its confirmation completed is sold and
 *               taken back) — meaningful when the SKUs are only sold by these orders;
 *   per order   a terminal status (CONFIRMED, CANCELLED, FAILED, PARTIALLY_REFUNDED,
 *               REFUNDED); captured − refunded = payable for CONFIRMED, = payable − refunded
 *               items for refund statuses, = 0 for CANCELLED / FAILED; at most one successful
 *               APPROVAL; at most one payment; the payment's refunded_amount matches its
 *               successful CANCEL transactions and stays within its amount.
 *
 * No event lost (when asked, after a run): every outbox table named by --outbox-db is empty
 * (the relays published every row) and the Redis stream --stream holds no entry and, with
 * --stream-group, none pending in that group.
 *
 * Prints one line per violation and a summary; exit 0 when all hold, 1 when one does not,
 * 2 on bad usage or when a store cannot be read. Run with --help for the options.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>

#include "common/db.h"
#include "common/rds.h"

/* The queries, in one place: the tables of order-service and payment-service migrations. */
#define SQL_ORDERS "SELECT id, status, payable_amount FROM orders"
#define SQL_ITEMS "SELECT order_id, sku_id, quantity, amount, refunded FROM order_item"
#define SQL_PAYMENTS "SELECT id, order_id, amount, refunded_amount, status FROM payment"
#define SQL_TXS                                                                                    \
    "SELECT p.order_id, t.type, t.status, t.amount FROM payment_transaction t "                    \
    "JOIN payment p ON p.id = t.payment_id"

#define MAX_SKUS 100000
#define MAX_OUTBOX_DBS 16

struct opts {
    const char *order_db;
    const char *payment_db;
    long long sku_min, sku_max;
    long long *skus;
    size_t nskus;
    bool all_skus;
    bool allow_pending;
    bool quiet;
    const char *outbox_dbs[MAX_OUTBOX_DBS];
    size_t noutbox;
    const char *stream, *stream_group;
};

struct sku {
    long long id;
    long long available, reserved, sold, returned, received;
    long long want_sold, want_returned; /* from the orders */
    bool found;
};

struct order {
    char id[64];
    char status[32];
    long long payable;
    long long refunded_items; /* Σ amount of refunded items */
    long long captured;       /* Σ successful APPROVAL */
    long long refunded;       /* Σ successful CANCEL */
    int approvals;
    int payments;
};

static unsigned long violations;
static bool quiet;

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void violation(const char *fmt, ...)
{
    va_list ap;

    violations++;
    if (quiet && violations > 50)
        return;
    fputs("VIOLATION ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
}

static void usage(FILE *fp)
{
    fprintf(
        fp,
        "usage: check-invariants [options]\n"
        "  --order-db NAME     order-service database (env ORDER_DB, default commerce_order)\n"
        "  --payment-db NAME   payment-service database (env PAYMENT_DB, default "
        "commerce_payment)\n"
        "  --sku ID            check this SKU (repeatable)\n"
        "  --sku-min N --sku-max M  check every inv:sku:{id} in Redis with N <= id <= M\n"
        "  --all-skus          check every inv:sku:* key in Redis\n"
        "                      (default: the SKUs that appear in the orders)\n"
        "  --allow-pending     do not report non-terminal orders (a live stack); their\n"
        "                      money and the reserved stock are then not checked\n"
        "  --quiet             print at most 50 violations\n"
        "  --outbox-db NAME    no event lost: this database's outbox table must be empty\n"
        "                      (every row published; repeatable, e.g. catalog, order, payment)\n"
        "  --stream KEY        no event lost: this Redis stream (inventory's\n"
        "                      INVENTORY_OUTBOX_STREAM) must hold no entry\n"
        "  --stream-group G    and no entry may be pending in its relay group G\n"
        "environment: DB_HOST DB_PORT DB_USER DB_PASSWORD (MariaDB, default "
        "127.0.0.1:3306 commerce),\n"
        "             REDIS_HOST REDIS_PORT (default 127.0.0.1:6379)\n"
        "exit: 0 all invariants hold, 1 a violation was printed, 2 usage or store error\n");
}

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);

    return v && *v ? v : def;
}

static bool terminal(const char *status)
{
    return !strcmp(status, "CONFIRMED") || !strcmp(status, "CANCELLED") ||
           !strcmp(status, "FAILED") || !strcmp(status, "PARTIALLY_REFUNDED") ||
           !strcmp(status, "REFUNDED");
}

static bool sold_status(const char *status)
{
    return !strcmp(status, "CONFIRMED") || !strcmp(status, "PARTIALLY_REFUNDED") ||
           !strcmp(status, "REFUNDED");
}

/* ---- MariaDB ---- */

static struct db_pool *pool_open(const char *database)
{
    struct db_opts o = {.host = env_or("DB_HOST", "127.0.0.1"),
                        .port = (unsigned)atoi(env_or("DB_PORT", "3306")),
                        .user = env_or("DB_USER", "commerce"),
                        .password = env_or("DB_PASSWORD", ""),
                        .database = database,
                        .pool_size = 1,
                        .connect_timeout_s = 10,
                        .acquire_timeout_ms = 10000};
    char err[256];
    struct db_pool *pool = db_pool_new(&o, err, sizeof(err));

    if (!pool)
        fprintf(stderr, "check-invariants: database '%s': %s\n", database, err);
    return pool;
}

/* Runs @sql on @database; *@ret owns the rows. 0 or -EIO (reason on stderr). */
static int query(const char *database, const char *sql, struct db_result **ret)
{
    struct db_pool *pool = pool_open(database);
    struct db_conn *conn;
    char err[256];
    int rc = -EIO;

    if (!pool)
        return -EIO;
    conn = db_acquire(pool, err, sizeof(err));
    if (!conn) {
        fprintf(stderr, "check-invariants: database '%s': %s\n", database, err);
        goto out;
    }
    rc = db_query(conn, sql, NULL, 0, ret);
    if (rc < 0) {
        fprintf(stderr, "check-invariants: %s on '%s': %s\n", sql, database, db_errmsg(conn));
        rc = -EIO;
    }
    db_release(pool, conn);
out:
    db_pool_free(pool);
    return rc;
}

static int order_cmp(const void *a, const void *b)
{
    return strcmp(((const struct order *)a)->id, ((const struct order *)b)->id);
}

static struct order *order_find(struct order *orders, size_t n, const char *id)
{
    struct order key;

    snprintf(key.id, sizeof(key.id), "%s", id ? id : "");
    return bsearch(&key, orders, n, sizeof(*orders), order_cmp);
}

static int sku_cmp(const void *a, const void *b)
{
    long long x = ((const struct sku *)a)->id, y = ((const struct sku *)b)->id;

    return x < y ? -1 : x > y;
}

static struct sku *sku_find(struct sku *skus, size_t n, long long id)
{
    struct sku key = {.id = id};

    return bsearch(&key, skus, n, sizeof(*skus), sku_cmp);
}

static int sku_add(struct sku **skus, size_t *n, size_t *cap, long long id)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        struct sku *p = realloc(*skus, ncap * sizeof(*p));

        if (!p || ncap > MAX_SKUS)
            return -ENOMEM;
        *skus = p;
        *cap = ncap;
    }
    memset(&(*skus)[*n], 0, sizeof(**skus));
    (*skus)[(*n)++].id = id;
    return 0;
}

/* Sorts and drops duplicate ids. */
static void sku_uniq(struct sku *skus, size_t *n)
{
    size_t w = 0;

    qsort(skus, *n, sizeof(*skus), sku_cmp);
    for (size_t i = 0; i < *n; i++) {
        if (w == 0 || skus[w - 1].id != skus[i].id)
            skus[w++] = skus[i];
    }
    *n = w;
}

/* ---- Redis ---- */

static long long reply_ll(const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_STRING)
        return -1;
    return strtoll(r->str, NULL, 10);
}

/* Adds every inv:sku:{id} key in [min, max] (or all with @all) to @skus. */
static int redis_scan(struct rds_conn *conn, bool all, long long min, long long max,
                      struct sku **skus, size_t *n, size_t *cap)
{
    char cursor[32] = "0", err[256];

    do {
        const char *argv[] = {"SCAN", cursor, "MATCH", "inv:sku:*", "COUNT", "1000"};
        size_t lens[6];
        redisReply *r;

        for (size_t i = 0; i < 6; i++)
            lens[i] = strlen(argv[i]);
        r = rds_command(conn, 6, argv, lens, err, sizeof(err));
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            fprintf(stderr, "check-invariants: redis SCAN: %s\n", r ? "unexpected reply" : err);
            if (r)
                freeReplyObject(r);
            return -EIO;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            const char *key = r->element[1]->element[i]->str;
            char *end = NULL;
            long long id = strtoll(key + strlen("inv:sku:"), &end, 10);

            if (!end || *end || id <= 0)
                continue;
            if ((all || (id >= min && id <= max)) && sku_add(skus, n, cap, id) < 0) {
                freeReplyObject(r);
                return -ENOMEM;
            }
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

static int redis_read(struct rds_conn *conn, struct sku *s)
{
    char key[48], err[256];
    const char *argv[] = {"HMGET", key, "available", "reserved", "sold", "returned", "received"};
    size_t lens[7];
    redisReply *r;

    snprintf(key, sizeof(key), "inv:sku:%lld", s->id);
    for (size_t i = 0; i < 7; i++)
        lens[i] = strlen(argv[i]);
    r = rds_command(conn, 7, argv, lens, err, sizeof(err));
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 5) {
        fprintf(stderr, "check-invariants: redis HMGET %s: %s\n", key, r ? "bad reply" : err);
        if (r)
            freeReplyObject(r);
        return -EIO;
    }
    s->found = r->element[0]->type == REDIS_REPLY_STRING;
    s->available = reply_ll(r->element[0]);
    s->reserved = reply_ll(r->element[1]);
    s->sold = reply_ll(r->element[2]);
    s->returned = reply_ll(r->element[3]);
    s->received = reply_ll(r->element[4]);
    freeReplyObject(r);
    return 0;
}

/* Connects to REDIS_HOST:REDIS_PORT once (*@pool, *@conn kept for the later checks). 0 or
 * -EIO (reason on stderr). */
static int redis_open(struct rds_pool **pool, struct rds_conn **conn)
{
    char err[256] = "";

    if (*conn)
        return 0;
    *pool = rds_pool_new(&(struct rds_opts){.host = env_or("REDIS_HOST", "127.0.0.1"),
                                            .port = (unsigned)atoi(env_or("REDIS_PORT", "6379")),
                                            .timeout_ms = 10000,
                                            .pool_size = 1},
                         err, sizeof(err));
    *conn = *pool ? rds_acquire(*pool, err, sizeof(err)) : NULL;
    if (!*conn) {
        fprintf(stderr, "check-invariants: redis: %s\n", err);
        return -EIO;
    }
    return 0;
}

/* ---- no event lost ---- */

/* The outbox table of @database must be empty. 0 or -EIO. */
static int check_outbox(const char *database)
{
    struct db_result *res = NULL;
    long long n;

    if (query(database, "SELECT COUNT(*), COALESCE(MIN(created_at), '') FROM outbox", &res) < 0)
        return -EIO;
    n = db_result_int(res, 0, 0);
    if (n > 0)
        violation("outbox of '%s': %lld event(s) not published (oldest from %s)", database, n,
                  db_result_get(res, 0, 1));
    db_result_free(res);
    return 0;
}

/* An integer reply of @argv on @conn into *@ret. 0 or -EIO. */
static int redis_int(struct rds_conn *conn, int argc, const char **argv, long long *ret)
{
    size_t lens[4];
    char err[256];
    redisReply *r;
    int rc = -EIO;

    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    r = rds_command(conn, argc, argv, lens, err, sizeof(err));
    if (r && r->type == REDIS_REPLY_INTEGER) {
        *ret = r->integer;
        rc = 0;
    } else if (r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
               r->element[0]->type == REDIS_REPLY_INTEGER) {
        *ret = r->element[0]->integer; /* XPENDING's summary: the count first */
        rc = 0;
    } else {
        fprintf(stderr, "check-invariants: redis %s %s: %s\n", argv[0], argv[1],
                !r                             ? err
                : r->type == REDIS_REPLY_ERROR ? r->str
                                               : "unexpected reply");
    }
    if (r)
        freeReplyObject(r);
    return rc;
}

/* The stream @key must be empty and, with @group, have nothing pending in it. 0 or -EIO. */
static int check_stream(struct rds_conn *conn, const char *key, const char *group)
{
    const char *xlen[] = {"XLEN", key};
    const char *xpending[] = {"XPENDING", key, group};
    long long n = 0, pending = 0;

    if (redis_int(conn, 2, xlen, &n) < 0)
        return -EIO;
    if (n > 0)
        violation("stream '%s': %lld entr%s not published", key, n, n == 1 ? "y" : "ies");
    if (group && n > 0 && redis_int(conn, 3, xpending, &pending) < 0)
        return -EIO;
    if (pending > 0)
        violation("stream '%s': %lld entr%s pending in group '%s'", key, pending,
                  pending == 1 ? "y" : "ies", group);
    return 0;
}

/* ---- the checks ---- */

static void check_stock(const struct sku *s, bool all_terminal, bool compare_orders)
{
    if (!s->found) {
        violation("sku %lld: no inv:sku:%lld in Redis", s->id, s->id);
        return;
    }
    if (s->available < 0 || s->reserved < 0 || s->sold < 0 || s->returned < 0 || s->received < 0)
        violation("sku %lld: a negative or missing counter: available %lld reserved %lld sold "
                  "%lld returned %lld received %lld",
                  s->id, s->available, s->reserved, s->sold, s->returned, s->received);
    if (s->received - s->sold + s->returned != s->available + s->reserved)
        violation("sku %lld: received %lld - sold %lld + returned %lld = %lld != available %lld "
                  "+ reserved %lld = %lld",
                  s->id, s->received, s->sold, s->returned, s->received - s->sold + s->returned,
                  s->available, s->reserved, s->available + s->reserved);
    if (all_terminal && s->reserved != 0)
        violation("sku %lld: %lld units still reserved though every order is terminal", s->id,
                  s->reserved);
    /* Units customers keep: sold − returned must equal the unrefunded items of CONFIRMED and
     * refund-status orders. (A paid order cancelled before its confirmation completed was sold
     * and then taken back: it adds the same amount to sold and to returned.) */
    if (compare_orders && s->sold - s->returned != s->want_sold - s->want_returned)
        violation("sku %lld: sold %lld - returned %lld = %lld, but confirmed/refund-status orders "
                  "keep %lld units",
                  s->id, s->sold, s->returned, s->sold - s->returned,
                  s->want_sold - s->want_returned);
    if (compare_orders && (s->sold < s->want_sold || s->returned < s->want_returned))
        violation("sku %lld: sold %lld / returned %lld, but the orders account for at least %lld "
                  "sold / %lld returned",
                  s->id, s->sold, s->returned, s->want_sold, s->want_returned);
}

static void check_order(const struct order *o, bool allow_pending)
{
    long long want, net = o->captured - o->refunded;

    if (!terminal(o->status)) {
        if (!allow_pending)
            violation("order %s: status %s is not terminal", o->id, o->status);
        return;
    }
    if (!strcmp(o->status, "CONFIRMED"))
        want = o->payable;
    else if (!strcmp(o->status, "PARTIALLY_REFUNDED") || !strcmp(o->status, "REFUNDED"))
        want = o->payable - o->refunded_items;
    else
        want = 0;
    if (net != want)
        violation("order %s (%s): captured %lld - refunded %lld = %lld, want %lld (payable "
                  "%lld, refunded items %lld)",
                  o->id, o->status, o->captured, o->refunded, net, want, o->payable,
                  o->refunded_items);
    if (o->approvals > 1)
        violation("order %s: captured %d times", o->id, o->approvals);
    if (o->payments > 1)
        violation("order %s: %d payments", o->id, o->payments);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"order-db", required_argument, NULL, 'o'},
        {"payment-db", required_argument, NULL, 'p'},
        {"sku", required_argument, NULL, 's'},
        {"sku-min", required_argument, NULL, 'a'},
        {"sku-max", required_argument, NULL, 'b'},
        {"all-skus", no_argument, NULL, 'A'},
        {"allow-pending", no_argument, NULL, 'P'},
        {"quiet", no_argument, NULL, 'q'},
        {"outbox-db", required_argument, NULL, 'O'},
        {"stream", required_argument, NULL, 'S'},
        {"stream-group", required_argument, NULL, 'G'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct opts o = {.order_db = env_or("ORDER_DB", "commerce_order"),
                     .payment_db = env_or("PAYMENT_DB", "commerce_payment"),
                     .sku_min = -1,
                     .sku_max = -1};
    struct db_result *orders_res = NULL, *items_res = NULL, *pay_res = NULL, *tx_res = NULL;
    struct order *orders = NULL;
    struct sku *skus = NULL;
    size_t norders = 0, nskus = 0, capskus = 0, npending = 0;
    struct rds_pool *rpool = NULL;
    struct rds_conn *rconn = NULL;
    int c, rc = 2;
    bool all_terminal;

    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            o.order_db = optarg;
            break;
        case 'p':
            o.payment_db = optarg;
            break;
        case 's':
            if (sku_add(&skus, &nskus, &capskus, strtoll(optarg, NULL, 10)) < 0)
                goto out;
            break;
        case 'a':
            o.sku_min = strtoll(optarg, NULL, 10);
            break;
        case 'b':
            o.sku_max = strtoll(optarg, NULL, 10);
            break;
        case 'A':
            o.all_skus = true;
            break;
        case 'P':
            o.allow_pending = true;
            break;
        case 'q':
            o.quiet = true;
            break;
        case 'O':
            if (o.noutbox == MAX_OUTBOX_DBS) {
                fprintf(stderr, "check-invariants: at most %d --outbox-db\n", MAX_OUTBOX_DBS);
                return 2;
            }
            o.outbox_dbs[o.noutbox++] = optarg;
            break;
        case 'S':
            o.stream = optarg;
            break;
        case 'G':
            o.stream_group = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || (o.sku_min < 0) != (o.sku_max < 0) || (o.stream_group && !o.stream)) {
        usage(stderr);
        return 2;
    }
    quiet = o.quiet;
    if (mysql_library_init(0, NULL, NULL) != 0) {
        fprintf(stderr, "check-invariants: mysql_library_init failed\n");
        return 2;
    }

    /* orders, sorted by id */
    if (query(o.order_db, SQL_ORDERS, &orders_res) < 0 ||
        query(o.order_db, SQL_ITEMS, &items_res) < 0 ||
        query(o.payment_db, SQL_PAYMENTS, &pay_res) < 0 ||
        query(o.payment_db, SQL_TXS, &tx_res) < 0)
        goto out;
    norders = db_result_rows(orders_res);
    orders = calloc(norders ? norders : 1, sizeof(*orders));
    if (!orders)
        goto out;
    for (size_t i = 0; i < norders; i++) {
        const char *st = db_result_get(orders_res, i, 1);

        snprintf(orders[i].id, sizeof(orders[i].id), "%s", db_result_get(orders_res, i, 0));
        snprintf(orders[i].status, sizeof(orders[i].status), "%s", st ? st : "");
        orders[i].payable = db_result_int(orders_res, i, 2);
        if (!terminal(orders[i].status))
            npending++;
    }
    qsort(orders, norders, sizeof(*orders), order_cmp);
    all_terminal = npending == 0;

    /* the SKUs to check */
    if (o.all_skus || o.sku_min >= 0) {
        if (redis_open(&rpool, &rconn) < 0)
            goto out;
        if (redis_scan(rconn, o.all_skus, o.sku_min, o.sku_max, &skus, &nskus, &capskus) < 0)
            goto out;
    } else if (nskus == 0) {
        for (size_t i = 0; i < db_result_rows(items_res); i++) {
            if (sku_add(&skus, &nskus, &capskus, db_result_int(items_res, i, 1)) < 0)
                goto out;
        }
    }
    sku_uniq(skus, &nskus);

    /* order items: units sold and returned per SKU, refunded amounts per order */
    for (size_t i = 0; i < db_result_rows(items_res); i++) {
        struct order *ord = order_find(orders, norders, db_result_get(items_res, i, 0));
        struct sku *s = sku_find(skus, nskus, db_result_int(items_res, i, 1));
        long long qty = db_result_int(items_res, i, 2);
        bool refunded = db_result_int(items_res, i, 4) != 0;

        if (!ord) {
            violation("order item of unknown order %s", db_result_get(items_res, i, 0));
            continue;
        }
        if (refunded)
            ord->refunded_items += db_result_int(items_res, i, 3);
        if (s && sold_status(ord->status)) {
            s->want_sold += qty;
            if (refunded)
                s->want_returned += qty;
        }
    }

    /* payments and their transactions */
    for (size_t i = 0; i < db_result_rows(pay_res); i++) {
        struct order *ord = order_find(orders, norders, db_result_get(pay_res, i, 1));
        long long amount = db_result_int(pay_res, i, 2), refunded = db_result_int(pay_res, i, 3);
        const char *pid = db_result_get(pay_res, i, 0);
        long long tx_refunded = 0;

        if (!ord) {
            violation("payment %s: for unknown order %s", pid, db_result_get(pay_res, i, 1));
            continue;
        }
        ord->payments++;
        if (amount != ord->payable)
            violation("payment %s: amount %lld != payable %lld of order %s", pid, amount,
                      ord->payable, ord->id);
        if (refunded < 0 || refunded > amount)
            violation("payment %s: refunded_amount %lld outside 0..%lld", pid, refunded, amount);
        for (size_t t = 0; t < db_result_rows(tx_res); t++) {
            const char *type = db_result_get(tx_res, t, 1), *st = db_result_get(tx_res, t, 2);

            if (strcmp(db_result_get(tx_res, t, 0), ord->id) == 0 && type && st &&
                !strcmp(type, "CANCEL") && !strcmp(st, "SUCCESS"))
                tx_refunded += db_result_int(tx_res, t, 3);
        }
        if (tx_refunded != refunded)
            violation("payment %s: refunded_amount %lld != successful CANCEL transactions %lld",
                      pid, refunded, tx_refunded);
    }
    for (size_t t = 0; t < db_result_rows(tx_res); t++) {
        struct order *ord = order_find(orders, norders, db_result_get(tx_res, t, 0));
        const char *type = db_result_get(tx_res, t, 1), *st = db_result_get(tx_res, t, 2);

        if (!ord || !type || !st || strcmp(st, "SUCCESS") != 0)
            continue;
        if (!strcmp(type, "APPROVAL")) {
            ord->captured += db_result_int(tx_res, t, 3);
            ord->approvals++;
        } else if (!strcmp(type, "CANCEL")) {
            ord->refunded += db_result_int(tx_res, t, 3);
        }
    }

    for (size_t i = 0; i < norders; i++)
        check_order(&orders[i], o.allow_pending);

    /* stock */
    if (nskus) {
        if (redis_open(&rpool, &rconn) < 0)
            goto out;
        for (size_t i = 0; i < nskus; i++) {
            if (redis_read(rconn, &skus[i]) < 0)
                goto out;
            /* compare with the orders only when every order is terminal (else units are
             * legitimately in flight) */
            check_stock(&skus[i], all_terminal, all_terminal);
        }
    }

    /* no event lost */
    for (size_t i = 0; i < o.noutbox; i++) {
        if (check_outbox(o.outbox_dbs[i]) < 0)
            goto out;
    }
    if (o.stream &&
        (redis_open(&rpool, &rconn) < 0 || check_stream(rconn, o.stream, o.stream_group) < 0))
        goto out;

    printf("check-invariants: %zu orders (%zu not terminal), %zu payments, %zu skus "
           "(order db '%s', payment db '%s'): %lu violation%s\n",
           norders, npending, db_result_rows(pay_res), nskus, o.order_db, o.payment_db, violations,
           violations == 1 ? "" : "s");
    rc = violations ? 1 : 0;
out:
    if (rconn)
        rds_release(rpool, rconn);
    rds_pool_free(rpool);
    db_result_free(orders_res);
    db_result_free(items_res);
    db_result_free(pay_res);
    db_result_free(tx_res);
    free(orders);
    free(skus);
    mysql_library_end();
    return rc;
}
