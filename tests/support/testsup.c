/*
 * testsup.c - support for integration and end-to-end tests: environment, unique names,
 * polling, MariaDB databases, the harness's infra script, an HTTP client (libcurl), a Kafka
 * test consumer/producer/topic creator (librdkafka) and service processes (fork/exec).
 *
 * Everything here is for tests: failures are reported on stderr with the reason, and the
 * functions return an error the test asserts on. See testsup.h for the contract.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <librdkafka/rdkafka.h>
#include <mysql.h>

#include "common/event_types.h"
#include "common/jwt.h"
#include "common/kafka_acl.h"
#include "common/kafka_auth.h"
#include "testsup.h"

#define TS_TOPIC_PARTITIONS 3
#define TS_KAFKA_TIMEOUT_MS 15000
#define TS_HTTP_TIMEOUT_S 30L
#define TS_STOP_DEADLINE_MS 30000
#define TS_LOG_TAIL_BYTES 4096

/* ---- small helpers ---- */

static int64_t ts__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void ts__sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* strdup that aborts the test on allocation failure. */
static char *ts__strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p == NULL) {
        fail_msg("out of memory");
        return NULL;
    }
    if (n > 0)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* Prints the last few KB of @path to stderr, framed, so a failed start explains itself. */
void ts_print_log_tail(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "testsup: cannot open log '%s': %s\n", path, strerror(errno));
        return;
    }
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > TS_LOG_TAIL_BYTES ? size - TS_LOG_TAIL_BYTES : 0;
    char buf[TS_LOG_TAIL_BYTES + 1];
    ssize_t n = pread(fd, buf, TS_LOG_TAIL_BYTES, from);
    close(fd);
    if (n < 0)
        n = 0;
    buf[n] = '\0';
    fprintf(stderr, "---- last %zd bytes of %s ----\n%s\n---- end of log ----\n", n, path, buf);
}

void ts_print_file(const char *path)
{
    char buf[4096];
    size_t n;
    FILE *fp = fopen(path, "r");

    if (!fp)
        return;
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
        fwrite(buf, 1, n, stdout);
    fclose(fp);
    fflush(stdout);
}

bool ts_pinned_venv(const char *requirements, const char *name, char *out, size_t outlen)
{
    char line[256], marker[700];
    size_t len = strlen(name);
    bool found = false;
    FILE *fp = fopen(requirements, "r");

    if (!fp)
        return false;
    while (!found && fgets(line, sizeof(line), fp)) {
        if (strncmp(line, name, len) == 0 && strncmp(line + len, "==", 2) == 0) {
            line[strcspn(line, "\r\n")] = '\0';
            snprintf(out, outlen, ".deps/%s-%s", name, line + len + 2);
            found = true;
        }
    }
    fclose(fp);
    if (!found)
        return false;
    snprintf(marker, sizeof(marker), "%s/.complete", out);
    return access(marker, R_OK) == 0;
}

/*
 * A copy of environ with @overrides ("NAME=value"; a bare "NAME" removes it) applied, for
 * execve() in a child. Built before fork(): after fork() in a threaded process (librdkafka,
 * libcurl) only async-signal-safe calls are allowed, which setenv() and malloc() are not.
 * Caller frees the array and its strings with ts__env_free().
 */
extern char **environ;

static char **ts__env_build(const char *const *overrides)
{
    size_t nenv = 0, nover = 0, n = 0;
    while (environ[nenv] != NULL)
        nenv++;
    while (overrides != NULL && overrides[nover] != NULL)
        nover++;
    char **envp = calloc(nenv + nover + 1, sizeof(char *));
    if (envp == NULL)
        return NULL;
    for (size_t i = 0; i < nenv; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t nlen = eq != NULL ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        bool overridden = false;
        for (size_t j = 0; j < nover && !overridden; j++) {
            const char *oeq = strchr(overrides[j], '=');
            size_t olen = oeq != NULL ? (size_t)(oeq - overrides[j]) : strlen(overrides[j]);
            overridden = olen == nlen && strncmp(overrides[j], environ[i], nlen) == 0;
        }
        if (!overridden)
            envp[n++] = ts__strndup(environ[i], strlen(environ[i]));
    }
    for (size_t j = 0; j < nover; j++) {
        bool later = false; /* the last of several overrides of one name wins */
        const char *oeq = strchr(overrides[j], '=');
        size_t olen = oeq != NULL ? (size_t)(oeq - overrides[j]) : strlen(overrides[j]);
        for (size_t k = j + 1; k < nover && !later; k++)
            later = strncmp(overrides[k], overrides[j], olen) == 0 &&
                    (overrides[k][olen] == '=' || overrides[k][olen] == '\0');
        if (oeq != NULL && !later)
            envp[n++] = ts__strndup(overrides[j], strlen(overrides[j]));
    }
    envp[n] = NULL;
    return envp;
}

static void ts__env_free(char **envp)
{
    if (envp == NULL)
        return;
    for (size_t i = 0; envp[i] != NULL; i++)
        free(envp[i]);
    free(envp);
}

/* ---- environment, names, polling ---- */

const char *ts_env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0') {
        fail_msg("environment variable %s is not set (run the tests via scripts/test.sh)", name);
        return "";
    }
    return v;
}

