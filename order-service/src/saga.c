/*
 * saga.c - the order saga's one step (see saga.h): the transaction frame around order_apply(),
 * what a step writes and publishes, and what follows its commit (the transition logged, the
 * saga's end counted).
 */
#include "saga.h"

#include <errno.h>
#include <string.h>

#include "app.h"
#include "common/event.h"
#include "common/inbox.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/outbox.h"
#include "store_coupon.h"

#define ORDER_SOURCE "/order-service"
#define ORDER_AGGREGATE "order"

#define OUTCOMES "commerce_saga_outcomes_total"
#define DURATION "commerce_saga_duration_seconds"

static const double duration_buckets[] = {0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 900, 1800};

void order_metrics_register(void)
{
    metrics_counter(OUTCOMES, "orders reaching a saga end (CONFIRMED, CANCELLED, FAILED)",
                    "status,reason");
    metrics_histogram(DURATION, "seconds from CREATED to the saga's end", "", duration_buckets,
                      sizeof(duration_buckets) / sizeof(duration_buckets[0]));
}

/* The order the step works on, locked: a new one (INIT, its row not yet written) or the row
 * of @in->order_id, which must be @in->owner's when that is set. */
static int lock(struct db_conn *conn, const struct saga_input *in, struct store_order *o)
{
    int rc;

    if (in->in == ORDER_IN_PLACE) {
        memset(o, 0, sizeof(*o));
        util_strlcpy(o->id, in->order_id, sizeof(o->id));
        util_strlcpy(o->user_id, in->user, sizeof(o->user_id));
        o->st.status = ORDER_INIT;
        return 0;
    }
    rc = store_order_lock(conn, in->order_id, o);
    if (rc == 0 && in->owner && strcmp(o->user_id, in->owner) != 0)
        rc = -ENOENT;
    return rc;
}

/*
 * A new order: its lines and totals, with the discount of the coupon it names. The coupon's row
 * stays locked until the commit, so the use counts coupon_check() sees hold when the use is
 * taken (persist). A coupon that cannot be used leaves r->coupon_verdict saying why.
 */
static int price(struct db_conn *conn, const struct saga_input *in, struct saga_result *r)
{
    long long discount = 0, uses = 0;
    int rc;

    if (in->nlines == 0 || in->nlines > ORDER_MAX_ITEMS)
        return -EINVAL;
    memcpy(r->lines, in->lines, in->nlines * sizeof(r->lines[0]));
    rc = order_price(r->lines, in->nlines, 0, &r->totals);
    if (rc == 0 && in->coupon_code) {
        rc = store_coupon_lock(conn, in->coupon_code, &r->coupon);
        if (rc == -ENOENT) {
            r->coupon_verdict = COUPON_UNKNOWN;
            return 0;
        }
        if (rc == 0)
            rc = store_coupon_user_uses(conn, r->coupon.id, in->user, &uses);
        if (rc < 0)
            return rc;
        r->coupon_verdict = coupon_check(&r->coupon, util_now_ms(), r->totals.total, uses);
        if (r->coupon_verdict != COUPON_OK)
            return 0;
        discount = coupon_discount(&r->coupon, r->totals.total);
        rc = order_price(r->lines, in->nlines, discount, &r->totals);
    }
    if (rc < 0)
        return -EINVAL; /* the caller checked the lines; the discount is at most the total */
    r->order.st.payable_amount = r->totals.payable;
    r->order.total = r->totals.total;
    r->order.discount = r->totals.discount;
    return 0;
}

/* Refunds: the order's items (locked) and the domain's refund plan. */
static int plan_refund(struct db_conn *conn, const struct saga_input *in, struct saga_result *r)
{
    int rc = store_order_items_lock(conn, r->order.id, r->items, ORDER_MAX_ITEMS, &r->nitems);

    if (rc < 0)
        return rc;
    r->refund_rc = order_refund_plan(&r->order.st, r->items, r->nitems, in->item_ids, in->nitem_ids,
                                     &r->refund);
    return 0;
}

/* The new state, the history row and the refund (or the new order's rows). */
static int persist(struct db_conn *conn, const struct saga_input *in, struct saga_result *r)
{
    const struct store_order *o = &r->order;
    const char *from = order_status_name(o->st.status);
    const char *to = order_status_name(r->out.next.status);
    const char *reason = order_reason_name(r->out.reason);
    int rc;

    if (in->in == ORDER_IN_PLACE) {
        rc = store_order_insert(conn, o->id, o->user_id, in->idem_key, &r->out.next, r->lines,
                                in->nlines, &r->totals, r->item_ids);
        if (rc == 0 && in->coupon_code)
            rc = store_coupon_take(conn, &r->coupon, o->id, o->user_id, r->totals.discount);
    } else {
        /* a cancel reason is kept only when the status changes to CANCELLED / FAILED */
        rc = store_order_save(conn, o->id, &r->out.next,
                              reason && r->out.next.status != o->st.status ? reason : NULL);
    }
    /* the order's coupon use comes back once: on its step into CANCELLED or FAILED */
    if (rc == 0 && o->coupon_id && r->out.next.status != o->st.status &&
        (r->out.next.status == ORDER_CANCELLED || r->out.next.status == ORDER_FAILED))
        rc = store_coupon_give_back(conn, o->coupon_id, o->id, &r->coupon_returned);
    if (rc == 0)
        rc = store_order_history_add(conn, o->id, from, to, reason ? reason : in->note,
                                     in->event_id);
    if (rc == 0 && in->in == ORDER_IN_REFUND) {
        long long ids[ORDER_MAX_ITEMS];
        size_t n = 0;

        util_uuid(r->refund_id);
        for (size_t i = 0; i < r->nitems; i++) {
            if (r->refund.chosen[i])
                ids[n++] = r->items[i].id;
        }
        rc = store_order_refund(conn, o->id, r->refund_id, ids, n, r->refund.amount);
    }
    return rc;
}

