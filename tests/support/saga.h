/*
 * saga.h - support for the order-saga end-to-end tests (tests/e2e_saga.c, e2e_saga_load.c):
 * the six services started together, and the client side of the saga through the public HTTP
 * APIs only (sign up, log in, create products as admin, order, pay, cancel, refund, poll).
 *
 * The stack: every service gets a fresh database (ts_create_database), the run shares four
 * fresh topics (product / order / stock / payment events, via TOPIC_<TYPE> on every service),
 * inventory a fresh Redis outbox stream. The admin is auth-service's bootstrap account
 * (ADMIN_EMAIL / ADMIN_PASSWORD) and its token comes from logging in.
 *
 * Redis keys of inventory (inv:sku:{id}) are not namespaced by run, and a fresh catalog
 * database would hand out SKU ids 1, 2, … that earlier runs already used on the shared Redis.
 * So saga_stack_start() moves the catalog's sku AUTO_INCREMENT to a random base
 * (st->sku_base); that is the only write behind the APIs.
 *
 * Instances (saga_opts.instances = 2; tests/e2e_cluster.c): every service runs twice. Instance 2
 * of a service shares instance 1's database, topics, consumer group and Redis stream and has its
 * own port and, for inventory, its own relay consumer name (INVENTORY_RELAY_NAME relay-2). The
 * clients below spread their requests over the instances (round robin per request); user-service
 * calls auth-service instance 1 (AUTH_URL takes one address). With one instance (the default)
 * nothing changes.
 *
 * Linked into every test binary (like every .c file in tests/support): nothing here defines main.
 * Functions are safe to call from several client threads at once (except start/stop); they do not
 * use cmocka assertions — they return an error and say why on stderr, and the test asserts.
 */
#ifndef SAGA_H
#define SAGA_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "testsup.h"

#define SAGA_PASSWORD "e2e-Saga-Passw0rd!"
#define SAGA_SERVICE_TOKEN "e2e-saga-service-token"
#define SAGA_TOKEN_MAX 2048
#define SAGA_INSTANCES_MAX 2
#define SAGA_NSERVICES 6 /* auth, user, catalog, inventory, order, payment */

struct saga_opts {
    const char *prefix;     /* database / topic name prefix, e.g. "e2e_saga" */
    int payment_deadline_s; /* ORDER_PAYMENT_DEADLINE_S of order-service */
    int gateway_timeout_ms; /* PAYMENT_GATEWAY_TIMEOUT_MS of payment-service */
    int instances;          /* of every service: 1 (0 means 1) up to SAGA_INSTANCES_MAX */
};

struct saga_stack {
    struct ts_service auth, user, catalog, inventory, order, payment;
    char auth_db[64], user_db[64], catalog_db[64], inventory_db[64], order_db[64], payment_db[64];
    char topic_product[64], topic_order[64], topic_stock[64], topic_payment[64];
    char stream[64];
    char admin_email[96];
    char admin_token[SAGA_TOKEN_MAX];
    long long sku_base;
    int payment_deadline_s;
    char **env[6]; /* each service's start environment (auth … payment order), for restarts */
    int instances; /* of every service (1 … SAGA_INSTANCES_MAX) */
    /* instances 2 … of auth … payment (the fields above are instance 1) */
    struct ts_service more[SAGA_NSERVICES][SAGA_INSTANCES_MAX - 1];
    /* each instance's address (fixed: a restart keeps the port) and whether it is being
     * restarted (clients then use the others; atomic access) */
    char urls[SAGA_NSERVICES][SAGA_INSTANCES_MAX][64];
    int down[SAGA_NSERVICES][SAGA_INSTANCES_MAX];
};

struct saga_user {
    char id[64];
    char email[96];
    char token[SAGA_TOKEN_MAX];
};

struct saga_line {
    long long sku;
    int quantity;
};

/* Terminal order statuses (docs/saga.md). */
bool saga_status_terminal(const char *status);

/*
 * Starts auth, user, catalog, inventory, order and payment services (in that order, each
 * waited ready), logs the admin in. On failure the services already started are stopped and
 * -EIO returned (the reason and the failing service's log tail are on stderr). Call from the
 * main thread (the services die with the thread that forked them).
 */
int saga_stack_start(struct saga_stack *st, const struct saga_opts *opts);

/*
 * saga_stack_start() and, as most suites begin, a signed-up user "<@who>_…" and a category as
 * admin. On failure the stack is stopped again and -EIO returned.
 */
int saga_stack_start_with_user(struct saga_stack *st, const struct saga_opts *opts, const char *who,
                               struct saga_user *ret_user, long long *ret_category);