void ts_unique(const char *prefix, char *out, size_t outlen)
{
    unsigned char rnd[6];
    size_t got = 0;
    while (got < sizeof(rnd)) {
        ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fail_msg("getrandom: %s", strerror(errno));
            return;
        }
        got += (size_t)n;
    }
    int n = snprintf(out, outlen, "%s_%02x%02x%02x%02x%02x%02x", prefix, rnd[0], rnd[1], rnd[2],
                     rnd[3], rnd[4], rnd[5]);
    if (n < 0 || (size_t)n >= outlen)
        fail_msg("ts_unique: buffer of %zu bytes too small for prefix '%s'", outlen, prefix);
}

bool ts_poll_until(bool (*cond)(void *arg), void *arg, int timeout_ms)
{
    int64_t deadline = ts__now_ms() + timeout_ms;
    for (;;) {
        if (cond(arg))
            return true;
        if (ts__now_ms() >= deadline)
            return false;
        ts__sleep_ms(50);
    }
}

/* ---- MariaDB ---- */

int ts_create_database(const char *prefix, char *out, size_t outlen)
{
    char name[128];
    char sql[256];
    int rc = -EIO;

    ts_unique(prefix, name, sizeof(name));
    MYSQL *conn = mysql_init(NULL);
    if (conn == NULL)
        return -EIO;
    unsigned int timeout = 10;
    mysql_optionsv(conn, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    if (mysql_real_connect(conn, ts_env("DB_HOST"), ts_env("DB_USER"), ts_env("DB_PASSWORD"), NULL,
                           (unsigned)atoi(ts_env("DB_PORT")), NULL, 0) == NULL) {
        fprintf(stderr, "testsup: cannot connect to MariaDB %s:%s: %s\n", getenv("DB_HOST"),
                getenv("DB_PORT"), mysql_error(conn));
        goto out;
    }
    snprintf(sql, sizeof(sql),
             "CREATE DATABASE `%s` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci", name);
    if (mysql_query(conn, sql) != 0) {
        fprintf(stderr, "testsup: %s: %s\n", sql, mysql_error(conn));
        goto out;
    }
    if (strlen(name) >= outlen) {
        fprintf(stderr, "testsup: database name '%s' does not fit %zu bytes\n", name, outlen);
        goto out;
    }
    memcpy(out, name, strlen(name) + 1);
    rc = 0;
out:
    mysql_close(conn);
    return rc;
}

/* ---- infra script ---- */

/* Runs @argv (argv[0] looked up in PATH) with the harness environment plus @env (as
 * ts__env_build()), output appended to @log_path (NULL: this process's); its exit status,
 * 128+signal, or -1. */
static int ts__run(const char *const *argv, const char *const *env, const char *log_path)
{
    int logfd = -1, status;
    pid_t pid;
    char **envp;

    if (log_path != NULL) {
        logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (logfd < 0) {
            fprintf(stderr, "testsup: %s: %s\n", log_path, strerror(errno));
            return -1;
        }
    }
    envp = ts__env_build(env);
    if (envp == NULL) {
        if (logfd >= 0)
            close(logfd);
        return -1;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "testsup: fork: %s\n", strerror(errno));
        ts__env_free(envp);
        if (logfd >= 0)
            close(logfd);
        return -1;
    }
    if (pid == 0) {
        if (logfd >= 0) {
            dup2(logfd, STDOUT_FILENO);
            dup2(logfd, STDERR_FILENO);
        }
        execvpe(argv[0], (char *const *)argv, envp);
        _exit(127);
    }
    ts__env_free(envp);
    if (logfd >= 0)
        close(logfd);
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

int ts_script(const char *script, const char *const *args, const char *const *env,
              const char *log_path)
{
    const char *root = getenv("REPO_ROOT");
    char path[1024];
    const char *argv[16];
    size_t n = 0;

    snprintf(path, sizeof(path), "%s/scripts/%s", root != NULL && root[0] != '\0' ? root : ".",
             script);
    argv[n++] = "bash";
    argv[n++] = path;
    for (size_t i = 0; args != NULL && args[i] != NULL; i++) {
        if (n + 1 >= sizeof(argv) / sizeof(argv[0]))
            return -1;
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    return ts__run(argv, env, log_path);
}

int ts_env_file_value(const char *path, const char *name, char *out, size_t outlen)
{
    char line[2048];
    size_t nlen = strlen(name);
    int rc = -ENOENT;
    FILE *fp = fopen(path, "r");

    if (fp == NULL) {
        fprintf(stderr, "testsup: %s: %s\n", path, strerror(errno));
        return -EIO;
    }
    while (rc == -ENOENT && fgets(line, sizeof(line), fp) != NULL) {
        char *save = NULL;

        if (strncmp(line, "export ", 7) != 0)
            continue;
        for (char *tok = strtok_r(line + 7, " \n", &save); tok != NULL;
             tok = strtok_r(NULL, " \n", &save)) {
            if (strncmp(tok, name, nlen) == 0 && tok[nlen] == '=') {
                snprintf(out, outlen, "%s", tok + nlen + 1);
                rc = 0;
                break;
            }
        }
    }
    fclose(fp);
    return rc;
}

int ts_infra(const char *action)
{
    char state_var[1024];
    const char *const args[] = {action, NULL};
    const char *const over[] = {state_var, NULL};

    snprintf(state_var, sizeof(state_var), "STATE_DIR=%s", ts_env("TEST_STATE_DIR"));
    return ts_script("infra.sh", args, over, NULL);
}

int ts_infra_in(const char *state_dir, const char *action)
{
    char state_var[1024];
    const char *const args[] = {action, NULL};
    const char *const over[] = {state_var, NULL};

    snprintf(state_var, sizeof(state_var), "STATE_DIR=%s", state_dir);
    return ts_script("infra.sh", args, over, NULL);
}

/* The harness's Kafka login and broker that ts_kafka_cluster_start() replaces. */
static const char *const ts__cluster_vars[] = {
    "KAFKA_BOOTSTRAP",         "KAFKA_NODES",          "KAFKA_KIND",
    "KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",     "KAFKA_SASL_USERS_DIR", NULL};

int ts_kafka_cluster_start(int nodes, char *ret_dir, size_t dirlen)
{
    char dir[768], env_path[1024], log_path[1024], nodes_var[32], state_var[1024];
    char name[64], value[1024];
    const char *kind = getenv("KAFKA_KIND");
    const char *const args[] = {"start", NULL};
    const char *const over[] = {
        state_var,         nodes_var, "INFRA_SERVICES=kafka", "INFRA_KAFKA=apache",
        "KAFKA_BOOTSTRAP", NULL};
    int rc;

    if (kind == NULL || strcmp(kind, "apache") != 0) {
        fprintf(stderr, "testsup: a Kafka cluster needs the Apache broker (KAFKA_KIND=%s)\n",
                kind != NULL ? kind : "");
        return -ENOTSUP;
    }
    snprintf(dir, sizeof(dir), "%s/clusters", ts_env("TEST_STATE_DIR"));
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "testsup: %s: %s\n", dir, strerror(errno));
        return -EIO;
    }
    ts_unique("kafka", name, sizeof(name));
    snprintf(dir, sizeof(dir), "%.600s/clusters/%s", ts_env("TEST_STATE_DIR"), name);
    snprintf(state_var, sizeof(state_var), "STATE_DIR=%s", dir);
    snprintf(nodes_var, sizeof(nodes_var), "KAFKA_NODES=%d", nodes);
    snprintf(log_path, sizeof(log_path), "%.600s/logs/kafka-cluster-%s.log",
             ts_env("TEST_STATE_DIR"), name);
    rc = ts_script("infra.sh", args, over, log_path);
    if (rc != 0) {
        fprintf(stderr, "testsup: infra.sh start of a %d-node cluster in %s failed (%d)\n", nodes,
                dir, rc);
        ts_print_log_tail(log_path);
        return -EIO;
    }
    snprintf(env_path, sizeof(env_path), "%s/env", dir);
    for (size_t i = 0; ts__cluster_vars[i] != NULL; i++) {
        if (ts_env_file_value(env_path, ts__cluster_vars[i], value, sizeof(value)) < 0) {
            fprintf(stderr, "testsup: %s has no %s\n", env_path, ts__cluster_vars[i]);
            ts_kafka_cluster_stop(dir);
            return -EIO;
        }
        setenv(ts__cluster_vars[i], value, 1);
    }
    snprintf(ret_dir, dirlen, "%s", dir);
    return 0;
}

