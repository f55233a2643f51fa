/*
 * http.c - the HTTP server behind http.h: libmicrohttpd with an internal thread pool, a small
 * router, bearer-token checks, problem+json replies, health and metrics endpoints.
 *
 * A request's life in libmicrohttpd: http_access() is called first with the headers only
 * (*con_cls == NULL): the per-request state is allocated there, the route matched and an
 * oversized declared body refused at once with 413. Then it is called once per chunk of body
 * (appended, or discarded once over the limit: libmicrohttpd cannot answer in the middle of an
 * upload), and a last time with no data, when the request is answered. http_completed() frees
 * the state whatever happened.
 *
 * A connection's life: http_notify_connection() puts each open connection (struct http_sock,
 * libmicrohttpd's socket context) on the server's list and takes it off when it closes;
 * http_accept_policy() closes a new connection at once while max_connections are open
 * (libmicrohttpd closes one over the per-IP limit itself). libmicrohttpd's own timeout is an
 * idle one, reset by every byte, so the header deadline is ours: a connection's next header
 * is due header_timeout_ms after it opened or answered its last request, and the reaper
 * (a worker, http_reap) shuts down the socket of any connection past it that is still
 * waiting for a complete header; libmicrohttpd then reads the end of the stream and closes
 * it as usual.
 *
 * A parked request (http_park()): after its handler returns, http_answer() suspends the
 * connection and puts its state on the process's parked list (under http_park_lock). Whoever
 * takes it off the list - a bell's ring, the reaper at its recheck time or deadline or when the
 * peer closed, http_server_stop() - sets why and resumes it (outside the lock); libmicrohttpd
 * then calls http_access() again on a pool thread, which runs the handler again. Only the
 * thread that took a request off the list resumes it, so it is resumed once; the server counts
 * requests parked or resumed but not yet run again, and stops libmicrohttpd only once none is
 * left (libmicrohttpd may not stop with a connection suspended).
 */
#include "common/http.h"
#include "common/jsonx.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/util.h"
#include "common/worker.h"

#define HTTP_MAX_SEGMENTS 16
#define HTTP_MAX_JSON_DEPTH 32
#define HTTP_DEFAULT_THREADS 4
#define HTTP_DEFAULT_MAX_BODY (1024 * 1024)
#define HTTP_DEFAULT_MAX_CONNECTIONS 1000
#define HTTP_DEFAULT_MAX_CONNECTIONS_PER_IP 64
#define HTTP_DEFAULT_IDLE_TIMEOUT_S 30
#define HTTP_DEFAULT_HEADER_TIMEOUT_MS 10000
#define HTTP_DEFAULT_MAX_PARKED 1024
/* how long http_server_stop() waits for its parked requests to be answered (ms) */
#define HTTP_STOP_PARKED_MS 5000
/* how often the reaper looks whether the client of a parked request went away (ms) */
#define HTTP_PARK_GONE_MS 250
/* file descriptors beyond the connections: the database and Redis pools, Kafka, logs */
#define HTTP_FD_RESERVE 256
/* the reaper looks at least this often (ms), and never more often than every 10 ms */
#define HTTP_REAP_MIN_MS 10
/* past this much of an oversized chunked upload, stop discarding and drop the connection */
#define HTTP_DISCARD_MAX ((size_t)16 * 1024 * 1024)

#define HTTP_METRIC_REQUESTS "commerce_http_requests_total"
#define HTTP_METRIC_DURATION "commerce_http_request_duration_seconds"
#define HTTP_METRIC_CLOSED "commerce_http_connections_closed_total"
#define HTTP_METRIC_OPEN "commerce_http_connections_open"
#define HTTP_METRIC_PARKED "commerce_http_requests_parked"

#define HTTP_CT_JSON "application/json"
#define HTTP_CT_PROBLEM "application/problem+json"
#define HTTP_CT_METRICS "text/plain; version=0.0.4; charset=utf-8"

/* A route's pattern split into segments once, at start. */
struct http_compiled {
    const struct http_route *route;
    size_t nsegs;
    char *segs[HTTP_MAX_SEGMENTS]; /* a literal, or the parameter's name */
    bool is_param[HTTP_MAX_SEGMENTS];
};

/* One open connection (libmicrohttpd's socket context), on its server's list while open. The
 * fields below fd are guarded by the server's socks_lock. */
struct http_sock {
    MHD_socket fd;    /* MHD_INVALID_SOCKET when unknown (never cut then) */
    int64_t deadline; /* monotonic ms by which the next request's header must be complete */
    bool in_request;  /* its header is complete: the request is being read or answered */
    bool cut;         /* shut down by the reaper */
    struct http_sock *prev, *next;
};

struct http_server {
    struct MHD_Daemon *daemon;
    struct http_opts opts;
    struct http_compiled *routes;
    size_t nroutes;
    void *app;
    unsigned short port;
    atomic_bool draining;
    atomic_uint nconns; /* open connections (notified started, not yet closed) */
    pthread_mutex_t socks_lock;
    bool socks_lock_init;
    struct http_sock *socks; /* the open connections */
    struct worker *reaper;   /* enforces the header deadline and wakes parked requests */
    /* under http_park_lock */
    unsigned nparked;        /* parked (or about to be) or resumed and not yet run again */
    bool stopping;           /* http_server_stop() began: nothing parks any more */
    pthread_cond_t unparked; /* signalled when nparked falls to 0 */
    bool unparked_init;
};

struct http_bell {
    unsigned long rung_at; /* under http_park_lock: http_rings at its last ring */
};

enum http_match {
    HTTP_MATCH_ROUTE,
    HTTP_MATCH_LIVE,
    HTTP_MATCH_READY,
    HTTP_MATCH_METRICS,
    HTTP_MATCH_NOT_FOUND,
    HTTP_MATCH_BAD_METHOD,
    HTTP_MATCH_BAD_PATH, /* a malformed percent-escape, or %00 */
};

/* Per-request state, on libmicrohttpd's *con_cls. */
struct http_conn {
    struct http_server *srv;
    struct MHD_Connection *connection;
    struct timespec start;
    bool begun;   /* http_begin() ran (the state is made earlier, by http_uri_log()) */
    char *path;   /* as sent (percent-escapes kept), without query string and trailing slash */
    char *segbuf; /* the path's segments, NUL-separated: parameter values point here */
    enum http_match match;
    const struct http_compiled *route;
    const char *route_label; /* the pattern, a built-in path, or "unmatched" */
    size_t nparams;
    const char *param_names[HTTP_MAX_PARAMS];
    const char *param_values[HTTP_MAX_PARAMS];
    char allow[96]; /* Allow header for 405 */
    char *body;
    size_t len, cap;
    size_t received;
    bool too_large;
    bool answered;
    const char *www_authenticate; /* set by a 401 */
    const char *method;           /* libmicrohttpd's, for the request's lifetime */
    /* parking: the handler's thread, or whoever holds http_park_lock while on the list */
    bool park_want;      /* the handler called http_park() */
    bool counted;        /* counted in srv->nparked */
    bool on_list;        /* on http_parked, suspended */
    enum http_wake wake; /* why the handler runs next */
    struct http_bell *bell;
    unsigned long seen; /* http_rings when the handler started */
    int64_t deadline;   /* monotonic ms: the final wake; 0 before the first park */
    int64_t recheck_at; /* monotonic ms: the next recheck */
    long recheck_ms;
    MHD_socket fd;
    struct http_conn *pprev, *pnext; /* on http_parked, or a list of requests to resume */
};

