/*
 * http.h - the HTTP layer on libmicrohttpd: router, JSON bodies, problem+json, health, metrics.
 *
 * A service declares a const table of routes (method, path pattern with {name} parameters,
 * required role, handler). The server (internal thread pool) reads the whole body up to a
 * limit (413 beyond it), matches the route (404 / 405 with problem+json), verifies the bearer
 * token when the route needs one (401 / 403), sets the thread's message context (msgctx.h),
 * calls the handler, records metrics, and logs one access line.
 *
 * Built in on every server: GET /health/live (200 while the process runs), GET /health/ready
 * (200 when the service's ready callback says so and it is not shutting down, else 503 with
 * the reason), GET /metrics (Prometheus text from metrics.h).
 *
 * Handlers see only struct http_req and fill struct http_resp through the reply helpers;
 * they never touch libmicrohttpd.
 */
#ifndef COMMON_HTTP_H
#define COMMON_HTTP_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/jwt.h"
#include "common/msgctx.h"

#define HTTP_MAX_PARAMS 4

enum http_auth {
    HTTP_AUTH_NONE = 0, /* public */
    HTTP_AUTH_USER,     /* any valid token (USER or ADMIN) */
    HTTP_AUTH_ADMIN,    /* token with role ADMIN */
};

struct http_req {
    const char *method;
    const char *path;  /* without the query string */
    const char *route; /* the matched pattern, e.g. "/api/catalog/products/{id}" */
    const char *body;  /* NUL-terminated; "" when none */
    size_t body_len;
    size_t nparams;
    const char *param_names[HTTP_MAX_PARAMS];
    const char *param_values[HTTP_MAX_PARAMS];
    const struct jwt_principal *principal; /* NULL on public routes without a token */
    char remote_addr[64]; /* the peer's IP address ("" when unknown); not a proxy's client */
    struct msgctx ctx;
    void *impl; /* the server's; do not touch */
};

struct http_resp {
    int status;
    char *body; /* owned; freed by the server */
    const char *content_type;
    char location[512];       /* Location header when non-empty */
    long retry_after_s;       /* Retry-After header (seconds) when > 0 */
    const char *allow_origin; /* Access-Control-Allow-Origin when non-NULL (public documents) */
};

typedef void (*http_handler_fn)(struct http_req *req, struct http_resp *resp, void *app);

struct http_route {
    const char *method;  /* "GET", "POST", … */
    const char *pattern; /* "/api/catalog/products/{id}/skus" */
    enum http_auth auth;
    http_handler_fn fn;
};

/* Readiness: return 0 if ready, else a negative errno with a reason in @why. */
typedef int (*http_ready_fn)(void *app, char *why, size_t whylen);

struct http_opts {
    const char *bind;              /* "127.0.0.1", "0.0.0.0" or "::1" */
    unsigned short port;           /* 0 = pick a free port (tests); read it back with http_port() */
    unsigned threads;              /* thread pool size (0 = 4) */
    size_t max_body;               /* bytes; larger bodies get 413 (0 = 1 MiB) */
    const struct jwt_key *jwt_key; /* borrowed; NULL = every protected route answers 401 */
    http_ready_fn ready;           /* NULL = always ready */
    /* Connection limits (0 = the default in brackets). Beyond max_connections [1000] or
     * max_connections_per_ip [64] from one address, a new connection is accepted and closed at
     * once (never left waiting in the listen queue), so a flood of idle connections from one
     * client leaves the service answering others. A connection idle for idle_timeout_s [30]
     * is closed; so is one whose request header is not complete header_timeout_ms [10000]
     * after the connection opened or its previous answer went out, however slowly the header
     * trickles in (each byte would reset the idle timeout). The process's soft RLIMIT_NOFILE is
     * raised towards the hard limit to make room for max_connections. */
    unsigned max_connections;
    unsigned max_connections_per_ip;
    unsigned idle_timeout_s;
    unsigned header_timeout_ms;
};

struct http_server;

/* Starts listening. @routes and @app are borrowed for the server's lifetime.
 * Returns NULL with a reason in @errbuf. */
struct http_server *http_server_start(const struct http_opts *opts, const struct http_route *routes,
                                      size_t nroutes, void *app, char *errbuf, size_t errlen);

/* The bound port. */
unsigned short http_port(const struct http_server *srv);

/* Shutdown step 1: readiness answers 503 from now on; new requests still served. */
void http_server_drain(struct http_server *srv);

/* Stops accepting, waits for in-flight requests, frees. Accepts NULL. */
void http_server_stop(struct http_server *srv);

/* Path parameter by name ("id"), or NULL. Borrowed from @req. */
const char *http_param(const struct http_req *req, const char *name);

/* Query-string argument by name, or NULL. Borrowed until the handler returns. */
const char *http_query(const struct http_req *req, const char *name);

/* Request header (case-insensitive), or NULL. Borrowed until the handler returns. */
const char *http_header(const struct http_req *req, const char *name);

/*
 * Parses the body as a JSON object (depth and size capped). On failure fills @resp with a
 * 400 problem (code "COMMON-400-001" malformed JSON / "COMMON-400-002" not an object) and
 * returns NULL. Caller owns the result: cJSON_Delete().
 */
cJSON *http_json_body(const struct http_req *req, struct http_resp *resp);

/* Sets @resp to @status with @json as body (takes ownership of @json; NULL = empty body). */
void http_reply_json(struct http_resp *resp, int status, cJSON *json);

/*
 * Sets @resp to an RFC 9457 problem: {"type","title","status","detail","code","instance"?,
 * "errors":[{"field","message"}]?}. @errors (may be NULL) is a JSON array whose ownership
 * passes to @resp. @detail is printf-style.
 */
void http_reply_problem(struct http_resp *resp, int status, const char *code, cJSON *errors,
                        const char *detail_fmt, ...) __attribute__((format(printf, 5, 6)));

/* Parses a query integer with bounds; returns @def when absent, -1 (and fills a 400 problem
 * "COMMON-400-003" with a field error in @resp) when not a number in [lo, hi]. */
long http_query_long(const struct http_req *req, struct http_resp *resp, const char *name, long def,
                     long lo, long hi);

#endif