int ts_kafka_cluster_stop(const char *dir)
{
    return ts_infra_in(dir, "stop");
}

/* ---- HTTP client ---- */

static pthread_once_t ts__curl_once = PTHREAD_ONCE_INIT;

static void ts__curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct ts__buf {
    char *data;
    size_t len;
    size_t cap;
};

static size_t ts__write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct ts__buf *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (p == NULL)
            return 0;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static size_t ts__write_discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

/* Copies the value of header line @buf (@n bytes) into @out if it is @name (with the ':'). */
static void ts__header_pick(const char *buf, size_t n, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);

    if (n <= nlen || strncasecmp(buf, name, nlen) != 0)
        return;
    const char *v = buf + nlen;
    size_t vlen = n - nlen;
    while (vlen > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vlen--;
    }
    while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
        vlen--;
    if (vlen >= outlen)
        vlen = outlen - 1;
    memcpy(out, v, vlen);
    out[vlen] = '\0';
}

/* Picks the Location, Set-Cookie and Retry-After headers (any case) of the last response into
 * @resp. */
static size_t ts__header_cb(char *buf, size_t size, size_t nitems, void *userdata)
{
    struct ts_resp *resp = userdata;
    size_t n = size * nitems;

    ts__header_pick(buf, n, "location:", resp->location, sizeof(resp->location));
    ts__header_pick(buf, n, "set-cookie:", resp->set_cookie, sizeof(resp->set_cookie));
    ts__header_pick(buf, n, "retry-after:", resp->retry_after, sizeof(resp->retry_after));
    return n;
}