/* Every server's parked requests, and the rings of every bell. */
static pthread_mutex_t http_park_lock = PTHREAD_MUTEX_INITIALIZER;
static struct http_conn *http_parked;
static atomic_uint http_parked_total; /* on the list */
static atomic_ulong http_rings;       /* rings so far, every bell */

static void http_park_enter(struct http_conn *c);
static void http_park_uncount(struct http_conn *c);

/* ---- reply helpers (also used by handlers) ---- */

static void http_resp_set_body(struct http_resp *resp, int status, char *body, const char *ct)
{
    free(resp->body);
    resp->body = body;
    resp->status = status;
    resp->content_type = ct;
}

/* Prints @json into a malloc'd string (the server frees bodies with free()). Deletes @json. */
static char *http_print(cJSON *json)
{
    char *printed, *body;

    if (!json)
        return NULL;
    printed = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    if (!printed)
        return NULL;
    body = strdup(printed);
    cJSON_free(printed);
    return body;
}

void http_reply_json(struct http_resp *resp, int status, cJSON *json)
{
    char *body = NULL;

    if (json) {
        body = http_print(json);
        if (!body) {
            http_reply_problem(resp, 500, "COMMON-500-001", NULL, "out of memory");
            return;
        }
    }
    http_resp_set_body(resp, status, body, HTTP_CT_JSON);
}

void http_reply_problem(struct http_resp *resp, int status, const char *code, cJSON *errors,
                        const char *detail_fmt, ...)
{
    char detail[512];
    const char *title = MHD_get_reason_phrase_for((unsigned)status);
    va_list ap;
    cJSON *json;

    va_start(ap, detail_fmt);
    vsnprintf(detail, sizeof(detail), detail_fmt, ap);
    va_end(ap);

    json = cJSON_CreateObject();
    if (!json || !cJSON_AddStringToObject(json, "type", "about:blank") ||
        !cJSON_AddStringToObject(json, "title", title && *title ? title : "Unknown") ||
        !cJSON_AddNumberToObject(json, "status", status) ||
        !cJSON_AddStringToObject(json, "detail", detail) ||
        !cJSON_AddStringToObject(json, "code", code ? code : "COMMON-500-001")) {
        cJSON_Delete(json);
        cJSON_Delete(errors);
        http_resp_set_body(resp, status, NULL, HTTP_CT_PROBLEM);
        return;
    }
    if (errors)
        cJSON_AddItemToObject(json, "errors", errors); /* now owned by json */
    http_resp_set_body(resp, status, http_print(json), HTTP_CT_PROBLEM);
}

/* ---- request accessors ---- */

const char *http_param(const struct http_req *req, const char *name)
{
    for (size_t i = 0; i < req->nparams; i++)
        if (strcmp(req->param_names[i], name) == 0)
            return req->param_values[i];
    return NULL;
}

const char *http_query(const struct http_req *req, const char *name)
{
    const struct http_conn *c = req->impl;

    if (!c)
        return NULL;
    return MHD_lookup_connection_value(c->connection, MHD_GET_ARGUMENT_KIND, name);
}

struct http_query_walk {
    http_query_fn fn;
    void *arg;
    int rc;
};

static enum MHD_Result http_query_visit(void *cls, enum MHD_ValueKind kind, const char *key,
                                        size_t key_size, const char *value, size_t value_size)
{
    struct http_query_walk *w = cls;

    (void)kind;
    if (strlen(key) != key_size || (value && strlen(value) != value_size))
        w->rc = -EILSEQ;
    else
        w->rc = w->fn(w->arg, key, value);
    return w->rc ? MHD_NO : MHD_YES;
}

int http_query_each(const struct http_req *req, http_query_fn fn, void *arg)
{
    const struct http_conn *c = req->impl;
    struct http_query_walk w = {fn, arg, 0};

    if (!c)
        return 0;
    MHD_get_connection_values_n(c->connection, MHD_GET_ARGUMENT_KIND, http_query_visit, &w);
    return w.rc;
}

const char *http_header(const struct http_req *req, const char *name)
{
    const struct http_conn *c = req->impl;

    if (!c)
        return NULL;
    return MHD_lookup_connection_value(c->connection, MHD_HEADER_KIND, name);
}

/* An HTTP token character (RFC 9110 5.6.2): header and cookie names. */
static bool http_tchar(unsigned char ch)
{
    return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static size_t http_token_len(const char *s)
{
    size_t n = 0;

    while (http_tchar((unsigned char)s[n]))
        n++;
    return n;
}

int http_resp_header(struct http_resp *resp, const char *name, const char *value)
{
    static const char *const reserved[] = {"Content-Type", "Content-Length", "Transfer-Encoding",
                                           "Connection"};
    size_t nlen = strlen(name), vlen = strlen(value);

    if (nlen == 0 || http_token_len(name) != nlen)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcasecmp(name, reserved[i]) == 0)
            return -EINVAL;
    for (size_t i = 0; i < vlen; i++) {
        unsigned char ch = (unsigned char)value[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return -EINVAL;
    }
    if (nlen >= HTTP_RESP_HEADER_NAME_MAX || vlen >= HTTP_RESP_HEADER_VALUE_MAX)
        return -E2BIG;
    if (resp->nheaders == HTTP_MAX_RESP_HEADERS)
        return -ENOSPC;
    memcpy(resp->headers[resp->nheaders].name, name, nlen + 1);
    memcpy(resp->headers[resp->nheaders].value, value, vlen + 1);
    resp->nheaders++;
    return 0;
}

/* A cookie-octet (RFC 6265 4.1.1): visible ASCII but '"', ',', ';' and '\\'. */
static bool http_cookie_octet(unsigned char ch)
{
    return ch >= 0x21 && ch <= 0x7e && ch != '"' && ch != ',' && ch != ';' && ch != '\\';
}

int http_cookie_parse(const char *header, const char *name, char *out, size_t outlen)
{
    const char *p = header, *found = NULL;
    size_t found_len = 0, count = 0;

    if (strnlen(header, HTTP_COOKIE_MAX_LEN + 1) > HTTP_COOKIE_MAX_LEN)
        return -E2BIG;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0')
        return -EINVAL;
    while (*p) {
        size_t nlen = http_token_len(p), vlen = 0;
        const char *value;
        bool quoted;

        if (++count > HTTP_COOKIE_MAX_COUNT)
            return -E2BIG;
        if (nlen == 0 || p[nlen] != '=')
            return -EINVAL;
        value = p + nlen + 1;
        quoted = *value == '"';
        value += quoted;
        while (http_cookie_octet((unsigned char)value[vlen]))
            vlen++;
        if (quoted && value[vlen] != '"')
            return -EINVAL;
        if (strlen(name) == nlen && strncmp(p, name, nlen) == 0) {
            if (found)
                return -EINVAL;
            found = value;
            found_len = vlen;
        }
        p = value + vlen + quoted;
        if (*p == '\0')
            break;
        if (*p != ';')
            return -EINVAL;
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
    }
    if (!found)
        return -ENOENT;
    if (found_len >= outlen)
        return -E2BIG;
    memcpy(out, found, found_len);
    out[found_len] = '\0';
    return 0;
}

static enum MHD_Result http_count_cookie_headers(void *cls, enum MHD_ValueKind kind,
                                                 const char *key, const char *value)
{
    (void)kind;
    (void)value;
    if (key && strcasecmp(key, MHD_HTTP_HEADER_COOKIE) == 0)
        (*(unsigned *)cls)++;
    return MHD_YES;
}

int http_cookie(const struct http_req *req, const char *name, char *out, size_t outlen)
{
    const struct http_conn *c = req->impl;
    const char *header = http_header(req, MHD_HTTP_HEADER_COOKIE);
    unsigned n = 0;

    if (!header)
        return -ENOENT;
    MHD_get_connection_values(c->connection, MHD_HEADER_KIND, http_count_cookie_headers, &n);
    if (n > 1)
        return -EINVAL;
    return http_cookie_parse(header, name, out, outlen);
}

long http_query_long(const struct http_req *req, struct http_resp *resp, const char *name, long def,
                     long lo, long hi)
{
    const char *s = http_query(req, name);
    char *end;
    long v;

    if (!s)
        return def;
    errno = 0;
    v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno == ERANGE || v < lo || v > hi) {
        cJSON *errors = NULL;
        char msg[128];
        snprintf(msg, sizeof(msg), "must be an integer between %ld and %ld", lo, hi);
        jsonx_field_error(&errors, name, msg);
        http_reply_problem(resp, 400, "COMMON-400-003", errors, "invalid query parameter '%s'",
                           name);
        return -1;
    }
    return v;
}

