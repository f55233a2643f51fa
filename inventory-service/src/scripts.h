/*
 * scripts.h - the Redis side of inventory: every change to stock is one Lua script, loaded
 * once and called with EVALSHA (rds_eval), so each event's change, its processed-event record
 * and its outcome event are one atomic step.
 *
 * Keys (single Redis instance; scripts name SKU keys themselves, so not for Redis Cluster):
 *   inv:sku:{skuId}    hash available, reserved, sold, returned, received
 *   inv:res:{orderId}  hash state (RESERVED | CONFIRMED | RELEASED), {skuId} → reserved
 *                      quantity, ret:{skuId} → units returned by refunds. No expiry while
 *                      RESERVED; the script that makes it CONFIRMED or RELEASED sets its TTL
 *                      to the reservation retention (inv_emit.res_ttl_s), so it outlives
 *                      every redelivery of the order's events (README "State and retention")
 *   inv:evt:{eventId}  hash status, topic, key, env, xid: the consumed event's outcome, kept
 *                      for the retention time, so a redelivery re-emits the same outcome
 *   <stream>           the outbox stream (default inv:outbox): entries {topic, key, env, evt}
 *                      that the relay (relay.c) publishes to Kafka and then deletes
 *
 * Outcome envelopes are built in C before the call: for each event type a script may publish,
 * the caller passes the envelope JSON up to and including "data": (struct inv_head); the
 * script appends the payload it decided plus the closing brace. All envelopes of one call
 * share one event id, so whichever outcome is chosen, a replay gets the same id.
 *
 * Event calls return 0 and fill struct inv_result; -EIO when Redis is unreachable (the reason
 * in @errbuf: retry later); -EPROTO when Redis answered with an error or an unexpected shape.
 */
#ifndef INVENTORY_SCRIPTS_H
#define INVENTORY_SCRIPTS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/rds.h"
#include "stock.h"

#define INV_STREAM_DEFAULT "inv:outbox"

/* Where an event call records its outcome. */
struct inv_emit {
    const char *stream;   /* outbox stream key */
    const char *event_id; /* the consumed event's id */
    const char *key;      /* Kafka key of the outcome (the order id) */
    long ttl_s;           /* how long inv:evt:{eventId} is kept */
    long res_ttl_s;       /* how long inv:res:{key} is kept once terminal; 0: for ever */
};

/* An outcome envelope without its payload: "{…,\"data\":" and the topic it goes to. */
struct inv_head {
    const char *head;
    const char *topic;
};

struct inv_result {
    char status[32]; /* the script's status word: see stock_outcome_parse() */
    bool duplicate;  /* the event was processed before: nothing changed */
    long long count; /* order.refunded: units returned by this call */
};

/* product.sku.created: sets up stock with @quantity units unless the SKU has stock already. */
int inv_sku_init(struct rds_conn *conn, const struct inv_emit *em, long long sku_id,
                 long long quantity, struct inv_result *ret, char *errbuf, size_t errlen);

/* order.placed: reserves every merged line of order @em->key, or nothing. @order_json is the
 * order id as a JSON value. Publishes with @ok (stock.reserved) or @fail
 * (stock.reservation.failed). With @wait_unknown, a SKU without stock answers SKU_PENDING
 * instead of failing the order, and nothing is changed or recorded (the event can be
 * delivered again once its product.sku.created has come). */
int inv_reserve(struct rds_conn *conn, const struct inv_emit *em, const char *order_json,
                const struct inv_head *ok, const struct inv_head *fail,
                const struct stock_line *lines, size_t n, bool wait_unknown, struct inv_result *ret,
                char *errbuf, size_t errlen);

/* order.confirmed: turns the order's reservation into a sale; @ok stock.confirmed, @fail
 * stock.confirm.failed. */
int inv_confirm(struct rds_conn *conn, const struct inv_emit *em, const char *order_json,
                const struct inv_head *ok, const struct inv_head *fail, struct inv_result *ret,
                char *errbuf, size_t errlen);

/* order.cancelled: releases the order's reservation if it is still held; @head
 * stock.released; @reason_json the cancel reason as a JSON value. */
int inv_release(struct rds_conn *conn, const struct inv_emit *em, const char *order_json,
                const struct inv_head *head, const char *reason_json, struct inv_result *ret,
                char *errbuf, size_t errlen);

/* order.refunded: returns sold units of a confirmed order, per SKU at most what the order
 * bought and has not returned yet. Publishes nothing. */
int inv_refund(struct rds_conn *conn, const struct inv_emit *em, const struct stock_line *lines,
               size_t n, struct inv_result *ret, char *errbuf, size_t errlen);

/*
 * Admin stock change, all or nothing: @sign +1 adds @lines to available and received, -1
 * takes them away (never below zero available). With @idem (an Idempotency-Key, scoped by the
 * caller, e.g. "<admin>:<key>") the applied change is remembered for STOCK_IDEM_TTL_S under
 * that key with the request's fingerprint: the same request again answers
 * STOCK_ADJUST_REPLAYED and changes nothing, another request STOCK_ADJUST_KEY_REUSED. *@ret is
 * the decision; on a refusal *@ret_sku is the SKU that caused it. 0, -EIO, -EPROTO, -EINVAL
 * or -ENOMEM.
 */
int inv_adjust(struct rds_conn *conn, int sign, const struct stock_line *lines, size_t n,
               const char *idem, enum stock_adjust *ret, long long *ret_sku, char *errbuf,
               size_t errlen);

/*
 * Reads the counters of @n SKUs in one atomic step. @ret[i] is filled and @ret_found[i] set
 * for SKUs that have stock. 0, -EIO or -EPROTO.
 */
int inv_get(struct rds_conn *conn, const long long *sku_ids, size_t n, struct stock_counters *ret,
            bool *ret_found, char *errbuf, size_t errlen);

/* Parses an HMGET reply of available, reserved, sold, returned, received. 0 or -ENOENT
 * (SKU without stock) or -EPROTO. */
int inv_counters_from_reply(const redisReply *reply, struct stock_counters *ret);

#endif
