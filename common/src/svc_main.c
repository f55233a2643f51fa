/* svc_main.c - one lifecycle for every daemon: a service is a struct svc_desc (see svc.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>

#include "common/contracts.h"
#include "common/inbox.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/svc.h"
#include "common/util.h"

#define SVC_MAX_JOBS 16
#define SVC_ACCESS_LOG_BUFFER (1024 * 1024) /* each of the access writer's two buffers */
#define SVC_OPENAPI_MAX (4 * 1024 * 1024)
#define SVC_OPENAPI_TYPE "application/yaml"

/* What one svc_main() built and started; the consumer's and the readiness probe's view. */
struct svc_run {
    struct svc svc;
    struct kafka_type consumed[EVENT_NTYPES]; /* from the handlers, {NULL}-terminated */
    const char *published[EVENT_NTYPES];      /* from event_types.h, NULL-terminated */
    struct worker *jobs[SVC_MAX_JOBS];
    size_t njobs;
    struct http_route *routes; /* the service's routes + GET /openapi.yaml */
    char *openapi;             /* OPENAPI_FILE, read at start */
    struct http_server *srv;
    struct contracts *contracts;
    struct kafka_consumer *consumer;
    bool global, mysql, started;
};

/* The readiness probe gets the app (the routes' argument): the run is this process's one. */
static struct svc_run *svc_running;

/* The entries of the service's own table. */
static size_t svc_nconfig(const struct svc_desc *d)
{
    size_t n = 0;

    while (d->config && d->config[n].name)
        n++;
    return n;
}

static int svc_config_read(const struct svc_desc *d, char *err, size_t errlen)
{
    size_t n = svc_nconfig(d);
    int rc;

    if (n)
        rc = svc_config_load_own(d->cfg, d->defaults, d->config, n, d->cfg, err, errlen);
    else
        rc = svc_config_load(d->cfg, d->defaults, err, errlen);
    if (d->check && d->check(d->cfg, err, errlen) < 0)
        rc = -EINVAL;
    return rc < 0 ? -EINVAL : 0;
}

/* The consumed types of the handler table and the types this service produces. */
static void svc_types(struct svc_run *run)
{
    const struct svc_desc *d = run->svc.desc;
    size_t n = 0;

    for (size_t i = 0; d->handlers && d->handlers[i].type != EVENT_NONE; i++) {
        enum event_type t = d->handlers[i].type;

        run->consumed[i] = (struct kafka_type){event_type_name(t), 1, event_type_max_version(t)};
    }
    for (int t = EVENT_NONE + 1; t < EVENT_NTYPES; t++) {
        if (strcmp(event_type_producer((enum event_type)t), run->svc.cfg->service) == 0)
            run->published[n++] = event_type_name((enum event_type)t);
    }
}

static enum kafka_result svc_dispatch(const struct event *ev, const struct kafka_record *rec,
                                      void *arg, char *errbuf, size_t errlen)
{
    const struct svc_desc *d = ((struct svc_run *)arg)->svc.desc;
    enum event_type t = event_type_parse(ev->type);

    for (const struct svc_handler *h = d->handlers; h->type != EVENT_NONE; h++) {
        if (h->type == t)
            return h->handle(ev, rec, d->app, errbuf, errlen);
    }
    snprintf(errbuf, errlen, "no handler for '%s'", ev->type);
    return KAFKA_FAIL;
}

static int svc_ready(void *app, char *why, size_t whylen)
{
    const struct svc_desc *d = svc_running->svc.desc;
    int rc = d->ready ? d->ready(app, why, whylen) : 0;

    return rc < 0 ? rc : db_ping(svc_running->svc.pool, why, whylen);
}

/* Purges one bookkeeping table: rows past INBOX_RETENTION_S go. */
static void svc_purge_table(struct svc *svc, struct db_conn *conn, const char *table,
                            const char *column)
{
    unsigned long long deleted = 0;
    int rc = inbox_purge_table(conn, table, column, svc->cfg->inbox_retention_s, &deleted);

    if (rc < 0)
        log_warnx("purge of '%s' failed: %s (%d)", table, db_errmsg(conn), rc);
    else if (deleted > 0)
        log_info("purged %llu rows of '%s' older than %ld s", deleted, table,
                 svc->cfg->inbox_retention_s);
}

/* The common job of a service with an inbox or other bookkeeping tables (svc_desc.purge):
 * their rows past INBOX_RETENTION_S go, every INBOX_PURGE_MS. */