/* True if @s (@len bytes of JSON) nests arrays/objects deeper than HTTP_MAX_JSON_DEPTH. */
static bool http_json_too_deep(const char *s, size_t len)
{
    bool in_string = false, escaped = false;
    int depth = 0;

    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (ch == '\\')
                escaped = true;
            else if (ch == '"')
                in_string = false;
        } else if (ch == '"') {
            in_string = true;
        } else if (ch == '{' || ch == '[') {
            if (++depth > HTTP_MAX_JSON_DEPTH)
                return true;
        } else if (ch == '}' || ch == ']') {
            depth--;
        }
    }
    return false;
}

cJSON *http_json_body(const struct http_req *req, struct http_resp *resp)
{
    cJSON *json;

    if (!req->body || req->body_len == 0) {
        http_reply_problem(resp, 400, "COMMON-400-001", NULL, "request body is empty");
        return NULL;
    }
    if (http_json_too_deep(req->body, req->body_len)) {
        http_reply_problem(resp, 400, "COMMON-400-001", NULL,
                           "request body nests deeper than %d levels", HTTP_MAX_JSON_DEPTH);
        return NULL;
    }
    /* cJSON wants the terminating NUL inside the length to reject trailing garbage; an
     * embedded NUL would hide whatever follows it */
    json = memchr(req->body, '\0', req->body_len)
               ? NULL
               : cJSON_ParseWithLengthOpts(req->body, req->body_len + 1, NULL, 1);
    if (!json) {
        http_reply_problem(resp, 400, "COMMON-400-001", NULL, "request body is not valid JSON");
        return NULL;
    }
    /* JSON text is UTF-8 (RFC 8259), and a \u0000 would silently cut a string short */
    if (!jsonx_utf8_valid(req->body, req->body_len) ||
        jsonx_has_nul_escape(req->body, req->body_len)) {
        cJSON_Delete(json);
        http_reply_problem(resp, 400, "COMMON-400-001", NULL,
                           "request body is not valid UTF-8 or has a NUL character (\\u0000)");
        return NULL;
    }
    if (!cJSON_IsObject(json)) {
        cJSON_Delete(json);
        http_reply_problem(resp, 400, "COMMON-400-002", NULL, "request body must be a JSON object");
        return NULL;
    }
    return json;
}

/* ---- routing ---- */

/* Decodes the percent-escapes of one segment in place. -1 for a malformed escape or %00. */
static int http_unescape(char *seg)
{
    char *out = seg;

    for (const char *in = seg; *in; in++) {
        if (*in != '%') {
            *out++ = *in;
            continue;
        }
        char hex[3] = {in[1], in[1] ? in[2] : '\0', '\0'};
        char *end;
        long v;
        if (!isxdigit((unsigned char)hex[0]) || !isxdigit((unsigned char)hex[1]))
            return -1;
        v = strtol(hex, &end, 16);
        if (v == 0)
            return -1;
        *out++ = (char)v;
        in += 2;
    }
    *out = '\0';
    return 0;
}

/* Splits @path (a writable copy) in place into segments; returns the count, or -1 if too many.
 * "/" has none; a trailing slash is ignored. */
static int http_split(char *path, char **segs)
{
    int n = 0;
    char *p = path;

    if (*p == '/')
        p++;
    if (*p == '\0')
        return 0;
    for (;;) {
        char *slash = strchr(p, '/');
        if (slash && slash[1] == '\0') { /* trailing slash */
            *slash = '\0';
            slash = NULL;
        }
        if (n == HTTP_MAX_SEGMENTS)
            return -1;
        segs[n++] = p;
        if (!slash)
            return n;
        *slash = '\0';
        p = slash + 1;
    }
}

static bool http_route_matches(const struct http_compiled *rt, char *const *segs, size_t nsegs)
{
    if (rt->nsegs != nsegs)
        return false;
    for (size_t i = 0; i < nsegs; i++) {
        if (rt->is_param[i] ? segs[i][0] == '\0' : strcmp(rt->segs[i], segs[i]) != 0)
            return false;
    }
    return true;
}

/* True if @a is more specific than @b: at the first position where one has a literal and
 * the other a parameter, the literal wins. */
static bool http_route_better(const struct http_compiled *a, const struct http_compiled *b)
{
    for (size_t i = 0; i < a->nsegs && i < b->nsegs; i++)
        if (a->is_param[i] != b->is_param[i])
            return !a->is_param[i];
    return false;
}

static void http_allow_add(char *allow, size_t len, const char *method)
{
    const char *p = allow;
    size_t mlen = strlen(method);

    while ((p = strstr(p, method))) {
        if ((p == allow || p[-1] == ' ') && (p[mlen] == ',' || p[mlen] == '\0'))
            return; /* already listed */
        p += mlen;
    }
    size_t used = strlen(allow);
    snprintf(allow + used, len - used, "%s%s", used ? ", " : "", method);
}

/* Matches c->path for @method: built-ins first, then the most specific route. */
static int http_route(struct http_conn *c, const char *method)
{
    struct http_server *srv = c->srv;
    char *segs[HTTP_MAX_SEGMENTS];
    const struct http_compiled *best = NULL;
    bool head = strcmp(method, "HEAD") == 0; /* served by GET routes, body dropped by MHD */
    int n;

    static const struct {
        const char *path;
        enum http_match match;
    } builtins[] = {
        {"/health/live", HTTP_MATCH_LIVE},
        {"/health/ready", HTTP_MATCH_READY},
        {"/metrics", HTTP_MATCH_METRICS},
    };

    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
        if (strcmp(c->path, builtins[i].path) != 0)
            continue;
        c->route_label = builtins[i].path;
        if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) {
            c->match = builtins[i].match;
        } else {
            c->match = HTTP_MATCH_BAD_METHOD;
            snprintf(c->allow, sizeof(c->allow), "GET, HEAD");
        }
        return 0;
    }

    c->match = HTTP_MATCH_NOT_FOUND;
    c->route_label = "unmatched";
    c->segbuf = strdup(c->path);
    if (!c->segbuf)
        return -ENOMEM;
    n = http_split(c->segbuf, segs);
    if (n < 0)
        return 0;
    /* decoded only now, one segment at a time: an escaped '/' or '?' is part of its segment
     * ("/products/1%3F" is product "1?", never product 1) */
    for (int i = 0; i < n; i++) {
        if (http_unescape(segs[i]) < 0) {
            c->match = HTTP_MATCH_BAD_PATH;
            return 0;
        }
    }
    for (size_t i = 0; i < srv->nroutes; i++) {
        const struct http_compiled *rt = &srv->routes[i];
        if (!http_route_matches(rt, segs, (size_t)n))
            continue;
        if (strcmp(rt->route->method, method) != 0 &&
            !(head && strcmp(rt->route->method, "GET") == 0)) {
            http_allow_add(c->allow, sizeof(c->allow), rt->route->method);
            continue;
        }
        if (!best || http_route_better(rt, best))
            best = rt;
    }
    if (!best) {
        if (c->allow[0])
            c->match = HTTP_MATCH_BAD_METHOD;
        return 0;
    }
    c->match = HTTP_MATCH_ROUTE;
    c->route = best;
    c->route_label = best->route->pattern;
    for (size_t i = 0; i < best->nsegs; i++) {
        if (!best->is_param[i])
            continue;
        c->param_names[c->nparams] = best->segs[i];
        c->param_values[c->nparams] = segs[i];
        c->nparams++;
    }
    return 0;
}

