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
 *
 * Parking (http_park()): a handler that cannot answer yet (it waits for something another
 * thread makes) parks its request instead of blocking its HTTP thread, which goes on serving
 * other connections: the connection is suspended (MHD_suspend_connection), and the handler
 * runs again, from the start and on an HTTP thread, when the request's bell rings
 * (http_bell_ring(), e.g. by a consumer after its commit), every recheck_ms (for what another
 * process makes), and a last time at the deadline, when the server stops, or when the client
 * went away (req->wake says which; on the last three it must answer, and after a client went
 * away the answer is dropped and the connection closed). So every parked request is answered
 * exactly once, or dropped for a client gone, and http_server_stop() wakes and answers every
 * parked request before it stops. A parked request costs its connection and state, no thread;
 * at most max_parked are parked at once (http_park() refuses beyond, and the handler answers
 * as if there were no parking). A ring between the handler's look and its park is not lost:
 * a bell rung since the handler started wakes the request again at once.
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

/* Why a handler runs (struct http_req's wake). The last three are final: answer. */
enum http_wake {
    HTTP_WAKE_NONE = 0, /* the first run: never parked */
    HTTP_WAKE_BELL,     /* parked; its bell rang */
    HTTP_WAKE_RECHECK,  /* parked; recheck_ms passed */
    HTTP_WAKE_DEADLINE, /* parked; wait_ms passed since the first park */
    HTTP_WAKE_STOP,     /* parked; the server stops */
    HTTP_WAKE_GONE,     /* parked; the client went away (the answer is dropped) */
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
    enum http_wake wake; /* why the handler runs: HTTP_WAKE_NONE but after http_park() */
    void *impl;          /* the server's; do not touch */
};

#define HTTP_MAX_RESP_HEADERS 4
#define HTTP_RESP_HEADER_NAME_MAX 64   /* with the NUL */
#define HTTP_RESP_HEADER_VALUE_MAX 512 /* with the NUL */

/* A response header added with http_resp_header(). */
struct http_resp_header {
    char name[HTTP_RESP_HEADER_NAME_MAX];
    char value[HTTP_RESP_HEADER_VALUE_MAX];
};

struct http_resp {
    int status;
    char *body; /* owned; freed by the server */
    const char *content_type;
    char location[512]; /* Location header when non-empty */
    long retry_after_s; /* Retry-After header (seconds) when > 0 */
    size_t nheaders;    /* further headers: http_resp_header() */
    struct http_resp_header headers[HTTP_MAX_RESP_HEADERS];
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
    unsigned max_parked; /* requests parked at once at most (0 = 1024): http_park() */
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

/* A wake-up condition parked requests wait on (any number of servers and requests). */
struct http_bell;

/* Caller owns the result: http_bell_free(). NULL when out of memory. */
struct http_bell *http_bell_new(void);
/* Frees @bell (accepts NULL); no request may be parked on it (after http_server_stop()). */
void http_bell_free(struct http_bell *bell);
/* Every request parked on @bell runs its handler again (HTTP_WAKE_BELL), soon, on an HTTP
 * thread; so does one parking on it now whose handler started before this ring. Any thread. */
void http_bell_ring(struct http_bell *bell);

/*
 * In a handler, instead of answering: parks the request on @bell (borrowed; may be NULL: no
 * bell) until it rings, every @recheck_ms, and at most @wait_ms after the request's first
 * park (a re-park keeps that deadline); the handler then runs again with req->wake set. The
 * handler must leave @resp untouched and return. 0 when parked; -EBUSY when max_parked are
 * parked, -ESHUTDOWN when the server stops, -ETIMEDOUT when req->wake is final: the handler
 * answers itself then.
 */
int http_park(struct http_req *req, struct http_bell *bell, long wait_ms, long recheck_ms);

/* Requests parked now in this process (every server). */
unsigned http_parked_count(void);

/* Path parameter by name ("id"), or NULL. Borrowed from @req. */
const char *http_param(const struct http_req *req, const char *name);

/* Query-string argument by name, or NULL. Borrowed until the handler returns. */
const char *http_query(const struct http_req *req, const char *name);

/* Called by http_query_each() per argument; nonzero stops the walk. */
typedef int (*http_query_fn)(void *arg, const char *key, const char *value);

/*
 * Calls @fn for every query-string argument in the order sent, repeated keys included, keys and
 * values percent-decoded (@value NULL for a bare "?key"). Returns the first nonzero value of
 * @fn, -EILSEQ (before calling @fn for it) when a key or value decodes to a NUL (%00), else 0.
 * Strings borrowed until the handler returns.
 */
int http_query_each(const struct http_req *req, http_query_fn fn, void *arg);

/* Request header (case-insensitive), or NULL. Borrowed until the handler returns. */
const char *http_header(const struct http_req *req, const char *name);

/*
 * Adds the header @name: @value to @resp (sent whatever the status; the reply helpers keep
 * it). Both are copied. -EINVAL when @name is not an HTTP token (RFC 9110) or is one the server
 * writes itself (Content-Type, Content-Length, Transfer-Encoding, Connection), or @value holds
 * a control character (CR, LF, NUL, …; HTAB is allowed): no header can be injected. -E2BIG when
 * either is too long, -ENOSPC after HTTP_MAX_RESP_HEADERS.
 */
int http_resp_header(struct http_resp *resp, const char *name, const char *value);

#define HTTP_COOKIE_MAX_LEN 4096 /* bytes of a Cookie header */
#define HTTP_COOKIE_MAX_COUNT 32 /* cookies in a Cookie header */

/*
 * Finds the cookie @name in @header, a Cookie header's value, parsed strictly (RFC 6265
 * 4.2.1): "name=value" pairs separated by ";" and optional spaces (a trailing ";" is
 * tolerated), names HTTP tokens, values cookie-octets, optionally in double quotes (removed).
 * Names compare case-sensitively. Copies the value into @out (written only on success).
 * Returns 0; -ENOENT when there is no such cookie; -EINVAL when @header is malformed or names
 * @name twice (ambiguous: a cookie "tossed" from a sibling domain); -E2BIG when @header is
 * longer than HTTP_COOKIE_MAX_LEN, has more than HTTP_COOKIE_MAX_COUNT cookies, or the value
 * does not fit @outlen.
 */
int http_cookie_parse(const char *header, const char *name, char *out, size_t outlen);

/* The request's cookie @name: http_cookie_parse() of its Cookie header, -ENOENT without one,
 * -EINVAL when the request has several Cookie headers. */
int http_cookie(const struct http_req *req, const char *name, char *out, size_t outlen);

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