/* Appends the event the outcome publishes, a child of @in->ctx with correlation id = the
 * order id (the saga id). The order's row is locked: see store_order.h's locking rule. */
static int publish(struct db_conn *conn, const struct saga_input *in, const struct saga_result *r)
{
    enum event_type type = order_publish_type(r->out.publish);
    const struct msgctx *ctx = in->ctx;
    struct msgctx base, child;
    struct event ev = {0};
    cJSON *data;
    int rc;

    if (type == EVENT_NONE)
        return 0;
    if (!ctx) {
        msgctx_init_request(&base, r->order.id, NULL);
        ctx = &base;
    }
    msgctx_child(ctx, &child);
    msgctx_set_correlation(&child, r->order.id);
    data = order_payload(in, r);
    if (!data)
        return -ENOMEM;
    rc = event_init(&ev, event_type_name(type), event_type_version(type), ORDER_SOURCE, r->order.id,
                    &child, data);
    if (rc == 0)
        rc = outbox_append(conn, ORDER_AGGREGATE, r->order.id, &ev);
    event_release(&ev);
    return rc;
}

/* After the commit of an applied step (its event went out at the commit: outbox.h): log,
 * count the saga's end. */
static void after_commit(const struct saga_input *in, const struct saga_result *r)
{
    const struct store_order *o = &r->order;
    const struct order_outcome *out = &r->out;
    enum order_status to = out->next.status;

    if (o->st.status == ORDER_INIT)
        log_info("order '%s' placed: %zu lines, payable %lld%s%s", o->id, in->nlines,
                 r->totals.payable, in->coupon_code ? ", coupon " : "",
                 in->coupon_code ? in->coupon_code : "");
    else if (to != o->st.status)
        log_info("order '%s': %s -> %s%s%s", o->id, order_status_name(o->st.status),
                 order_status_name(to), out->reason ? " " : "",
                 out->reason ? order_reason_name(out->reason) : "");
    if (r->coupon_returned)
        log_info("order '%s': coupon use given back", o->id);
    /* the saga ends once: the first step into CONFIRMED, CANCELLED or FAILED */
    if (to != o->st.status && !order_is_terminal(o->st.status) &&
        (to == ORDER_CONFIRMED || to == ORDER_CANCELLED || to == ORDER_FAILED)) {
        const char *reason = order_reason_name(out->reason);
        const char *labels[] = {order_status_name(to), reason ? reason : "NONE"};

        metrics_inc(OUTCOMES, labels, 1);
        metrics_observe(DURATION, NULL, o->age_s);
    }
}

int order_saga_step(struct db_conn *conn, const struct saga_input *in, struct saga_result *ret)
{
    struct order_args args = {.paid_amount = in->paid_amount,
                              .payment_id = in->payment_id,
                              .payment_amount = in->payment_amount};
    bool applied = false;
    int rc;

    memset(ret, 0, sizeof(*ret));
    ret->out.verdict = ORDER_REFUSED;
    ret->failed = "lock an order";
    rc = db_begin(conn);
    if (rc == 0 && in->inbox_group)
        rc = inbox_record(conn, in->inbox_group, in->event_id, in->inbox_type);
    if (rc == 0)
        rc = lock(conn, in, &ret->order);
    if (rc == 0)
        ret->failed = NULL;
    if (rc == 0 && in->in == ORDER_IN_PLACE) {
        rc = price(conn, in, ret);
        if (rc < 0)
            ret->failed = "lock a coupon";
    }
    if (rc == 0 && in->in == ORDER_IN_REFUND) {
        rc = plan_refund(conn, in, ret);
        if (rc < 0)
            ret->failed = "read order items";
        args.refund_all = ret->refund.all;
    }
    if (rc == 0 && ret->refund_rc == 0 && ret->coupon_verdict == COUPON_OK) {
        ret->out = order_apply(&ret->order.st, in->in, &args);
        applied = ret->out.verdict == ORDER_APPLIED;
    }
    if (rc == 0 && applied)
        rc = persist(conn, in, ret);
    if (rc == 0 && applied)
        rc = publish(conn, in, ret);
    if (rc == 0 && (applied || (in->inbox_group && ret->out.verdict != ORDER_REJECTED)))
        rc = db_commit(conn); /* an ignored event is still recorded as seen; a rejected one
                               * is dead-lettered, not seen */
    else if (rc == 0)
        db_rollback(conn); /* nothing written */
    if (rc < 0) {
        util_strlcpy(ret->errmsg, db_errmsg(conn), sizeof(ret->errmsg));
        db_rollback(conn);
        return rc;
    }
    if (applied)
        after_commit(in, ret);
    return 0;
}