static void http_compiled_release(struct http_compiled *rt)
{
    for (size_t i = 0; i < rt->nsegs; i++)
        free(rt->segs[i]);
    rt->nsegs = 0;
}

/* Splits @route's pattern into @rt. -EINVAL with a reason in @errbuf. */
static int http_compile(const struct http_route *route, struct http_compiled *rt, char *errbuf,
                        size_t errlen)
{
    char *copy = NULL, *segs[HTTP_MAX_SEGMENTS];
    size_t nparams = 0;
    int n, rc = 0;

    rt->route = route;
    if (!route->method || !route->pattern || route->pattern[0] != '/' || !route->fn) {
        snprintf(errbuf, errlen, "route '%s' needs a method, a '/' pattern and a handler",
                 route->pattern ? route->pattern : "");
        return -EINVAL;
    }
    copy = strdup(route->pattern);
    if (!copy) {
        rc = -ENOMEM;
        snprintf(errbuf, errlen, "out of memory");
        goto out;
    }
    n = http_split(copy, segs);
    if (n < 0) {
        rc = -EINVAL;
        snprintf(errbuf, errlen, "route '%s' has too many segments", route->pattern);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        size_t len = strlen(segs[i]);
        bool param = len >= 2 && segs[i][0] == '{' && segs[i][len - 1] == '}';
        if ((param && len == 2) || (!param && (strchr(segs[i], '{') || strchr(segs[i], '}')))) {
            rc = -EINVAL;
            snprintf(errbuf, errlen, "route '%s' has a bad parameter", route->pattern);
            goto out;
        }
        if (param && ++nparams > HTTP_MAX_PARAMS) {
            rc = -EINVAL;
            snprintf(errbuf, errlen, "route '%s' has more than %d parameters", route->pattern,
                     HTTP_MAX_PARAMS);
            goto out;
        }
        rt->segs[i] = param ? strndup(segs[i] + 1, len - 2) : strdup(segs[i]);
        if (!rt->segs[i]) {
            rc = -ENOMEM;
            snprintf(errbuf, errlen, "out of memory");
            goto out;
        }
        rt->is_param[i] = param;
        rt->nsegs = (size_t)i + 1;
    }
out:
    free(copy);
    if (rc < 0)
        http_compiled_release(rt);
    return rc;
}

/* ---- answering ---- */

/* A bounded label value for the method: clients may send anything. */
static const char *http_method_label(const char *method)
{
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};

    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(method, known[i]) == 0)
            return known[i];
    return "OTHER";
}

static double http_elapsed_s(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* 401 or 403 into @resp when the request may not use c->route; fills @principal when a valid
 * token came with it. Returns true when the handler may run. */
static bool http_authorize(struct http_conn *c, struct http_req *req, struct http_resp *resp,
                           struct jwt_principal *principal)
{
    enum http_auth need = c->route->route->auth;
    const struct jwt_key *key = c->srv->opts.jwt_key;
    const char *auth = http_header(req, "Authorization");
    const char *token = NULL;
    char why[128] = "";
    int rc = -ENOENT;

    if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
        token = auth + 7;
        while (*token == ' ')
            token++;
        if (*token == '\0')
            token = NULL;
    }
    if (token && key)
        rc = jwt_verify(key, token, (int64_t)time(NULL), principal, why, sizeof(why));
    if (rc == 0)
        req->principal = principal;
    if (need == HTTP_AUTH_NONE)
        return true;

    if (rc < 0) {
        if (!token) {
            c->www_authenticate = "Bearer";
            http_reply_problem(resp, 401, "COMMON-401-001", NULL, "a bearer token is required");
        } else {
            c->www_authenticate = "Bearer error=\"invalid_token\"";
            http_reply_problem(resp, 401, "COMMON-401-001", NULL, "invalid bearer token: %s",
                               key ? why : "no verification key");
        }
        return false;
    }
    unsigned want = need == HTTP_AUTH_ADMIN ? JWT_ROLE_ADMIN : JWT_ROLE_USER | JWT_ROLE_ADMIN;
    if (!(principal->roles & want)) {
        http_reply_problem(resp, 403, "COMMON-403-001", NULL, "role %s required",
                           need == HTTP_AUTH_ADMIN ? "ADMIN" : "USER");
        return false;
    }
    return true;
}

static void http_ready(struct http_server *srv, struct http_resp *resp)
{
    char why[256] = "";
    cJSON *json = cJSON_CreateObject();
    int status = 200;

    if (atomic_load(&srv->draining)) {
        snprintf(why, sizeof(why), "shutting down");
        status = 503;
    } else if (srv->opts.ready && srv->opts.ready(srv->app, why, sizeof(why)) < 0) {
        if (!why[0])
            snprintf(why, sizeof(why), "not ready");
        status = 503;
    }
    cJSON_AddStringToObject(json, "status", status == 200 ? "UP" : "DOWN");
    if (status != 200)
        cJSON_AddStringToObject(json, "reason", why);
    http_reply_json(resp, status, json);
}

/* Fills @resp for the request in @c (everything but queueing it). */
static void http_dispatch(struct http_conn *c, struct http_req *req, struct http_resp *resp)
{
    struct jwt_principal principal;

    if (c->too_large) {
        http_reply_problem(resp, 413, "COMMON-413-001", NULL, "request body larger than %zu bytes",
                           c->srv->opts.max_body);
        return;
    }
    switch (c->match) {
    case HTTP_MATCH_LIVE: {
        cJSON *json = cJSON_CreateObject();
        cJSON_AddStringToObject(json, "status", "UP");
        http_reply_json(resp, 200, json);
        return;
    }
    case HTTP_MATCH_READY:
        http_ready(c->srv, resp);
        return;
    case HTTP_MATCH_METRICS: {
        char *text = metrics_render();
        if (!text) {
            http_reply_problem(resp, 500, "COMMON-500-001", NULL, "cannot render metrics");
            return;
        }
        http_resp_set_body(resp, 200, text, HTTP_CT_METRICS);
        return;
    }
    case HTTP_MATCH_NOT_FOUND:
        http_reply_problem(resp, 404, "COMMON-404-001", NULL, "no resource at '%s'", c->path);
        return;
    case HTTP_MATCH_BAD_PATH:
        http_reply_problem(resp, 400, "COMMON-400-004", NULL,
                           "malformed percent-escape in the path '%s'", c->path);
        return;
    case HTTP_MATCH_BAD_METHOD:
        http_reply_problem(resp, 405, "COMMON-405-001", NULL, "method %s not allowed on '%s'",
                           req->method, c->path);
        return;
    case HTTP_MATCH_ROUTE:
        break;
    }

    if (!http_authorize(c, req, resp, &principal))
        return;
    req->route = c->route->route->pattern;
    req->nparams = c->nparams;
    memcpy(req->param_names, c->param_names, sizeof(req->param_names));
    memcpy(req->param_values, c->param_values, sizeof(req->param_values));
    req->body = c->body ? c->body : "";
    req->body_len = c->len;
    c->route->route->fn(req, resp, c->srv->app);
    if (c->park_want)
        return; /* parked: answered by a later run */
    if (resp->status < 100 || resp->status > 599) {
        log_msg(LOG_ERROR, "handler for '%s %s' set no valid status (%d)", req->method, req->route,
                resp->status);
        http_reply_problem(resp, 500, "COMMON-500-001", NULL, "internal error");
    }
}