static long svc_inbox_purge(struct worker *w, void *arg)
{
    struct svc *svc = arg;
    const struct svc_desc *d = svc->desc;
    struct db_conn *conn;
    char err[256];

    (void)w;
    conn = db_acquire(svc->pool, err, sizeof(err));
    if (!conn)
        return -1;
    if (d->tables & SVC_TABLES_INBOX)
        svc_purge_table(svc, conn, "inbox", "processed_at");
    for (size_t i = 0; d->purge && d->purge[i].table; i++)
        svc_purge_table(svc, conn, d->purge[i].table, d->purge[i].column);
    db_release(svc->pool, conn);
    return -1;
}

/* GET /openapi.yaml: the service's OpenAPI document as read at start. */
static void svc_openapi(struct http_req *req, struct http_resp *resp, void *app)
{
    (void)req;
    (void)app;
    resp->body = strdup(svc_running->openapi);
    if (!resp->body) {
        http_reply_problem(resp, 500, "COMMON-500-001", NULL, "out of memory");
        return;
    }
    resp->status = 200;
    resp->content_type = SVC_OPENAPI_TYPE;
    /* public: Swagger UI (docker-compose's tools) reads it cross-origin */
    http_resp_header(resp, "Access-Control-Allow-Origin", "*");
}

/* Reads OPENAPI_FILE and appends its route to the service's; -1 when it cannot (logged). */
static int svc_openapi_open(struct svc_run *run)
{
    const struct svc_desc *d = run->svc.desc;
    const char *path = run->svc.cfg->openapi_file;
    int rc = util_read_file(path, SVC_OPENAPI_MAX, &run->openapi, NULL);

    if (rc < 0) {
        log_errorx("cannot read the OpenAPI document '%s' (OPENAPI_FILE): %s", path, strerror(-rc));
        return -1;
    }
    run->routes = calloc(d->nroutes + 1, sizeof(*run->routes));
    if (!run->routes) {
        log_errorx("cannot add GET /openapi.yaml: out of memory");
        return -1;
    }
    if (d->nroutes)
        memcpy(run->routes, d->routes, d->nroutes * sizeof(*run->routes));
    run->routes[d->nroutes] =
        (struct http_route){"GET", "/openapi.yaml", HTTP_AUTH_NONE, svc_openapi};
    return 0;
}

static int svc_job_start(struct svc_run *run, const struct worker_opts *opts)
{
    char err[256];

    if (run->njobs == SVC_MAX_JOBS) {
        log_errorx("cannot start the %s: more than %d jobs", opts->name, SVC_MAX_JOBS);
        return -1;
    }
    run->jobs[run->njobs] = worker_start(opts, err, sizeof(err));
    if (!run->jobs[run->njobs]) {
        log_errorx("cannot start the %s: %s", opts->name, err);
        return -1;
    }
    run->njobs++;
    return 0;
}

static int svc_jobs_start(struct svc_run *run)
{
    const struct svc_desc *d = run->svc.desc;

    for (size_t i = 0; d->jobs && d->jobs[i].name; i++) {
        struct worker_opts o = {.name = d->jobs[i].name,
                                .period_ms = d->jobs[i].period_ms(d->app),
                                .run = d->jobs[i].run,
                                .arg = d->app};

        if (svc_job_start(run, &o) < 0)
            return -1;
    }
    if ((d->tables & SVC_TABLES_INBOX) || (d->purge && d->purge[0].table)) {
        struct worker_opts o = {.name = "inbox purge",
                                .period_ms = run->svc.cfg->inbox_purge_ms,
                                .run = svc_inbox_purge,
                                .arg = &run->svc};

        return svc_job_start(run, &o);
    }
    return 0;
}

static int svc_relay_open(struct svc_run *run)
{
    const struct svc_desc *d = run->svc.desc;
    struct relay_opts opts = {.producer = run->svc.producer,
                              .poll_ms = (int)run->svc.cfg->outbox_poll_ms};
    struct relay_source *src;
    char err[512];

    if (!d->relay_source)
        return 0;
    src = d->relay_source(&run->svc, d->app);
    if (!src)
        return 0; /* the hook logged why */
    run->svc.relay = relay_start(&opts, src, err, sizeof(err));
    if (!run->svc.relay) {
        log_errorx("cannot start the outbox relay: %s", err);
        return -1;
    }
    return 0;
}