int ts_http(const char *method, const char *url, const char *token, const char *body,
            const char *const *headers, struct ts_resp *ret)
{
    struct ts__buf buf = {0};
    struct curl_slist *hdrs = NULL;
    bool has_ctype = false;
    char auth[4096];
    int rc = -EIO;

    memset(ret, 0, sizeof(*ret));
    pthread_once(&ts__curl_once, ts__curl_init);
    CURL *curl = curl_easy_init();
    if (curl == NULL)
        return -EIO;

    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
        if (strncasecmp(headers[i], "content-type:", 13) == 0)
            has_ctype = true;
        hdrs = curl_slist_append(hdrs, headers[i]);
    }
    if (body != NULL && !has_ctype)
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    if (token != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    /* no "Expect: 100-continue" round trip for larger bodies */
    hdrs = curl_slist_append(hdrs, "Expect:");

    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    if (body != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, ts__write_cb);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, ts__header_cb);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, ret);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, TS_HTTP_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");

    CURLcode cc = curl_easy_perform(curl);
    if (cc != CURLE_OK) {
        fprintf(stderr, "testsup: %s %s: %s\n", method, url, curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &ret->status);
    const char *ctype = NULL;
    if (curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ctype) == CURLE_OK && ctype != NULL) {
        size_t n = strlen(ctype);
        if (n >= sizeof(ret->content_type))
            n = sizeof(ret->content_type) - 1;
        memcpy(ret->content_type, ctype, n);
        ret->content_type[n] = '\0';
    }
    ret->body = buf.data != NULL ? buf.data : ts__strndup("", 0);
    buf.data = NULL;
    ret->json = cJSON_Parse(ret->body);
    rc = 0;
out:
    free(buf.data);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(curl);
    if (rc != 0)
        memset(ret, 0, sizeof(*ret));
    return rc;
}

void ts_resp_free(struct ts_resp *resp)
{
    if (resp == NULL)
        return;
    free(resp->body);
    cJSON_Delete(resp->json);
    resp->body = NULL;
    resp->json = NULL;
}

/* ---- tokens ---- */

char *ts_token(const char *sub, const char *role)
{
    char errbuf[256] = "";
    struct jwt_principal p;
    char *token = NULL;
    const char *names[4];
    size_t nnames = 0;
    char roles[64];

    struct jwt_key *key = jwt_key_from_file(ts_env("JWT_PRIVATE_KEY_FILE"), errbuf, sizeof(errbuf));
    if (key == NULL) {
        fail_msg("cannot load JWT private key '%s': %s", getenv("JWT_PRIVATE_KEY_FILE"), errbuf);
        return NULL;
    }
    memset(&p, 0, sizeof(p));
    snprintf(p.sub, sizeof(p.sub), "%s", sub);
    snprintf(p.email, sizeof(p.email), "%s@test.invalid", sub);
    /* "USER", "ADMIN" or a comma-separated list such as "USER,ADMIN" */
    snprintf(roles, sizeof(roles), "%s", role != NULL ? role : "USER");
    char *save = NULL;
    for (char *r = strtok_r(roles, ",", &save); r != NULL && nnames < 4;
         r = strtok_r(NULL, ",", &save))
        names[nnames++] = r;
    p.roles = jwt_roles_parse(names, nnames);

    int rc = jwt_sign(key, &p, (int64_t)time(NULL), 15 * 60, &token);
    jwt_key_free(key);
    if (rc != 0) {
        fail_msg("jwt_sign failed: %s", strerror(-rc));
        return NULL;
    }
    return token;
}

/* ---- Kafka ---- */

const char *ts_record_header(const struct ts_record *rec, const char *name)
{
    for (size_t i = 0; i < rec->nheaders; i++) {
        if (strcmp(rec->header_names[i], name) == 0)
            return rec->header_values[i];
    }
    return NULL;
}

struct ts_consumer {
    rd_kafka_t *rk;
    char *topic;
};

const struct kafka_auth *ts_kafka_auth(void)
{
    static struct kafka_auth admin;
    const char *protocol = getenv("KAFKA_SECURITY_PROTOCOL");

    if (protocol == NULL || strncmp(protocol, "SASL_", 5) != 0)
        return NULL;
    admin.security_protocol = protocol;
    admin.sasl_mechanism = getenv("KAFKA_SASL_MECHANISM");
    admin.sasl_username = ts_env("KAFKA_SASL_USERNAME");
    admin.sasl_password = ts_env("KAFKA_SASL_PASSWORD");
    return &admin;
}

void ts_kafka_conf_auth(rd_kafka_conf_t *conf)
{
    char errstr[512];

    if (kafka_auth_apply(conf, ts_kafka_auth(), errstr, sizeof(errstr)) < 0)
        fail_msg("kafka login settings: %s", errstr);
}

/* A configuration with the bootstrap servers and the admin's login set; NULL (and a message)
 * on failure. */