/* The peer's numeric address into @out ("" when unknown). */
static void http_peer_address(struct MHD_Connection *connection, char *out, size_t outlen)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = info ? info->client_addr : NULL;

    out[0] = '\0';
    if (!sa)
        return;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)outlen);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)outlen);
}

/* Answers the request in @c: dispatch, queue, metrics, access log. */
static enum MHD_Result http_answer(struct http_conn *c, const char *method)
{
    struct http_req req = {
        .method = method, .path = c->path, .body = "", .wake = c->wake, .impl = c};
    struct http_resp resp = {0};
    struct MHD_Response *response = NULL;
    enum MHD_Result ret = MHD_NO;
    size_t len;

    c->park_want = false;
    c->seen = atomic_load(&http_rings); /* before the handler looks: a ring since is not lost */
    http_peer_address(c->connection, req.remote_addr, sizeof(req.remote_addr));
    msgctx_init_request(&req.ctx, http_header(&req, "X-Correlation-Id"),
                        http_header(&req, "traceparent"));
    msgctx_set_current(&req.ctx);

    http_dispatch(c, &req, &resp);
    if (c->park_want) {
        free(resp.body); /* a handler that parks answers nothing */
        msgctx_set_current(NULL);
        http_park_enter(c);
        return MHD_YES;
    }
    c->answered = true; /* a parked one stays counted until sent (http_completed()) */
    if (c->wake == HTTP_WAKE_GONE) {
        log_access(method, c->path, 499, http_elapsed_s(&c->start) * 1000);
        goto out; /* MHD_NO: the client went away, libmicrohttpd closes the connection */
    }

    len = resp.body ? strlen(resp.body) : 0;
    if (len) {
        response = MHD_create_response_from_buffer_with_free_callback(len, resp.body, &free);
        if (response)
            resp.body = NULL; /* now owned by response */
    } else {
        response = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    }
    if (!response) {
        log_msg(LOG_ERROR, "cannot create response for '%s %s'", method, c->path);
        goto out;
    }
    if (len)
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                resp.content_type ? resp.content_type : HTTP_CT_JSON);
    MHD_add_response_header(response, "X-Correlation-Id", req.ctx.correlation_id);
    if (resp.location[0])
        MHD_add_response_header(response, MHD_HTTP_HEADER_LOCATION, resp.location);
    if (resp.retry_after_s > 0) {
        char secs[24];
        snprintf(secs, sizeof(secs), "%ld", resp.retry_after_s);
        MHD_add_response_header(response, MHD_HTTP_HEADER_RETRY_AFTER, secs);
    }
    for (size_t i = 0; i < resp.nheaders; i++)
        MHD_add_response_header(response, resp.headers[i].name, resp.headers[i].value);
    if (resp.status == 405 && c->allow[0])
        MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, c->allow);
    if (resp.status == 401 && c->www_authenticate)
        MHD_add_response_header(response, MHD_HTTP_HEADER_WWW_AUTHENTICATE, c->www_authenticate);
    ret = MHD_queue_response(c->connection, (unsigned)resp.status, response);
    MHD_destroy_response(response);

    char status[8];
    const char *method_label = http_method_label(method);
    double elapsed = http_elapsed_s(&c->start);
    snprintf(status, sizeof(status), "%d", resp.status);
    metrics_inc(HTTP_METRIC_REQUESTS, (const char *const[]){c->route_label, method_label, status},
                1);
    metrics_observe(HTTP_METRIC_DURATION, (const char *const[]){c->route_label, method_label},
                    elapsed);
    log_access(method, c->path, resp.status, elapsed * 1000);
out:
    free(resp.body);
    msgctx_set_current(NULL);
    return ret;
}

static void http_conn_free(struct http_conn *c)
{
    if (!c)
        return;
    free(c->path);
    free(c->segbuf);
    free(c->body);
    free(c);
}

/* ---- parking ---- */

struct http_bell *http_bell_new(void)
{
    return calloc(1, sizeof(struct http_bell));
}

void http_bell_free(struct http_bell *bell)
{
    free(bell);
}

unsigned http_parked_count(void)
{
    return atomic_load(&http_parked_total);
}

static double http_parked_gauge(void *arg)
{
    (void)arg;
    return (double)http_parked_count();
}

/* Takes @c off the parked list (http_park_lock held) onto @todo, to run again for @why. */
static void http_unpark_locked(struct http_conn *c, enum http_wake why, struct http_conn **todo)
{
    if (c->pprev)
        c->pprev->pnext = c->pnext;
    else
        http_parked = c->pnext;
    if (c->pnext)
        c->pnext->pprev = c->pprev;
    c->on_list = false;
    c->wake = why;
    c->pprev = NULL;
    c->pnext = *todo;
    *todo = c;
    atomic_fetch_sub(&http_parked_total, 1);
}

/* Resumes the requests on @todo (taken off the list: nobody else resumes them). */
static void http_resume_all(struct http_conn *todo)
{
    while (todo) {
        struct http_conn *next = todo->pnext; /* read first: once resumed it may park again */
        todo->pnext = NULL;
        MHD_resume_connection(todo->connection);
        todo = next;
    }
}

void http_bell_ring(struct http_bell *bell)
{
    struct http_conn *todo = NULL, *c, *next;

    pthread_mutex_lock(&http_park_lock);
    bell->rung_at = atomic_fetch_add(&http_rings, 1) + 1;
    for (c = http_parked; c; c = next) {
        next = c->pnext;
        if (c->bell == bell)
            http_unpark_locked(c, HTTP_WAKE_BELL, &todo);
    }
    pthread_mutex_unlock(&http_park_lock);
    http_resume_all(todo);
}

int http_park(struct http_req *req, struct http_bell *bell, long wait_ms, long recheck_ms)
{
    struct http_conn *c = req->impl;
    int rc = 0;

    if (!c)
        return -EINVAL;
    if (req->wake >= HTTP_WAKE_DEADLINE)
        return -ETIMEDOUT;
    pthread_mutex_lock(&http_park_lock);
    if (c->srv->stopping)
        rc = -ESHUTDOWN;
    else if (!c->counted && c->srv->nparked >= c->srv->opts.max_parked)
        rc = -EBUSY;
    if (rc == 0 && !c->counted) {
        c->srv->nparked++; /* reserved now: the cap holds for handlers parking at once */
        c->counted = true;
    }
    pthread_mutex_unlock(&http_park_lock);
    if (rc < 0)
        return rc;
    c->park_want = true;
    c->bell = bell;
    if (!c->deadline)
        c->deadline = util_now_mono_ms() + (wait_ms > 0 ? wait_ms : 0);
    c->recheck_ms = recheck_ms > 0 ? recheck_ms : 0;
    return 0;
}