/*
 * Attaches @st to a stack this test did not start: the env file scripts/stack.sh up writes
 * (.run/env: "export NAME=value …" lines with AUTH_URL … PAYMENT_URL, ADMIN_EMAIL and
 * ADMIN_PASSWORD), and logs the admin in. The services' pids stay 0: saga_stack_stop() leaves
 * them alone. Databases, topics and sku_base are not known (check-invariants cannot run).
 * 0 or -EIO (the reason on stderr).
 */
int saga_stack_attach(struct saga_stack *st, const char *env_path);

/*
 * Instance @k (1 … st->instances) of the service whose instance 1 is @svc (&st->order, …), or
 * NULL when there is no such instance.
 */
struct ts_service *saga_instance(struct saga_stack *st, const struct ts_service *svc, int k);

/*
 * Crashes or stops @svc (one of @st's six, or an instance from saga_instance()) with @sig, waits
 * for its exit, and starts the same binary again with the same environment (database, topics,
 * consumer group) on the same port; waits until it is ready. 0 or -EIO. Call from the main
 * thread: the new process dies with the thread that started it (PR_SET_PDEATHSIG).
 */
int saga_service_restart(struct saga_stack *st, struct ts_service *svc, int sig);

/* Stops the services with SIGTERM in reverse order. Returns 0 when every one exited 0, else
 * the first non-zero exit status (a leak under ASan shows here). Safe on a half-started stack. */
int saga_stack_stop(struct saga_stack *st);

/* Signs up a fresh user "<@prefix>_<random>@example.com" at user-service and logs in at
 * auth-service. 0 or -EIO. */
int saga_user_new(const struct saga_stack *st, const char *prefix, struct saga_user *ret);

/* Creates a category as admin; its id into *@ret_id. 0 or -EIO. */
int saga_category_new(const struct saga_stack *st, const char *name, long long *ret_id);

/* Creates a product without options (one SKU) at @price with @quantity units as admin; the
 * SKU id into *@ret_sku. 0 or -EIO. */
int saga_product_new(const struct saga_stack *st, long long category, const char *name,
                     long long price, int quantity, long long *ret_sku);

/* Waits until inventory-service knows @sku (GET /api/inventories/{sku} = 200). */
int saga_stock_wait(const struct saga_stack *st, long long sku, int timeout_ms);

/* Reads the stock of @sku: available and reserved units. 0, -ENOENT or -EIO. */
int saga_stock_get(const struct saga_stack *st, long long sku, long long *ret_available,
                   long long *ret_reserved);

/* Polls until the stock of @sku is @available / @reserved or @timeout_ms passes; the last
 * values read go into *@ret_available / *@ret_reserved. 0, -ETIMEDOUT or -EIO. */
int saga_stock_wait_for(const struct saga_stack *st, long long sku, long long available,
                        long long reserved, int timeout_ms, long long *ret_available,
                        long long *ret_reserved);

/*
 * POST /api/orders with @n lines as @user, with couponCode @coupon and an Idempotency-Key
 * header when they are non-NULL (a client never sends a discount amount: discounts come from
 * coupons). While the answer is 422 ORDER-422-001 (order-service has not yet seen the SKUs'
 * product.sku.created) it retries until @catalog_wait_ms passes. Returns the HTTP status
 * (201/200 on success, id into @ret_id) or -EIO.
 */
long saga_order_place(const struct saga_stack *st, const struct saga_user *user,
                      const struct saga_line *lines, size_t n, const char *coupon,
                      const char *idem_key, int catalog_wait_ms, char *ret_id, size_t idlen);

/*
 * Creates a coupon as admin (POST /api/coupons) with a fresh code "E2E_<hex>" and the other
 * members @fields (JSON members without braces, e.g. "\"amount\":1000,\"totalLimit\":2");
 * the code into @ret_code. 0 or -EIO.
 */
int saga_coupon_new(const struct saga_stack *st, const char *fields, char *ret_code,
                    size_t codelen);

/* GET /api/orders/{id} with @token; the HTTP status, the body in *@ret (caller owns:
 * cJSON_Delete; NULL unless 200). -EIO when there was no answer. */
long saga_order_get(const struct saga_stack *st, const char *token, const char *id, cJSON **ret);

/* The order's status string from an order body, or "" (borrowed from @order). */
const char *saga_order_status(const cJSON *order);
/* The order's payable amount, or -1. */
long long saga_order_payable(const cJSON *order);
/* The cancellation reason of an order body (cancelReason, else the reason of its history's step
 * into CANCELLED / FAILED), or "" (borrowed from @order). */
const char *saga_order_reason(const cJSON *order);
/* The id of item @i into @out; its amount into *@ret_amount (may be NULL).
 * 0 or -ENOENT. */
int saga_order_item(const cJSON *order, int i, char *out, size_t outlen, long long *ret_amount);