static rd_kafka_conf_t *ts__kafka_conf(const char *const *kv)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    if (rd_kafka_conf_set(conf, "bootstrap.servers", ts_env("KAFKA_BOOTSTRAP"), errstr,
                          sizeof(errstr)) != RD_KAFKA_CONF_OK ||
        kafka_auth_apply(conf, ts_kafka_auth(), errstr, sizeof(errstr)) < 0)
        goto bad;
    for (size_t i = 0; kv != NULL && kv[i] != NULL; i += 2) {
        if (rd_kafka_conf_set(conf, kv[i], kv[i + 1], errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
            goto bad;
    }
    return conf;
bad:
    fprintf(stderr, "testsup: kafka configuration: %s\n", errstr);
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* Partition count of @topic per the broker's metadata, 0 when it does not exist (yet). */
static int ts__topic_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int n = 0;

    if (rkt == NULL)
        return 0;
    if (rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
            n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return n;
}

struct ts_consumer *ts_consumer_new(const char *topic)
{
    char group[96];
    char errstr[512];

    ts_unique("ts_group", group, sizeof(group));
    const char *kv[] = {"group.id",
                        group,
                        "auto.offset.reset",
                        "earliest",
                        "enable.auto.commit",
                        "false",
                        "enable.partition.eof",
                        "false",
                        "allow.auto.create.topics",
                        "false",
                        "topic.metadata.refresh.interval.ms",
                        "1000",
                        "session.timeout.ms",
                        "6000",
                        "heartbeat.interval.ms",
                        "500",
                        NULL};
    rd_kafka_conf_t *conf = ts__kafka_conf(kv);
    if (conf == NULL)
        return NULL;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "testsup: consumer: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    conf = NULL; /* now owned by rk */
    rd_kafka_poll_set_consumer(rk);

    struct ts_consumer *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        rd_kafka_destroy(rk);
        return NULL;
    }
    c->rk = rk;
    c->topic = ts__strndup(topic, strlen(topic));

    /*
     * When the topic exists, assign all its partitions from the beginning: no group join to
     * wait for. Otherwise subscribe, which picks the topic up once it is created.
     */
    int nparts = ts__topic_partitions(rk, topic, 5000);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(nparts ? nparts : 1);
    rd_kafka_resp_err_t err;
    if (nparts > 0) {
        for (int i = 0; i < nparts; i++)
            rd_kafka_topic_partition_list_add(parts, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
        err = rd_kafka_assign(rk, parts);
    } else {
        rd_kafka_topic_partition_list_add(parts, topic, RD_KAFKA_PARTITION_UA);
        err = rd_kafka_subscribe(rk, parts);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "testsup: consuming '%s': %s\n", topic, rd_kafka_err2str(err));
        ts_consumer_free(c);
        return NULL;
    }
    return c;
}

/* Copies @msg into @rec (every string NUL-terminated and owned). */
static void ts__record_from(struct ts_record *rec, const rd_kafka_message_t *msg)
{
    rd_kafka_headers_t *hdrs = NULL;

    memset(rec, 0, sizeof(*rec));
    const char *topic = rd_kafka_topic_name(msg->rkt);
    rec->topic = ts__strndup(topic, strlen(topic));
    rec->key = msg->key != NULL ? ts__strndup(msg->key, msg->key_len) : NULL;
    rec->value = ts__strndup(msg->payload != NULL ? msg->payload : "", msg->len);
    rec->len = msg->len;
    rec->partition = msg->partition;
    rec->offset = msg->offset;
    if (rd_kafka_message_headers(msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR || hdrs == NULL)
        return;
    size_t n = rd_kafka_header_cnt(hdrs);
    rec->header_names = calloc(n ? n : 1, sizeof(char *));
    rec->header_values = calloc(n ? n : 1, sizeof(char *));
    if (rec->header_names == NULL || rec->header_values == NULL) {
        fail_msg("out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const char *name;
        const void *val;
        size_t vlen;
        if (rd_kafka_header_get_all(hdrs, i, &name, &val, &vlen) != RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        rec->header_names[i] = ts__strndup(name, strlen(name));
        rec->header_values[i] = ts__strndup(val != NULL ? val : "", val != NULL ? vlen : 0);
        rec->nheaders = i + 1;
    }
}

size_t ts_consume(struct ts_consumer *c, size_t want, int timeout_ms, struct ts_record **ret)
{
    struct ts_record *recs = NULL;
    size_t n = 0, cap = 0;
    int64_t deadline = ts__now_ms() + timeout_ms;

    *ret = NULL;
    while (n < want) {
        int64_t left = deadline - ts__now_ms();
        if (left <= 0)
            break;
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(c->rk, left < 100 ? (int)left : 100);
        if (msg == NULL)
            continue;
        if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            /* the topic may not exist yet, the broker may be down for a while: keep going */
            rd_kafka_message_destroy(msg);
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            struct ts_record *p = realloc(recs, cap * sizeof(*recs));
            if (p == NULL) {
                rd_kafka_message_destroy(msg);
                fail_msg("out of memory");
                break;
            }
            recs = p;
        }
        ts__record_from(&recs[n++], msg);
        rd_kafka_message_destroy(msg);
    }
    *ret = recs;
    return n;
}

void ts_records_free(struct ts_record *recs, size_t n)
{
    if (recs == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(recs[i].topic);
        free(recs[i].key);
        free(recs[i].value);
        for (size_t h = 0; h < recs[i].nheaders; h++) {
            free(recs[i].header_names[h]);
            free(recs[i].header_values[h]);
        }
        free(recs[i].header_names);
        free(recs[i].header_values);
    }
    free(recs);
}

void ts_consumer_free(struct ts_consumer *c)
{
    if (c == NULL)
        return;
    if (c->rk != NULL) {
        rd_kafka_consumer_close(c->rk);
        rd_kafka_destroy(c->rk);
    }
    free(c->topic);
    free(c);
}

/*
 * librdkafka's mock cluster (KAFKA_KIND=mock) does not answer CreateTopics (no controller),
 * but auto-creates a topic that a producer's metadata request names.
 */
static int ts__create_topic_auto(const char *topic)
{
    char errstr[512];
    const char *kv[] = {"allow.auto.create.topics", "true", NULL};
    int rc = -EIO;

    rd_kafka_conf_t *conf = ts__kafka_conf(kv);
    if (conf == NULL)
        return -EIO;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "testsup: producer: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return -EIO;
    }
    conf = NULL; /* now owned by rk */
    int64_t deadline = ts__now_ms() + TS_KAFKA_TIMEOUT_MS;
    while (ts__now_ms() < deadline) {
        if (ts__topic_partitions(rk, topic, 2000) > 0) {
            rc = 0;
            break;
        }
        ts__sleep_ms(100);
    }
    if (rc != 0)
        fprintf(stderr, "testsup: topic '%s' was not auto-created\n", topic);
    rd_kafka_destroy(rk);
    return rc;
}

int ts_create_topic(const char *topic)
{
    char errstr[512];
    int rc = -EIO;
    rd_kafka_NewTopic_t *nt = NULL;
    rd_kafka_AdminOptions_t *opts = NULL;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_event_t *ev = NULL;

    const char *kind = getenv("KAFKA_KIND");
    if (kind != NULL && strcmp(kind, "mock") == 0)
        return ts__create_topic_auto(topic);

    rd_kafka_conf_t *conf = ts__kafka_conf(NULL);
    if (conf == NULL)
        return -EIO;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "testsup: admin client: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return -EIO;
    }
    conf = NULL; /* now owned by rk */

    /* replication factor -1: the broker's default.replication.factor (1 on the harness's single
     * broker, 3 on a cluster of ts_kafka_cluster_start()) */
    nt = rd_kafka_NewTopic_new(topic, TS_TOPIC_PARTITIONS, -1, errstr, sizeof(errstr));
    if (nt == NULL) {
        fprintf(stderr, "testsup: topic '%s': %s\n", topic, errstr);
        goto out;
    }
    opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opts, TS_KAFKA_TIMEOUT_MS, errstr, sizeof(errstr));
    rd_kafka_AdminOptions_set_request_timeout(opts, TS_KAFKA_TIMEOUT_MS, errstr, sizeof(errstr));
    q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
    ev = rd_kafka_queue_poll(q, TS_KAFKA_TIMEOUT_MS + 5000);
    if (ev == NULL) {
        fprintf(stderr, "testsup: creating topic '%s': no answer\n", topic);
        goto out;
    }
    if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "testsup: creating topic '%s': %s\n", topic,
                rd_kafka_event_error_string(ev));
        goto out;
    }
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    size_t cnt = 0;
    const rd_kafka_topic_result_t **tres = rd_kafka_CreateTopics_result_topics(res, &cnt);
    for (size_t i = 0; i < cnt; i++) {
        rd_kafka_resp_err_t err = rd_kafka_topic_result_error(tres[i]);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            fprintf(stderr, "testsup: creating topic '%s': %s\n", topic,
                    rd_kafka_topic_result_error_string(tres[i]));
            goto out;
        }
    }
    /* wait until the metadata shows it, so a consumer made next assigns all partitions */
    int64_t deadline = ts__now_ms() + TS_KAFKA_TIMEOUT_MS;
    while (ts__topic_partitions(rk, topic, 2000) <= 0) {
        if (ts__now_ms() >= deadline) {
            fprintf(stderr, "testsup: topic '%s' created but not in metadata\n", topic);
            goto out;
        }
        ts__sleep_ms(100);
    }
    rc = 0;