/* Gives back @c's place in srv->nparked (its answer went out, or the connection closed). */
static void http_park_uncount(struct http_conn *c)
{
    if (!c->counted)
        return;
    pthread_mutex_lock(&http_park_lock);
    c->counted = false;
    if (--c->srv->nparked == 0)
        pthread_cond_broadcast(&c->srv->unparked);
    pthread_mutex_unlock(&http_park_lock);
}

/* After a handler parked @c: suspends it and puts it on the list - or resumes it at once when
 * its bell rang since the handler started or the server stops. */
static void http_park_enter(struct http_conn *c)
{
    struct http_conn *todo = NULL;
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c->connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    int64_t now = util_now_mono_ms();

    c->park_want = false;
    c->fd = info ? info->connect_fd : MHD_INVALID_SOCKET;
    c->recheck_at = c->recheck_ms ? now + c->recheck_ms : c->deadline;
    MHD_suspend_connection(c->connection);
    pthread_mutex_lock(&http_park_lock);
    c->pprev = NULL;
    c->pnext = http_parked;
    if (http_parked)
        http_parked->pprev = c;
    http_parked = c;
    c->on_list = true;
    atomic_fetch_add(&http_parked_total, 1);
    if (c->srv->stopping)
        http_unpark_locked(c, HTTP_WAKE_STOP, &todo);
    else if (c->bell && c->bell->rung_at > c->seen)
        http_unpark_locked(c, HTTP_WAKE_BELL, &todo);
    pthread_mutex_unlock(&http_park_lock);
    if (todo)
        http_resume_all(todo);
    else
        worker_kick(c->srv->reaper); /* its next round may be due earlier now */
}

/* True when the peer of the parked @c closed (or reset) its connection. */
static bool http_peer_gone(const struct http_conn *c)
{
    char ch;
    ssize_t n;

    if (c->fd == MHD_INVALID_SOCKET)
        return false;
    n = recv(c->fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* The reaper's round over @srv's parked requests: wakes those due (or whose peer left);
 * returns the ms until the next is due (or the next look for a peer gone), at most @next. */
static long http_park_round(struct http_server *srv, int64_t now, long next)
{
    struct http_conn *todo = NULL, *c, *cnext;

    pthread_mutex_lock(&http_park_lock);
    for (c = http_parked; c; c = cnext) {
        cnext = c->pnext;
        if (c->srv != srv)
            continue;
        if (c->deadline <= now)
            http_unpark_locked(c, HTTP_WAKE_DEADLINE, &todo);
        else if (http_peer_gone(c))
            http_unpark_locked(c, HTTP_WAKE_GONE, &todo);
        else if (c->recheck_at <= now)
            http_unpark_locked(c, HTTP_WAKE_RECHECK, &todo);
        else {
            int64_t due = c->recheck_at < c->deadline ? c->recheck_at : c->deadline;
            if (due > now + HTTP_PARK_GONE_MS)
                due = now + HTTP_PARK_GONE_MS;
            if (due - now < next)
                next = (long)(due - now);
        }
    }
    pthread_mutex_unlock(&http_park_lock);
    http_resume_all(todo);
    return next;
}

/* http_server_stop(): wakes every parked request of @srv for a last answer, and waits until
 * none is parked or resumed but not yet answered (at most HTTP_STOP_PARKED_MS). */
static void http_park_stop(struct http_server *srv)
{
    struct http_conn *todo = NULL, *c, *next;
    struct timespec until = worker_deadline_ms(HTTP_STOP_PARKED_MS);

    if (!srv->unparked_init)
        return;
    pthread_mutex_lock(&http_park_lock);
    srv->stopping = true;
    for (c = http_parked; c; c = next) {
        next = c->pnext;
        if (c->srv == srv)
            http_unpark_locked(c, HTTP_WAKE_STOP, &todo);
    }
    pthread_mutex_unlock(&http_park_lock);
    http_resume_all(todo);
    pthread_mutex_lock(&http_park_lock);
    while (srv->nparked > 0 &&
           pthread_cond_timedwait(&srv->unparked, &http_park_lock, &until) != ETIMEDOUT)
        ;
    if (srv->nparked > 0)
        log_warnx("%u parked http request(s) not answered at stop", srv->nparked);
    pthread_mutex_unlock(&http_park_lock);
}

/* ---- connections: limits and the header deadline ---- */

/* Every server's open connections, for the gauge (which outlives any one server). */
static atomic_uint http_open_total;

static struct http_sock *http_sock_of(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return info ? info->socket_context : NULL;
}

/* The request on @connection has its header (@in_request) or was answered (the next header is
 * due header_timeout_ms from now). Returns false when the reaper already cut the connection. */
static bool http_sock_mark(struct http_server *srv, struct MHD_Connection *connection,
                           bool in_request)
{
    struct http_sock *hs = http_sock_of(connection);
    bool cut = false;

    if (!hs)
        return true;
    pthread_mutex_lock(&srv->socks_lock);
    hs->in_request = in_request;
    if (!in_request)
        hs->deadline = util_now_mono_ms() + srv->opts.header_timeout_ms;
    cut = hs->cut;
    pthread_mutex_unlock(&srv->socks_lock);
    return !cut;
}

static void http_notify_connection(void *cls, struct MHD_Connection *connection,
                                   void **socket_context, enum MHD_ConnectionNotificationCode toe)
{
    struct http_server *srv = cls;
    struct http_sock *hs;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);

        atomic_fetch_add(&srv->nconns, 1);
        atomic_fetch_add(&http_open_total, 1);
        hs = calloc(1, sizeof(*hs));
        *socket_context = hs;
        if (!hs)
            return; /* not tracked: only the idle timeout applies to it */
        hs->fd = info ? info->connect_fd : MHD_INVALID_SOCKET;
        pthread_mutex_lock(&srv->socks_lock);
        hs->deadline = util_now_mono_ms() + srv->opts.header_timeout_ms;
        hs->next = srv->socks;
        if (srv->socks)
            srv->socks->prev = hs;
        srv->socks = hs;
        pthread_mutex_unlock(&srv->socks_lock);
        return;
    }
    /* MHD_CONNECTION_NOTIFY_CLOSED, before libmicrohttpd closes the socket: once off the list
     * the reaper can no longer touch a descriptor that may be reused */
    hs = *socket_context;
    if (hs) {
        pthread_mutex_lock(&srv->socks_lock);
        if (hs->prev)
            hs->prev->next = hs->next;
        else
            srv->socks = hs->next;
        if (hs->next)
            hs->next->prev = hs->prev;
        pthread_mutex_unlock(&srv->socks_lock);
        free(hs);
        *socket_context = NULL;
    }
    atomic_fetch_sub(&srv->nconns, 1);
    atomic_fetch_sub(&http_open_total, 1);
}

/* True at most once a second per @last: for logging a flood once rather than per event. */
static bool http_log_due(_Atomic int64_t *last)
{
    int64_t now = util_now_mono_ms(), prev = atomic_load(last);

    return now - prev >= 1000 && atomic_compare_exchange_strong(last, &prev, now);
}

/* Called by libmicrohttpd for each accepted connection before it is served: refuses (closes at
 * once) while max_connections are open, so the listen queue never fills with waiting clients. */