/*
 * Polls GET /api/orders/{id} every 100 ms until the status is terminal (when @want is NULL) or
 * equals @want, or @timeout_ms passes. The last status seen goes into @ret_status (may be
 * NULL), the last body into *@ret (may be NULL; caller owns). 0, -ETIMEDOUT or -EIO.
 */
int saga_order_wait(const struct saga_stack *st, const char *token, const char *id,
                    const char *want, int timeout_ms, char *ret_status, size_t statuslen,
                    cJSON **ret);

/*
 * POST /api/payments/confirm {orderId, amount, paymentKey} as @token. Retries while the
 * answer is 404 PAYMENT-404-001 (order.placed not yet consumed: no payment) until @timeout_ms
 * passes; 409 PAYMENT-409-002 (the payment is no longer READY) is final. Returns the last
 * HTTP status (200 approved, 402 declined, 504 gateway timeout, 404 no payment, …) or -EIO.
 * The last body goes into @ret_body (may be NULL).
 */
long saga_pay(const struct saga_stack *st, const char *token, const char *order_id,
              long long amount, const char *payment_key, int timeout_ms, char *ret_body,
              size_t bodylen);

/*
 * Waits until order @id is PAYMENT_PENDING, then pays its payable amount with the payment key
 * "card_ok_<id>" (approved by the simulator). The payable amount into *@ret_payable (may be
 * NULL). Returns the payment's HTTP status (200 approved), -ETIMEDOUT when the order did not
 * get there (its last status on stderr) or -EIO.
 */
long saga_pay_when_pending(const struct saga_stack *st, const char *token, const char *id,
                           int timeout_ms, long long *ret_payable);

/* POST /api/orders/{id}/cancel as @token: the HTTP status or -EIO. */
long saga_order_cancel(const struct saga_stack *st, const char *token, const char *id);

/* POST /api/orders/{id}/refund {itemIds:[@item_ids…]} as @token: the HTTP status or -EIO. */
long saga_order_refund(const struct saga_stack *st, const char *token, const char *id,
                       const char *const *item_ids, size_t n);

/* GET /api/payments/{orderId}: the HTTP status, body into *@ret (caller owns) on 200. */
long saga_payment_get(const struct saga_stack *st, const char *token, const char *order_id,
                      cJSON **ret);

/* Polls GET /api/payments/{orderId} until its status is @status and (when @refunded >= 0)
 * its refundedAmount is @refunded, or @timeout_ms passes. Returns the last HTTP status (200
 * when reached: then *@ret holds the body, caller owns) or -ETIMEDOUT with *@ret the last body
 * (may be NULL). */
long saga_payment_wait(const struct saga_stack *st, const char *token, const char *order_id,
                       const char *status, long long refunded, int timeout_ms, cJSON **ret);

/*
 * Produces @data as event @type version @version from @source (consumers take only the
 * type's producer, ts_event_source(); another source is a negative case) with key
 * and subject @key to @topic, the envelope and ce_* headers as common/event.c writes them, as
 * a producer of that version would; takes ownership of @data. The event id into @ret_id (may
 * be NULL; 64 bytes). 0 or -EIO.
 */
int saga_produce_event(const char *topic, const char *type, int version, const char *source,
                       const char *key, cJSON *data, char *ret_id);

/* A number field of @obj: the first present of @names ("a|b"), or -1 (numeric strings too). */
long long saga_json_num(const cJSON *obj, const char *names);
/* A string field (same rule for @names), or "" (borrowed from @obj). */
const char *saga_json_str(const cJSON *obj, const char *names);

/*
 * Runs $BUILD_DIR/bin/check-invariants for the stack's order and payment databases and SKU
 * range; its output (stdout + stderr) into @out. Returns its exit status (0 = invariants hold),
 * or -EIO when it could not run.
 */
int saga_check_invariants(const struct saga_stack *st, char *out, size_t outlen);

/* Runs the checker every second until it exits 0 or @timeout_ms passes (money and stock settle
 * one Kafka hop after the order statuses). Returns its last exit status; output in @out. */
int saga_check_invariants_until(const struct saga_stack *st, int timeout_ms, char *out,
                                size_t outlen);

/* The same two with more checker options @extra (shell words, e.g. "--outbox-db 'x'"; may be
 * NULL). */
int saga_check_invariants_with(const struct saga_stack *st, const char *extra, char *out,
                               size_t outlen);
int saga_check_invariants_with_until(const struct saga_stack *st, const char *extra, int timeout_ms,
                                     char *out, size_t outlen);

/* The value of @name in the start environment of @svc's service (e.g. its KAFKA_GROUP_ID), or
 * NULL (borrowed from @st until it stops). */
const char *saga_env_value(const struct saga_stack *st, const struct ts_service *svc,
                           const char *name);

#endif
