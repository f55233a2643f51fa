/* payloads.c - the data of every event order-service publishes, built from a saga step's
 * outcome (docs/saga.md has the fields). The one place a payload field is added. */
#include "common/event_types.h"
#include "saga.h"

enum event_type order_publish_type(enum order_publish pub)
{
    switch (pub) {
    case ORDER_PUB_PLACED:
        return EVENT_ORDER_PLACED;
    case ORDER_PUB_CONFIRMED:
        return EVENT_ORDER_CONFIRMED;
    case ORDER_PUB_CANCELLED:
        return EVENT_ORDER_CANCELLED;
    case ORDER_PUB_REFUNDED:
        return EVENT_ORDER_REFUNDED;
    default:
        return EVENT_NONE;
    }
}

/* order.placed v2: the priced lines with their new ids (discountAmount: the coupon's, computed
 * by the step), currency, the shipping address. */
static void placed(cJSON *data, const struct saga_input *in, const struct saga_result *r)
{
    const struct order_totals *t = &r->totals;
    cJSON *items;

    cJSON_AddNumberToObject(data, "totalAmount", (double)t->total);
    cJSON_AddNumberToObject(data, "discountAmount", (double)t->discount);
    cJSON_AddNumberToObject(data, "payableAmount", (double)t->payable);
    items = cJSON_AddArrayToObject(data, "items");
    for (size_t i = 0; items && i < in->nlines; i++) {
        const struct order_line *l = &r->lines[i];
        cJSON *it = cJSON_CreateObject();

        if (!it)
            break;
        cJSON_AddItemToArray(items, it);
        cJSON_AddNumberToObject(it, "orderItemId", (double)r->item_ids[i]);
        cJSON_AddNumberToObject(it, "skuId", (double)l->sku_id);
        cJSON_AddNumberToObject(it, "quantity", (double)l->quantity);
        cJSON_AddNumberToObject(it, "unitPrice", (double)l->unit_price);
        cJSON_AddNumberToObject(it, "amount", (double)l->amount);
    }
    cJSON_AddStringToObject(data, "currency", "KRW");
    if (in->shipping)
        cJSON_AddItemToObject(data, "shippingAddress", cJSON_Duplicate(in->shipping, true));
}

/* order.refunded: the refund and its items. */
static void refunded(cJSON *data, const struct saga_result *r)
{
    cJSON *items;

    cJSON_AddStringToObject(data, "refundId", r->refund_id);
    cJSON_AddNumberToObject(data, "amount", (double)r->refund.amount);
    items = cJSON_AddArrayToObject(data, "items");
    for (size_t i = 0; items && i < r->nitems; i++) {
        const struct order_item *item = &r->items[i];
        cJSON *it;

        if (!r->refund.chosen[i])
            continue;
        it = cJSON_CreateObject();
        if (!it)
            break;
        cJSON_AddItemToArray(items, it);
        cJSON_AddNumberToObject(it, "orderItemId", (double)item->id);
        cJSON_AddNumberToObject(it, "skuId", (double)item->sku_id);
        cJSON_AddNumberToObject(it, "quantity", (double)item->quantity);
        cJSON_AddNumberToObject(it, "amount", (double)item->amount);
    }
}

cJSON *order_payload(const struct saga_input *in, const struct saga_result *r)
{
    const char *reason = order_reason_name(r->out.reason);
    cJSON *data;

    if (r->out.publish == ORDER_PUB_NONE)
        return NULL;
    data = cJSON_CreateObject();
    if (!data)
        return NULL;
    cJSON_AddStringToObject(data, "orderId", r->order.id);
    cJSON_AddStringToObject(data, "userId", r->order.user_id);
    switch (r->out.publish) {
    case ORDER_PUB_PLACED:
        placed(data, in, r);
        break;
    case ORDER_PUB_CONFIRMED:
        cJSON_AddNumberToObject(data, "payableAmount", (double)r->order.st.payable_amount);
        break;
    case ORDER_PUB_CANCELLED:
        cJSON_AddStringToObject(data, "reason", reason ? reason : "");
        cJSON_AddStringToObject(data, "status", order_status_name(r->out.next.status));
        break;
    case ORDER_PUB_REFUNDED:
        refunded(data, r);
        break;
    default:
        break;
    }
    return data;
}