static enum MHD_Result http_accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    static _Atomic int64_t last_log;
    struct http_server *srv = cls;

    (void)addr;
    (void)addrlen;
    if (atomic_load(&srv->nconns) < srv->opts.max_connections)
        return MHD_YES;
    metrics_inc(HTTP_METRIC_CLOSED, (const char *const[]){"limit"}, 1);
    if (http_log_due(&last_log))
        log_warnx("%u http connections open (HTTP_MAX_CONNECTIONS): refusing new ones",
                  srv->opts.max_connections);
    return MHD_NO;
}

/* The reaper's round: shuts down each connection whose header is overdue; returns the wait
 * until the next deadline. */
static long http_reap(struct worker *w, void *arg)
{
    struct http_server *srv = arg;
    int64_t now = util_now_mono_ms();
    long next = (long)srv->opts.header_timeout_ms;
    struct http_sock *hs;
    unsigned ncut = 0;

    (void)w;
    pthread_mutex_lock(&srv->socks_lock);
    for (hs = srv->socks; hs; hs = hs->next) {
        if (hs->in_request || hs->cut || hs->fd == MHD_INVALID_SOCKET)
            continue;
        if (hs->deadline <= now) {
            /* not close(): the descriptor stays libmicrohttpd's, which now reads its end */
            shutdown(hs->fd, SHUT_RDWR);
            hs->cut = true;
            ncut++;
        } else if (hs->deadline - now < next) {
            next = (long)(hs->deadline - now);
        }
    }
    pthread_mutex_unlock(&srv->socks_lock);
    next = http_park_round(srv, now, next);
    if (ncut) {
        metrics_inc(HTTP_METRIC_CLOSED, (const char *const[]){"header_timeout"}, ncut);
        log_info("closed %u http connection(s) whose request header was not complete within "
                 "%u ms",
                 ncut, srv->opts.header_timeout_ms);
    }
    return next < HTTP_REAP_MIN_MS ? HTTP_REAP_MIN_MS : next;
}

static double http_open_connections(void *arg)
{
    (void)arg;
    return (double)atomic_load(&http_open_total);
}

/* Makes room for @conns connections: the soft RLIMIT_NOFILE raised towards the hard one. */
static void http_raise_nofile(unsigned conns)
{
    rlim_t need = (rlim_t)conns + HTTP_FD_RESERVE;
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        log_warn("cannot raise the open file limit to %llu", (unsigned long long)rl.rlim_cur);
    if (rl.rlim_cur < need)
        log_warnx("open file limit %llu (hard) is below %u connections + %d: raise it "
                  "(ulimit -n) or lower HTTP_MAX_CONNECTIONS",
                  (unsigned long long)rl.rlim_cur, conns, HTTP_FD_RESERVE);
}

/*
 * libmicrohttpd's URI log callback, called with the request line's URI as sent, before it
 * decodes it: the per-request state is made here (it becomes *con_cls) to keep the raw path.
 * libmicrohttpd hands the access handler a path already percent-decoded, where "1%3F" has
 * become "1?" and "a%2Fb" "a/b"; the router splits the raw path and decodes each segment.
 */
static void *http_uri_log(void *cls, const char *uri, struct MHD_Connection *connection)
{
    struct http_conn *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    clock_gettime(CLOCK_MONOTONIC, &c->start);
    c->srv = cls;
    c->connection = connection;
    c->path = strndup(uri, strcspn(uri, "?#"));
    if (!c->path) {
        free(c);
        return NULL;
    }
    return c;
}

/* First call for a request (state from http_uri_log()): route, and the declared body size. */
static enum MHD_Result http_begin(struct http_server *srv, struct MHD_Connection *connection,
                                  struct http_conn *c, const char *method)
{
    const char *cl;

    if (!c)
        return MHD_NO; /* http_uri_log() ran out of memory */
    if (!http_sock_mark(srv, connection, true))
        return MHD_NO; /* the header deadline passed: the connection is closing */
    c->begun = true;
    c->method = method;
    size_t plen = strlen(c->path);
    while (plen > 1 && c->path[plen - 1] == '/')
        c->path[--plen] = '\0';
    if (http_route(c, method) < 0)
        return MHD_NO; /* c is freed by http_completed() */

    cl = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno == 0 && *end == '\0' && n > srv->opts.max_body) {
            /* answer before reading: libmicrohttpd then skips the body and closes */
            c->too_large = true;
            return http_answer(c, method);
        }
        if (errno == 0 && *end == '\0' && n > 0) {
            c->body = malloc((size_t)n + 1);
            if (!c->body)
                return MHD_NO;
            c->cap = (size_t)n + 1;
        }
    }
    return MHD_YES;
}

/* A chunk of body: keep it, or count it once over the limit. */
static enum MHD_Result http_upload(struct http_conn *c, const char *data, size_t size)
{
    size_t max = c->srv->opts.max_body;

    c->received += size;
    if (!c->too_large && c->received > max) {
        c->too_large = true;
        free(c->body);
        c->body = NULL;
        c->len = c->cap = 0;
    }
    if (c->too_large)
        return c->received > HTTP_DISCARD_MAX ? MHD_NO : MHD_YES;
    if (c->len + size + 1 > c->cap) {
        size_t ncap = c->cap ? c->cap : 4096;
        while (ncap < c->len + size + 1)
            ncap *= 2;
        if (ncap > max + 1)
            ncap = max + 1;
        char *nbody = realloc(c->body, ncap);
        if (!nbody)
            return MHD_NO;
        c->body = nbody;
        c->cap = ncap;
    }
    memcpy(c->body + c->len, data, size);
    c->len += size;
    c->body[c->len] = '\0';
    return MHD_YES;
}

static enum MHD_Result http_access(void *cls, struct MHD_Connection *connection, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls)
{
    struct http_conn *c = *con_cls;

    (void)version;
    (void)url; /* decoded by libmicrohttpd: the raw path is c->path */
    if (!c || !c->begun)
        return http_begin(cls, connection, c, method);
    if (c->wake != HTTP_WAKE_NONE && !c->answered)
        return http_answer(c, method); /* resumed after http_park() */
    if (c->answered) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        enum MHD_Result ret = http_upload(c, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return ret;
    }
    return http_answer(c, method);
}

static void http_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    struct http_conn *c = *con_cls;

    http_sock_mark(cls, connection, false); /* the next header is due from now */
    if (c && !c->answered)
        log_debug("request for '%s' ended before an answer (%d)", c->path, (int)toe);
    if (c && c->on_list) { /* not expected: libmicrohttpd does not end suspended requests */
        struct http_conn *todo = NULL;
        pthread_mutex_lock(&http_park_lock);
        http_unpark_locked(c, HTTP_WAKE_GONE, &todo);
        pthread_mutex_unlock(&http_park_lock);
    }
    if (c && c->counted && !c->answered) {
        /* parked, and the client went away: libmicrohttpd saw it before the handler ran
         * again, which must run once more all the same (it may hold a place) */
        c->wake = HTTP_WAKE_GONE;
        http_answer(c, c->method);
    }
    if (c)
        http_park_uncount(c);
    http_conn_free(c);
    *con_cls = NULL;
}

static void http_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t len;

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    static _Atomic int64_t last_limit_log;

    len = strlen(msg);
    while (len && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
        msg[--len] = '\0';
    /* one line per refused connection would let a flood fill the log: once a second */
    if (strstr(msg, "connection limit") && !http_log_due(&last_limit_log))
        return;
    log_msg(LOG_WARN, "microhttpd: %s", msg);
}

/* ---- lifecycle ---- */