/* From the JWT key to the consumer; -1 when a step failed (logged). */
static int svc_start(struct svc_run *run)
{
    const struct svc_desc *d = run->svc.desc;
    struct svc *svc = &run->svc;
    const char *setting = "JWT_PUBLIC_KEY_FILE";
    const char *key_file = svc->cfg->jwt_public_key_file;

    if (d->jwt_key_file)
        key_file = d->jwt_key_file(d->app, &setting);
    if (!(svc->key = svc_jwt_key(key_file, setting)))
        return -1;
    if (jwt_key_set_issuer(svc->key, svc->cfg->jwt_issuer, svc->cfg->jwt_audience) < 0) {
        log_errorx("JWT_ISSUER and JWT_AUDIENCE must be 1 to %d bytes", JWT_MAX_ISSUER - 1);
        return -1;
    }
    if (!(svc->pool = svc_db_open(svc->cfg, d->tables)))
        return -1;
    if (d->app_pool)
        *d->app_pool = svc->pool;
    run->started = true;
    if (d->start && d->start(svc, d->app) < 0)
        return -1;
    if (run->published[0] || run->consumed[0].type) {
        if (!(svc->producer = svc_producer_new(svc->cfg)))
            return -1;
        svc_topics_create(svc->cfg, run->consumed);
    }
    if (svc_relay_open(run) < 0 || svc_jobs_start(run) < 0)
        return -1;
    if (svc_openapi_open(run) < 0)
        return -1;
    run->srv = svc_http_start(svc->cfg, svc->key, run->routes, d->nroutes + 1, d->app, svc_ready);
    if (!run->srv)
        return -1;
    if (!run->consumed[0].type)
        return 0;
    if (!(run->contracts = svc_contracts_load()))
        return -1;
    run->consumer = svc_consumer_start(svc->cfg, run->consumed, svc_dispatch, run, svc->producer,
                                       run->contracts);
    return run->consumer ? 0 : -1;
}

/* Everything svc_start() started, in the one order of svc.h. */
static void svc_stop(struct svc_run *run)
{
    const struct svc_desc *d = run->svc.desc;

    if (run->srv)
        http_server_drain(run->srv);
    kafka_consumer_stop(run->consumer);
    contracts_free(run->contracts); /* after the consumer: it borrows them */
    while (run->njobs > 0)
        worker_stop(run->jobs[--run->njobs]);
    http_server_stop(run->srv);
    free(run->routes); /* borrowed by the server until now */
    run->routes = NULL;
    free(run->openapi);
    run->openapi = NULL;
    relay_stop(run->svc.relay);
    kafka_producer_free(run->svc.producer);
    if (run->started && d->stop)
        d->stop(d->app);
    db_pool_free(run->svc.pool);
    jwt_key_free(run->svc.key);
}

int svc_main(const struct svc_desc *desc)
{
    static struct svc_run run;
    enum log_level level = LOG_INFO;
    enum log_access access = LOG_ACCESS_ALL;
    char err[2048] = "";
    sigset_t sigs;
    int status = 1;

    run.svc = (struct svc){.desc = desc, .cfg = desc->cfg};
    svc_running = &run;
    svc_signals_block(&sigs);
    log_init(desc->name, LOG_INFO);
    if (svc_config_read(desc, err, sizeof(err)) < 0) {
        log_errorx("invalid configuration: %s", err);
        return 2;
    }
    log_level_parse(desc->cfg->log_level, &level);
    log_init(desc->name, level);
    log_access_parse(desc->cfg->access_log, &access);
    log_access_init(access);
    if (log_access_start(SVC_ACCESS_LOG_BUFFER) < 0)
        log_warnx("cannot start the access log's writer: access lines are written directly");
    svc_config_log(desc->cfg);
    cfg_log(desc->config, svc_nconfig(desc), desc->cfg);
    if (desc->metrics_register)
        desc->metrics_register();
    svc_types(&run);

    run.global = !desc->global_init || desc->global_init() == 0;
    if (run.global) {
        run.mysql = mysql_library_init(0, NULL, NULL) == 0;
        if (!run.mysql)
            log_errorx("cannot initialise the mariadb client library");
    }
    if (run.mysql && svc_start(&run) == 0) {
        svc_signal_wait(&sigs);
        status = 0;
    }
    svc_stop(&run);
    log_access_stop();
    metrics_reset();
    if (run.mysql)
        mysql_library_end();
    if (run.global && desc->global_end)
        desc->global_end();
    log_info("stopped");
    return status;
}

struct relay_source *svc_relay_outbox(struct svc *svc, void *app)
{
    struct relay_source *src = relay_outbox_source(svc->pool);

    (void)app;
    if (!src)
        log_errorx("cannot create the outbox relay source: out of memory");
    return src;
}