out:
    if (ev != NULL)
        rd_kafka_event_destroy(ev);
    if (q != NULL)
        rd_kafka_queue_destroy(q);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_destroy(rk);
    return rc;
}

/* Delivery report: stores the outcome where the opaque points. */
static void ts__dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    (void)opaque;
    *(rd_kafka_resp_err_t *)msg->_private = msg->err;
}

const char *ts_event_source(const char *type, char *out, size_t outlen)
{
    const char *producer = event_type_producer(event_type_parse(type));

    snprintf(out, outlen, "/%s", producer ? producer : "unknown");
    return out;
}

int ts_produce(const char *topic, const char *key, const char *value, size_t len,
               const char *const *headers)
{
    char errstr[512];
    rd_kafka_resp_err_t dr_err = RD_KAFKA_RESP_ERR__IN_PROGRESS;
    rd_kafka_headers_t *hdrs = NULL;
    int rc = -EIO;

    const char *kv[] = {"acks", "all", "message.timeout.ms", "15000", NULL};
    rd_kafka_conf_t *conf = ts__kafka_conf(kv);
    if (conf == NULL)
        return -EIO;
    rd_kafka_conf_set_dr_msg_cb(conf, ts__dr_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "testsup: producer: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return -EIO;
    }
    conf = NULL; /* now owned by rk */

    size_t nh = 0;
    while (headers != NULL && headers[nh] != NULL)
        nh++;
    hdrs = rd_kafka_headers_new(nh / 2 + 1);
    for (size_t i = 0; i + 1 < nh; i += 2)
        rd_kafka_header_add(hdrs, headers[i], -1, headers[i + 1], -1);

    size_t keylen = key != NULL ? strlen(key) : 0;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, keylen),
        RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(&dr_err), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "testsup: produce to '%s': %s\n", topic, rd_kafka_err2str(err));
        rd_kafka_headers_destroy(hdrs);
        goto out;
    }
    hdrs = NULL; /* now owned by the message */
    rd_kafka_flush(rk, 20000);
    if (dr_err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "testsup: produce to '%s': %s\n", topic, rd_kafka_err2str(dr_err));
        goto out;
    }
    rc = 0;
