/* msgctx.c - MessageContext: correlation/causation ids and the thread's current context. */
#include "common/msgctx.h"

#include <string.h>

#include "common/util.h"

static _Thread_local const struct msgctx *current;

static int usable_id(const char *s)
{
    size_t n;

    if (!s)
        return 0;
    n = strlen(s);
    if (n == 0 || n >= MSGCTX_ID_MAX)
        return 0;
    /* ids end up in JSON, headers and logs: keep them to a safe character set */
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:") == n;
}

void msgctx_init_request(struct msgctx *ctx, const char *correlation_id, const char *traceparent)
{
    memset(ctx, 0, sizeof(*ctx));
    util_uuid(ctx->message_id);
    util_strlcpy(ctx->correlation_id, usable_id(correlation_id) ? correlation_id : ctx->message_id,
                 sizeof(ctx->correlation_id));
    util_strlcpy(ctx->causation_id, ctx->message_id, sizeof(ctx->causation_id));
    util_traceparent_child(traceparent, ctx->traceparent);
}

void msgctx_init_event(struct msgctx *ctx, const char *event_id, const char *correlation_id,
                       const char *causation_id, const char *traceparent)
{
    memset(ctx, 0, sizeof(*ctx));
    util_strlcpy(ctx->message_id, event_id ? event_id : "", sizeof(ctx->message_id));
    util_strlcpy(ctx->correlation_id, usable_id(correlation_id) ? correlation_id : ctx->message_id,
                 sizeof(ctx->correlation_id));
    util_strlcpy(ctx->causation_id, usable_id(causation_id) ? causation_id : ctx->message_id,
                 sizeof(ctx->causation_id));
    util_traceparent_child(traceparent, ctx->traceparent);
}

void msgctx_child(const struct msgctx *ctx, struct msgctx *ret)
{
    memset(ret, 0, sizeof(*ret));
    util_uuid(ret->message_id);
    util_strlcpy(ret->correlation_id, ctx->correlation_id, sizeof(ret->correlation_id));
    util_strlcpy(ret->causation_id, ctx->message_id, sizeof(ret->causation_id));
    util_traceparent_child(ctx->traceparent, ret->traceparent);
}

void msgctx_set_correlation(struct msgctx *ctx, const char *correlation_id)
{
    if (usable_id(correlation_id))
        util_strlcpy(ctx->correlation_id, correlation_id, sizeof(ctx->correlation_id));
}

const struct msgctx *msgctx_current(void)
{
    return current;
}

void msgctx_set_current(const struct msgctx *ctx)
{
    current = ctx;
}
