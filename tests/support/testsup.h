/*
 * testsup.h - support for integration and end-to-end tests (linked into every test binary).
 *
 * The harness (scripts/test.sh) starts MariaDB, Redis and Kafka and exports:
 *   DB_HOST DB_PORT DB_USER DB_PASSWORD   a MariaDB account that may create databases
 *   REDIS_HOST REDIS_PORT
 *   KAFKA_BOOTSTRAP                        host:port (a comma list for a cluster)
 *   KAFKA_NODES                            the broker's node count (1)
 *   KAFKA_KIND                             apache | mock | external
 *   KAFKA_SECURITY_PROTOCOL KAFKA_SASL_MECHANISM KAFKA_SASL_USERNAME KAFKA_SASL_PASSWORD
 *                                          (apache) the admin's login; the tests' own clients
 *                                          use it (ts_kafka_auth())
 *   KAFKA_SASL_USERS_DIR                   (apache) <service>.password of each principal
 *   TEST_STATE_DIR                         the harness's temporary folder
 *   JWT_PRIVATE_KEY_FILE JWT_PUBLIC_KEY_FILE  an ES256 key pair made for the run
 *   BUILD_DIR                              where binaries are (build/asan)
 * Tests never depend on each other's leftovers: each makes its own database, topic names or
 * ids with ts_unique(). No sleeps as synchronisation: poll with ts_poll_until().
 */
#ifndef TESTSUP_H
#define TESTSUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "common/kafka_auth.h"

/* The environment variable @name; fails the test (cmocka fail_msg) when unset. */
const char *ts_env(const char *name);

/* @prefix + "_" + a random 12-hex suffix, into @out. Safe for DB names and topic names. */
void ts_unique(const char *prefix, char *out, size_t outlen);

/* Calls @cond(@arg) every 50 ms until it returns true or @timeout_ms passes. */
bool ts_poll_until(bool (*cond)(void *arg), void *arg, int timeout_ms);

/* Creates a fresh database named ts_unique(@prefix) on the harness's MariaDB; writes the name
 * into @out. 0 or -EIO. */
int ts_create_database(const char *prefix, char *out, size_t outlen);

/* Runs "scripts/infra.sh @action" against the harness's state (e.g. "kafka-stop",
 * "kafka-start", "mariadb-restart", "redis-restart"). Returns the exit status. */
int ts_infra(const char *action);

/* ts_infra() on the state folder @state_dir (e.g. a cluster of ts_kafka_cluster_start()). */
int ts_infra_in(const char *state_dir, const char *action);

/*
 * A private Kafka cluster of @nodes KRaft nodes next to the harness's MariaDB and Redis
 * (scripts/infra.sh start with INFRA_SERVICES=kafka KAFKA_NODES=@nodes in a fresh folder under
 * TEST_STATE_DIR/clusters/, which scripts/test.sh stops after the suite if the test did not):
 * replication factor min(3, @nodes), min.insync.replicas 2 from 3 nodes, the same SASL users
 * and super user admin as the harness's broker. On success this process's KAFKA_BOOTSTRAP (all
 * nodes), KAFKA_NODES, KAFKA_KIND and Kafka login (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*) are
 * the cluster's, so everything started after it (ts_service_start(), saga_stack_start(),
 * ts_create_topic(), ts_consumer_new()) uses the cluster; the folder into @ret_dir, for
 * ts_infra_in(dir, "kafka-N-kill" | "kafka-N-stop" | "kafka-N-start") on node N (1..@nodes)
 * and ts_kafka_cluster_stop(). Needs the Apache broker (KAFKA_KIND=apache): -ENOTSUP
 * otherwise; -EIO when it did not start (the log tail on stderr). A 3-node start takes about
 * 10 s on the idle 2-core machine (20-40 s under the load of parallel builds).
 */
int ts_kafka_cluster_start(int nodes, char *ret_dir, size_t dirlen);

/* Stops the cluster in @dir (every node). The exit status of infra.sh stop. */
int ts_kafka_cluster_stop(const char *dir);

/* Prints the last bytes of the file at @path (a log) on stderr. */
void ts_print_log_tail(const char *path);

/* Prints the whole file at @path on stdout (the harness keeps it in the suite's log); nothing
 * when it cannot be opened. */
void ts_print_file(const char *path);

/* The virtualenv scripts/deps.sh made for the package @name pinned ("@name==<version>") in the
 * requirements file @requirements (relative to the checkout): ".deps/@name-<version>" into
 * @out. True when it is complete (deps.sh's .complete marker is there). */
bool ts_pinned_venv(const char *requirements, const char *name, char *out, size_t outlen);