out:
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- service processes ---- */

/* A port that was free a moment ago on 127.0.0.1 (the kernel picks it). 0 on failure. */
static unsigned short ts__free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t salen = sizeof(sa);
    unsigned short port = 0;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &salen) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* Reaps @pid within @timeout_ms; returns the status as ts_service_stop() does, -1 if alive. */
static int ts__wait_exit(pid_t pid, int timeout_ms)
{
    int64_t deadline = ts__now_ms() + timeout_ms;
    int status;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (r < 0 && errno != EINTR)
            return -1;
        if (ts__now_ms() >= deadline)
            return -1;
        ts__sleep_ms(20);
    }
}

/* The value of NAME in the "NAME=value" list @env (the last one), or NULL. */
static const char *ts__env_find(const char *const *env, const char *name)
{
    const char *found = NULL;
    size_t len = strlen(name);

    for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
        if (strncmp(env[i], name, len) == 0 && env[i][len] == '=')
            found = env[i] + len + 1;
    }
    return found;
}

/*
 * On a broker with SASL (the harness's Apache Kafka): the admin creates the topics and the ACLs
 * @service's principal needs (`commercectl kafka acls --create-topics`, with @env's TOPIC_* and
 * KAFKA_GROUP_ID), and @ret_env gets the settings that make the service log in as itself:
 * KAFKA_SASL_USERNAME=@service and its password file from KAFKA_SASL_USERS_DIR (infra.sh).
 * A service without a principal (user, auth) gets no Kafka login. Without SASL nothing is
 * added. 0 or -EIO.
 */
static int ts__service_kafka(const char *service, const char *const *env, char (*ret_env)[640],
                             size_t *ret_n)
{
    const char *group = ts__env_find(env, "KAFKA_GROUP_ID");
    char ctl[600], log[600];
    int rc;

    *ret_n = 0;
    if (ts_kafka_auth() == NULL)
        return 0;
    if (kafka_acl_consumed(service) == NULL) {
        static const char *const drop[] = {"KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM",
                                           "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD",
                                           "KAFKA_SASL_PASSWORD_FILE"};
        for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
            snprintf(ret_env[(*ret_n)++], sizeof(ret_env[0]), "%s", drop[i]);
        return 0;
    }
    snprintf(ctl, sizeof(ctl), "%s/bin/commercectl", ts_env("BUILD_DIR"));
    snprintf(log, sizeof(log), "%s/logs/kafka-acls.log", ts_env("TEST_STATE_DIR"));
    const char *argv[] = {ctl,       "kafka", "acls", "--service", service, "--create-topics",
                          "--group", group,   NULL};
    if (group == NULL)
        argv[6] = NULL;
    rc = ts__run(argv, env, log);
    if (rc != 0) {
        fprintf(stderr, "testsup: commercectl kafka acls --service %s failed (%d)\n", service, rc);
        ts_print_log_tail(log);
        return -EIO;
    }
    snprintf(ret_env[(*ret_n)++], sizeof(ret_env[0]), "KAFKA_SASL_USERNAME=%s", service);
    snprintf(ret_env[(*ret_n)++], sizeof(ret_env[0]), "KAFKA_SASL_PASSWORD");
    snprintf(ret_env[(*ret_n)++], sizeof(ret_env[0]), "KAFKA_SASL_PASSWORD_FILE=%s/%s.password",
             ts_env("KAFKA_SASL_USERS_DIR"), service);
    /* the admin made the topics; the service may not (no CREATE) */
    snprintf(ret_env[(*ret_n)++], sizeof(ret_env[0]), "KAFKA_CREATE_TOPICS=false");
    return 0;
}

int ts_service_start(const char *binary, const char *const *env, int timeout_ms,
                     struct ts_service *ret)
{
    char kafka_env[8][640];
    size_t nkafka = 0;
    char path[1024];
    char port_s[16];
    char ready_url[128];
    const char *state = ts_env("TEST_STATE_DIR");