static void http_server_free(struct http_server *srv)
{
    if (!srv)
        return;
    for (size_t i = 0; i < srv->nroutes; i++)
        http_compiled_release(&srv->routes[i]);
    worker_stop(srv->reaper); /* after the daemon: no connection is left on the list */
    if (srv->socks_lock_init)
        pthread_mutex_destroy(&srv->socks_lock);
    if (srv->unparked_init)
        pthread_cond_destroy(&srv->unparked);
    free(srv->routes);
    free(srv);
}

struct http_server *http_server_start(const struct http_opts *opts, const struct http_route *routes,
                                      size_t nroutes, void *app, char *errbuf, size_t errlen)
{
    struct http_server *srv = NULL;
    struct sockaddr_in6 sin6 = {0};
    struct sockaddr_in sin = {0};
    struct sockaddr *sa;
    /* poll(), not epoll: with a thread pool every worker keeps the shared listen socket in its
     * own epoll set, and libmicrohttpd 0.9.75 aborts the process ("Failed to remove listen FD
     * from epoll set") when MHD_quiesce_daemon() races a worker that already took it out —
     * seen in test_http's drain test. poll() keeps no kernel state to get out of step. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    const char *bind = opts->bind && *opts->bind ? opts->bind : "0.0.0.0";
    const union MHD_DaemonInfo *info;
    struct MHD_OptionItem pool[] = {{MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}};
    unsigned mhd_limit;

    if (inet_pton(AF_INET, bind, &sin.sin_addr) == 1) {
        sin.sin_family = AF_INET;
        sin.sin_port = htons(opts->port);
        sa = (struct sockaddr *)&sin;
    } else if (inet_pton(AF_INET6, bind, &sin6.sin6_addr) == 1) {
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons(opts->port);
        sa = (struct sockaddr *)&sin6;
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(errbuf, errlen, "bad bind address '%s'", bind);
        return NULL;
    }

    if (metrics_counter(HTTP_METRIC_REQUESTS, "HTTP requests by route, method and status.",
                        "route,method,status") < 0 ||
        metrics_histogram(HTTP_METRIC_DURATION, "HTTP request duration in seconds.", "route,method",
                          METRICS_LATENCY_BUCKETS, METRICS_LATENCY_NBUCKETS) < 0) {
        snprintf(errbuf, errlen, "cannot register the http metrics");
        return NULL;
    }
    if (metrics_counter(HTTP_METRIC_CLOSED,
                        "HTTP connections closed by the server's limits: refused at "
                        "HTTP_MAX_CONNECTIONS (limit) or cut at HTTP_HEADER_TIMEOUT_MS "
                        "(header_timeout).",
                        "reason") < 0) {
        snprintf(errbuf, errlen, "cannot register the http metrics");
        return NULL;
    }

    srv = calloc(1, sizeof(*srv));
    if (!srv || (nroutes && !(srv->routes = calloc(nroutes, sizeof(*srv->routes))))) {
        snprintf(errbuf, errlen, "out of memory");
        goto bad;
    }
    srv->opts = *opts;
    if (!srv->opts.threads)
        srv->opts.threads = HTTP_DEFAULT_THREADS;
    if (!srv->opts.max_body)
        srv->opts.max_body = HTTP_DEFAULT_MAX_BODY;
    if (!srv->opts.max_connections)
        srv->opts.max_connections = HTTP_DEFAULT_MAX_CONNECTIONS;
    if (!srv->opts.max_connections_per_ip)
        srv->opts.max_connections_per_ip = HTTP_DEFAULT_MAX_CONNECTIONS_PER_IP;
    if (!srv->opts.idle_timeout_s)
        srv->opts.idle_timeout_s = HTTP_DEFAULT_IDLE_TIMEOUT_S;
    if (!srv->opts.header_timeout_ms)
        srv->opts.header_timeout_ms = HTTP_DEFAULT_HEADER_TIMEOUT_MS;
    if (!srv->opts.max_parked)
        srv->opts.max_parked = HTTP_DEFAULT_MAX_PARKED;
    srv->app = app;
    atomic_init(&srv->draining, false);
    atomic_init(&srv->nconns, 0);
    if (pthread_mutex_init(&srv->socks_lock, NULL) != 0) {
        snprintf(errbuf, errlen, "cannot create a mutex");
        goto bad;
    }
    srv->socks_lock_init = true;
    if (worker_cond_init(&srv->unparked) != 0) {
        snprintf(errbuf, errlen, "cannot create a condition variable");
        goto bad;
    }
    srv->unparked_init = true;
    for (size_t i = 0; i < nroutes; i++) {
        if (http_compile(&routes[i], &srv->routes[i], errbuf, errlen) < 0)
            goto bad;
        srv->nroutes = i + 1;
    }

    http_raise_nofile(srv->opts.max_connections);
    {
        struct worker_opts wo = {.name = "http header deadline",
                                 .period_ms = (long)srv->opts.header_timeout_ms,
                                 .run = http_reap,
                                 .arg = srv,
                                 .wait_first = true};

        srv->reaper = worker_start(&wo, errbuf, errlen);
        if (!srv->reaper)
            goto bad;
    }
    /* libmicrohttpd splits its limit over the pool's workers, and a worker at its share stops
     * accepting; above ours by two per worker, some worker always accepts, so a connection
     * over our limit is closed by http_accept_policy() instead of waiting in the listen queue */
    mhd_limit = srv->opts.max_connections + 2 * srv->opts.threads;
    /* one thread is the internal polling thread itself (libmicrohttpd warns about a pool of 1) */
    pool[0].option = srv->opts.threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END;
    pool[0].value = (intptr_t)srv->opts.threads;
    srv->daemon = MHD_start_daemon(
        flags, opts->port, &http_accept_policy, srv, &http_access, srv, MHD_OPTION_EXTERNAL_LOGGER,
        &http_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_ARRAY, pool,
        MHD_OPTION_CONNECTION_LIMIT, mhd_limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        srv->opts.max_connections_per_ip, MHD_OPTION_CONNECTION_TIMEOUT, srv->opts.idle_timeout_s,
        MHD_OPTION_NOTIFY_CONNECTION, &http_notify_connection, srv, MHD_OPTION_NOTIFY_COMPLETED,
        &http_completed, srv, MHD_OPTION_URI_LOG_CALLBACK, &http_uri_log, srv, MHD_OPTION_END);
    if (!srv->daemon) {
        snprintf(errbuf, errlen, "cannot listen on '%s' port %u: %s", bind, opts->port,
                 strerror(errno));
        goto bad;
    }
    metrics_gauge_fn(HTTP_METRIC_OPEN, "Open HTTP connections.", http_open_connections, NULL);
    metrics_gauge_fn(HTTP_METRIC_PARKED, "HTTP requests parked (http_park()) now.",
                     http_parked_gauge, NULL);
    info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : opts->port;
    return srv;

bad:
    http_server_free(srv);
    return NULL;
}

unsigned short http_port(const struct http_server *srv)
{
    return srv->port;
}

void http_server_drain(struct http_server *srv)
{
    atomic_store(&srv->draining, true);
}

void http_server_stop(struct http_server *srv)
{
    if (!srv)
        return;
    if (srv->daemon) {
        http_park_stop(srv); /* libmicrohttpd may not stop with a connection suspended */
        /* stop accepting, then let the pool finish what it has; the listen socket is ours */
        MHD_socket fd = MHD_quiesce_daemon(srv->daemon);
        MHD_stop_daemon(srv->daemon);
        if (fd != MHD_INVALID_SOCKET)
            close(fd);
    }
    http_server_free(srv);
}