/* Runs `bash $REPO_ROOT/scripts/@script @args…` (NULL-terminated, at most 13) with the
 * harness environment plus @env ("NAME=value"; a bare "NAME" removes it; may be NULL), its
 * output appended to @log_path (NULL: this process's). Waits for it; returns its exit status
 * (128+signal), or -1 when it could not run. */
int ts_script(const char *script, const char *const *args, const char *const *env,
              const char *log_path);

/* The value of NAME in an env file of "export NAME=value …" lines (what scripts/stack.sh and
 * scripts/infra.sh write; plain values, no quoting) into @out. 0, -ENOENT (no such name) or
 * -EIO (unreadable file; the reason on stderr). */
int ts_env_file_value(const char *path, const char *name, char *out, size_t outlen);

/* ---- HTTP client (libcurl) ---- */
struct ts_resp {
    long status;
    char *body;  /* NUL-terminated, owned */
    cJSON *json; /* parsed body or NULL, owned */
    char content_type[128];
    char location[512];
    char set_cookie[512]; /* the last Set-Cookie header ("" when none) */
    char retry_after[32]; /* the Retry-After header ("" when none) */
};

/* @body may be NULL; @headers is a NULL-terminated list of "Name: value" or NULL;
 * @token adds "Authorization: Bearer <token>" when non-NULL. Returns 0 or -EIO (no answer). */
int ts_http(const char *method, const char *url, const char *token, const char *body,
            const char *const *headers, struct ts_resp *ret);
void ts_resp_free(struct ts_resp *resp);

/* An ES256 access token for @sub with @role ("USER" or "ADMIN"), signed with
 * JWT_PRIVATE_KEY_FILE, valid 15 minutes. Caller frees. */
char *ts_token(const char *sub, const char *role);

/* ---- Kafka ---- */

/* The admin's login (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_* of the harness env: the broker's
 * super user) for in-process clients; NULL without SASL (mock or external broker). Static. */
const struct kafka_auth *ts_kafka_auth(void);

/* Applies ts_kafka_auth() to a librdkafka conf (rd_kafka_conf_t *); fails the test on error. */
struct rd_kafka_conf_s;
void ts_kafka_conf_auth(struct rd_kafka_conf_s *conf);

struct ts_record {
    char *topic;
    char *key;
    char *value;
    size_t len;
    int32_t partition;
    int64_t offset;
    size_t nheaders;
    char **header_names;
    char **header_values;
};

/* The value of header @name in @rec, or NULL. */
const char *ts_record_header(const struct ts_record *rec, const char *name);

struct ts_consumer;

/* A consumer of @topic in a fresh group reading from the beginning. */
struct ts_consumer *ts_consumer_new(const char *topic);
/* Collects records until @want have been read or @timeout_ms passes; *@ret (owned, free with
 * ts_records_free) holds what was read. Returns the count. */
size_t ts_consume(struct ts_consumer *c, size_t want, int timeout_ms, struct ts_record **ret);
void ts_records_free(struct ts_record *recs, size_t n);
void ts_consumer_free(struct ts_consumer *c);

/* Creates @topic (3 partitions, the broker's default replication factor) if missing. 0 or
 * -EIO. */
int ts_create_topic(const char *topic);

/* The CloudEvents source of @type's producer ("/payment-service" for "payment.completed";
 * event_types.h), which consumers require (docs/event-contracts.md "Who may produce what"),
 * into @out; "/unknown" for a type outside the list. Returns @out. */
const char *ts_event_source(const char *type, char *out, size_t outlen);

/* Produces one message (headers as alternating name, value, NULL-terminated; may be NULL). */
int ts_produce(const char *topic, const char *key, const char *value, size_t len,
               const char *const *headers);

/* ---- service processes ---- */
struct ts_service {
    pid_t pid;
    unsigned short port;
    char url[64]; /* "http://127.0.0.1:<port>" */
    char log_path[512];
};

/*
 * Starts $BUILD_DIR/bin/@binary with the harness environment plus @env ("NAME=value",
 * NULL-terminated; overrides), HTTP_PORT set to a free port, output to a log file in
 * TEST_STATE_DIR. On a broker with SASL, a service with a Kafka principal (common/kafka_acl.h)
 * first gets its topics and ACLs from the admin (for @env's TOPIC_* and KAFKA_GROUP_ID) and
 * logs in as itself; KAFKA_CREATE_TOPICS is false then; @env may still override its login. Waits up
 * to @timeout_ms for GET /health/ready = 200. 0 or -EIO (then the log tail is printed).
 */
int ts_service_start(const char *binary, const char *const *env, int timeout_ms,
                     struct ts_service *ret);

/* Sends @sig (SIGTERM for a clean stop, SIGKILL for a crash) and waits for the exit.
 * Returns the exit status (or 128+signal). */
int ts_service_stop(struct ts_service *svc, int sig);

#endif
