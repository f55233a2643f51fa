/*
 * zz_merge_shims.c - MERGE-SHIM (the whole file): relay.h on today's code until the relay's
 * own implementation is merged; the merger deletes this file.
 *   - the outbox source: a struct relay * here IS the struct outbox_relay * (order-service's
 *     app.h still holds one and kicks it with outbox_relay_kick()),
 *   - the stream source: inventory-service's relay.c (not in common/ yet) through the two
 *     function pointers its main.c sets.
 */
#include <stdlib.h>

#include "common/outbox.h"
#include "common/relay.h"

void *(*shim_stream_start)(const struct relay_stream_opts *o, struct kafka_producer *p, int poll_ms,
                           char *errbuf, size_t errlen);
void (*shim_stream_stop)(void *r);

struct relay_source {
    struct db_pool *pool; /* the outbox table; NULL: the stream */
    struct relay_stream_opts stream;
};

static void *shim_stream; /* the one stream relay (inventory-service) */

struct relay *relay_start(const struct relay_opts *opts, struct relay_source *src, char *errbuf,
                          size_t errlen)
{
    struct relay_source s = *src;
    void *r;

    free(src);
    if (s.pool) {
        struct outbox_relay_opts o = {
            .pool = s.pool, .producer = opts->producer, .poll_ms = opts->poll_ms};

        return (struct relay *)outbox_relay_start(&o, errbuf, errlen);
    }
    r = shim_stream_start(&s.stream, opts->producer, opts->poll_ms, errbuf, errlen);
    shim_stream = r;
    return r;
}

void relay_kick(struct relay *r)
{
    if (r && (void *)r != shim_stream)
        outbox_relay_kick((struct outbox_relay *)r);
}

void relay_stop(struct relay *r)
{
    if (r && (void *)r == shim_stream)
        shim_stream_stop(r);
    else
        outbox_relay_stop((struct outbox_relay *)r);
}

struct relay_source *relay_outbox_source(struct db_pool *pool)
{
    struct relay_source *s = calloc(1, sizeof(*s));

    if (s)
        s->pool = pool;
    return s;
}

struct relay_source *relay_stream_source(const struct relay_stream_opts *opts)
{
    struct relay_source *s = calloc(1, sizeof(*s));

    if (s)
        s->stream = *opts;
    return s;
}
