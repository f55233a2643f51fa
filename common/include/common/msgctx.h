/*
 * msgctx.h - MessageContext: the correlation and causation ids carried through a saga.
 *
 * The correlation id is the saga id (the order's id once an order exists); it starts at the
 * HTTP request (from an X-Correlation-Id header or a new UUID) and is copied into every event
 * published while handling that request or event. The causation id of a new event is the id
 * of the request or event being handled. traceparent follows W3C Trace Context.
 *
 * The HTTP and consumer adapters set the calling thread's *current* context before running a
 * handler and clear it after; logging and the outbox read it from there.
 */
#ifndef COMMON_MSGCTX_H
#define COMMON_MSGCTX_H

#define MSGCTX_ID_MAX 64

struct msgctx {
    char correlation_id[MSGCTX_ID_MAX];
    char causation_id[MSGCTX_ID_MAX]; /* what caused the thing being handled */
    char message_id[MSGCTX_ID_MAX];   /* id of the request or event being handled */
    char traceparent[56];
};

/* Fills @ctx for a new HTTP request: message_id = new UUID; correlation id = @correlation_id
 * if non-NULL and non-empty (a client-supplied X-Correlation-Id), else message_id; causation
 * id = message_id; traceparent continued from @traceparent when valid, else new. */
void msgctx_init_request(struct msgctx *ctx, const char *correlation_id, const char *traceparent);

/* Fills @ctx for handling a consumed event: message_id = the event id, correlation id as the
 * event's (or the event id when absent), causation id = the event's causation id. */
void msgctx_init_event(struct msgctx *ctx, const char *event_id, const char *correlation_id,
                       const char *causation_id, const char *traceparent);

/* The ids to stamp on an event published while @ctx is being handled: same correlation id,
 * causation id = @ctx->message_id, child traceparent, fresh message_id (the new event's id).
 * @ret must not be @ctx. */
void msgctx_child(const struct msgctx *ctx, struct msgctx *ret);

/* Replaces the correlation id (e.g. once the order id, the saga id, is known). */
void msgctx_set_correlation(struct msgctx *ctx, const char *correlation_id);

/* The calling thread's current context, or NULL. Borrowed: valid until msgctx_set_current(). */
const struct msgctx *msgctx_current(void);

/* Sets (or with NULL clears) the calling thread's current context. @ctx is borrowed: it
 * must outlive its time as current. */
void msgctx_set_current(const struct msgctx *ctx);

#endif