    memset(ret, 0, sizeof(*ret));
    if (strchr(binary, '/') != NULL)
        snprintf(path, sizeof(path), "%s", binary);
    else
        snprintf(path, sizeof(path), "%s/bin/%s", ts_env("BUILD_DIR"), binary);
    if (access(path, X_OK) != 0) {
        fprintf(stderr, "testsup: service binary '%s': %s\n", path, strerror(errno));
        return -EIO;
    }
    const char *base = strrchr(binary, '/') != NULL ? strrchr(binary, '/') + 1 : binary;
    if (ts__service_kafka(base, env, kafka_env, &nkafka) < 0)
        return -EIO;

    /* an HTTP_PORT=N in @env fixes the port (a test restarting a service on the same address);
     * otherwise a free one is picked */
    ret->port = 0;
    for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
        if (strncmp(env[i], "HTTP_PORT=", 10) == 0)
            ret->port = (unsigned short)atoi(env[i] + 10);
    }
    if (ret->port == 0)
        ret->port = ts__free_port();
    if (ret->port == 0) {
        fprintf(stderr, "testsup: no free port: %s\n", strerror(errno));
        return -EIO;
    }
    snprintf(port_s, sizeof(port_s), "%u", ret->port);
    snprintf(ret->url, sizeof(ret->url), "http://127.0.0.1:%u", ret->port);
    snprintf(ret->log_path, sizeof(ret->log_path), "%s/logs/%s-%u.log", state, base, ret->port);
    char logdir[600];
    snprintf(logdir, sizeof(logdir), "%s/logs", state);
    if (mkdir(logdir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "testsup: mkdir '%s': %s\n", logdir, strerror(errno));
        return -EIO;
    }
    int logfd = open(ret->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) {
        fprintf(stderr, "testsup: log '%s': %s\n", ret->log_path, strerror(errno));
        return -EIO;
    }

    /* the Kafka login first, so @env may override it (a test of wrong credentials); HTTP_PORT
     * last, so it wins over @env */
    size_t nover = 0;
    while (env != NULL && env[nover] != NULL)
        nover++;
    const char **over = calloc(nkafka + nover + 2, sizeof(char *));
    char port_var[32];
    snprintf(port_var, sizeof(port_var), "HTTP_PORT=%s", port_s);
    if (over == NULL) {
        close(logfd);
        return -EIO;
    }
    for (size_t i = 0; i < nkafka; i++)
        over[i] = kafka_env[i];
    for (size_t i = 0; i < nover; i++)
        over[nkafka + i] = env[i];
    over[nkafka + nover] = port_var;
    char **envp = ts__env_build(over);
    free(over);
    if (envp == NULL) {
        close(logfd);
        return -EIO;
    }
    char *const argv[] = {path, NULL};

    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "testsup: fork: %s\n", strerror(errno));
        close(logfd);
        ts__env_free(envp);
        return -EIO;
    }
    if (pid == 0) {
        /* only async-signal-safe calls from here to execve() */
        /* the service dies with the test (with the forking thread, strictly), so a crashed or
         * killed test leaves no daemon behind */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(126);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        dup2(logfd, STDOUT_FILENO);
        dup2(logfd, STDERR_FILENO);
        /* signals the test may block or ignore must not be inherited that way */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        execve(path, argv, envp);
        static const char msg[] = "testsup: execve of the service failed\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
        (void)w;
        _exit(127);
    }
    ts__env_free(envp);
    close(logfd);
    ret->pid = pid;

    snprintf(ready_url, sizeof(ready_url), "%s/health/ready", ret->url);
    int64_t deadline = ts__now_ms() + timeout_ms;
    pthread_once(&ts__curl_once, ts__curl_init);
    CURL *curl = curl_easy_init();
    for (;;) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "testsup: %s exited during start (%s %d)\n", base,
                    WIFEXITED(status) ? "status" : "signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
            break;
        }
        if (curl != NULL) {
            long code = 0;
            curl_easy_reset(curl);
            curl_easy_setopt(curl, CURLOPT_URL, ready_url);
            curl_easy_setopt(curl, CURLOPT_NOBODY, 0L);
            curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, ts__write_discard);
            curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 1000L);
            curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
            if (curl_easy_perform(curl) == CURLE_OK &&
                curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code == 200) {
                curl_easy_cleanup(curl);
                return 0;
            }
        }
        if (ts__now_ms() >= deadline) {
            fprintf(stderr, "testsup: %s not ready at %s within %d ms\n", base, ready_url,
                    timeout_ms);
            kill(pid, SIGKILL);
            ts__wait_exit(pid, 5000);
            break;
        }
        ts__sleep_ms(50);
    }
    if (curl != NULL)
        curl_easy_cleanup(curl);
    ts_print_log_tail(ret->log_path);
    ret->pid = 0;
    return -EIO;
}

int ts_service_stop(struct ts_service *svc, int sig)
{
    if (svc == NULL || svc->pid <= 0)
        return -1;
    kill(svc->pid, sig);
    int rc = ts__wait_exit(svc->pid, TS_STOP_DEADLINE_MS);
    if (rc < 0) {
        fprintf(stderr, "testsup: pid %d did not exit within %d ms of signal %d; killing\n",
                (int)svc->pid, TS_STOP_DEADLINE_MS, sig);
        kill(svc->pid, SIGKILL);
        rc = ts__wait_exit(svc->pid, 5000);
        ts_print_log_tail(svc->log_path);
    }
    svc->pid = 0;
    return rc;
}
