/*
 * proxy.h - a fault-injecting TCP proxy for the end-to-end tests: listens on 127.0.0.1 (a free
 * port) and forwards every connection to 127.0.0.1:<upstream>. In TS_PROXY_DROP_RESPONSES mode
 * requests still reach the upstream, but its answers are thrown away and the client's
 * connection is closed: the call happened, the caller never learns its outcome — the failure a
 * service must undo.
 *
 * Linked into every test binary (tests/support): nothing here uses cmocka. Thread-safe.
 */
#ifndef TS_PROXY_H
#define TS_PROXY_H

enum ts_proxy_mode {
    TS_PROXY_PASS = 0,       /* forward both ways */
    TS_PROXY_DROP_RESPONSES, /* forward requests; discard answers, close the client side */
};

struct ts_proxy;

/* Starts the proxy in TS_PROXY_PASS mode; NULL (the reason on stderr) when it cannot. */
struct ts_proxy *ts_proxy_start(unsigned short upstream_port);

/* The port it listens on. */
unsigned short ts_proxy_port(const struct ts_proxy *p);

/* Switches the mode for the data that arrives from now on. */
void ts_proxy_set_mode(struct ts_proxy *p, enum ts_proxy_mode mode);

/* How many answers (connections' upstream data) were thrown away so far. */
int ts_proxy_dropped(struct ts_proxy *p);

/* Closes every connection and the listener, joins the threads, frees. Accepts NULL. */
void ts_proxy_stop(struct ts_proxy *p);

#endif
