/*
 * scripts.c - the Lua scripts that change stock, and their C callers (see scripts.h).
 *
 * Every event script starts the same way: if the event id was processed before, it answers
 * the stored status and queues the stored outcome envelope again (unless that envelope is
 * still waiting in the outbox stream), changing nothing. Otherwise it decides, changes the
 * counters, appends the outcome to the stream and records the event, all in one step.
 */
#include "scripts.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/* Shared by the event scripts: KEYS[1] inv:evt:{id}, KEYS[2] the stream; ARGV[1] ttl, the
 * last ARGV the reservation's retention (0: never expires). settle() sets that retention on
 * KEYS[3], the reservation, once it reached a terminal state (CONFIRMED, RELEASED): an open
 * reservation never expires. */
#define LUA_PRELUDE                                                                                \
    "local function fmt(n) return string.format('%d', n) end\n"                                    \
    "local function settle(res, state)\n"                                                          \
    "  redis.call('HSET', res, 'state', state)\n"                                                  \
    "  local ttl = tonumber(ARGV[#ARGV])\n"                                                        \
    "  if ttl and ttl > 0 then redis.call('EXPIRE', res, ttl) end\n"                               \
    "end\n"                                                                                        \
    "local function seen(evt, stream)\n"                                                           \
    "  local o = redis.call('HMGET', evt, 'status', 'topic', 'key', 'env', 'xid')\n"               \
    "  if not o[1] then return nil end\n"                                                          \
    "  if o[4] and o[4] ~= '' then\n"                                                              \
    "    local waiting = {}\n"                                                                     \
    "    if o[5] and o[5] ~= '' then waiting = redis.call('XRANGE', stream, o[5], o[5]) end\n"     \
    "    if #waiting == 0 then\n"                                                                  \
    "      local xid = redis.call('XADD', stream, '*', 'topic', o[2], 'key', o[3], 'env', o[4],"   \
    " 'evt', evt)\n"                                                                               \
    "      redis.call('HSET', evt, 'xid', xid)\n"                                                  \
    "    end\n"                                                                                    \
    "  end\n"                                                                                      \
    "  return {o[1], 1}\n"                                                                         \
    "end\n"                                                                                        \
    "local function done(status, topic, key, env)\n"                                               \
    "  local xid = ''\n"                                                                           \
    "  if env then\n"                                                                              \
    "    xid = redis.call('XADD', KEYS[2], '*', 'topic', topic, 'key', key, 'env', env, 'evt',"    \
    " KEYS[1])\n"                                                                                  \
    "  else\n"                                                                                     \
    "    topic, key, env = '', '', ''\n"                                                           \
    "  end\n"                                                                                      \
    "  redis.call('HSET', KEYS[1], 'status', status, 'topic', topic, 'key', key, 'env', env,"      \
    " 'xid', xid)\n"                                                                               \
    "  redis.call('EXPIRE', KEYS[1], ARGV[1])\n"                                                   \
    "  return {status, 0}\n"                                                                       \
    "end\n"                                                                                        \
    "local function items(res)\n"                                                                  \
    "  local f = redis.call('HGETALL', res)\n"                                                     \
    "  local out, lines = {}, {}\n"                                                                \
    "  for i = 1, #f, 2 do\n"                                                                      \
    "    if string.match(f[i], '^%d+$') then\n"                                                    \
    "      out[#out + 1] = '{\"skuId\":' .. f[i] .. ',\"quantity\":' .. f[i + 1] .. '}'\n"         \
    "      lines[#lines + 1] = {f[i], f[i + 1]}\n"                                                 \
    "    end\n"                                                                                    \
    "  end\n"                                                                                      \
    "  return '[' .. table.concat(out, ',') .. ']', lines\n"                                       \
    "end\n"                                                                                        \
    "local s = seen(KEYS[1], KEYS[2])\n"                                                           \
    "if s then return s end\n"

/* KEYS[3] inv:sku:{id}; ARGV[2] key, ARGV[3] quantity */
static const char lua_init[] = LUA_PRELUDE
    "if redis.call('EXISTS', KEYS[3]) == 1 then return done('EXISTS') end\n"
    "redis.call('HSET', KEYS[3], 'available', ARGV[3], 'reserved', 0, 'sold', 0, 'returned', 0,"
    " 'received', ARGV[3])\n"
    "return done('INITIALISED')\n";

/* KEYS[3] inv:res:{order}; ARGV[2] key, [3] order id JSON, [4] head ok, [5] topic ok,
 * [6] head fail, [7] topic fail, [8] '1' to wait for an unknown SKU, [9] n, then n pairs sku,
 * quantity. Waiting answers SKU_PENDING and leaves no trace: the event is not recorded, so its
 * next delivery decides afresh. */
static const char lua_reserve[] = LUA_PRELUDE
    "local state = redis.call('HGET', KEYS[3], 'state')\n"
    "if state == 'RESERVED' then\n"
    "  local js = items(KEYS[3])\n"
    "  return done('RESERVED', ARGV[5], ARGV[2],\n"
    "              ARGV[4] .. '{\"orderId\":' .. ARGV[3] .. ',\"items\":' .. js .. '}}')\n"
    "elseif state then\n"
    "  return done('ORDER_DECIDED')\n"
    "end\n"
    "local n = tonumber(ARGV[9])\n"
    "local failed, missing = {}, false\n"
    "for i = 1, n do\n"
    "  local sku, q = ARGV[8 + 2 * i], tonumber(ARGV[9 + 2 * i])\n"
    "  local a = redis.call('HGET', 'inv:sku:' .. sku, 'available')\n"
    "  local avail = a and tonumber(a) or 0\n"
    "  if not a or avail < q then\n"
    "    if not a then missing = true end\n"
    "    failed[#failed + 1] = '{\"skuId\":' .. sku .. ',\"requestedQuantity\":' .. fmt(q) ..\n"
    "                          ',\"availableQuantity\":' .. fmt(avail) .. '}'\n"
    "  end\n"
    "end\n"
    "if missing and ARGV[8] == '1' then return {'SKU_PENDING', 0} end\n"
    "if #failed > 0 then\n"
    "  local reason = missing and 'SKU_NOT_FOUND' or 'NOT_ENOUGH_STOCK'\n"
    "  return done(reason, ARGV[7], ARGV[2], ARGV[6] .. '{\"orderId\":' .. ARGV[3] ..\n"
    "              ',\"reason\":\"' .. reason .. '\",\"failedItems\":[' ..\n"
    "              table.concat(failed, ',') .. ']}}')\n"
    "end\n"
    "local out = {}\n"
    "for i = 1, n do\n"
    "  local sku, q = ARGV[8 + 2 * i], ARGV[9 + 2 * i]\n"
    "  local k = 'inv:sku:' .. sku\n"
    "  redis.call('HINCRBY', k, 'available', '-' .. q)\n"
    "  redis.call('HINCRBY', k, 'reserved', q)\n"
    "  redis.call('HSET', KEYS[3], sku, q)\n"
    "  out[i] = '{\"skuId\":' .. sku .. ',\"quantity\":' .. q .. '}'\n"
    "end\n"
    "redis.call('HSET', KEYS[3], 'state', 'RESERVED')\n"
    "return done('RESERVED', ARGV[5], ARGV[2], ARGV[4] .. '{\"orderId\":' .. ARGV[3] ..\n"
    "            ',\"items\":[' .. table.concat(out, ',') .. ']}}')\n";

/* KEYS[3] inv:res:{order}; ARGV[2] key, [3] order id JSON, [4] head ok, [5] topic ok,
 * [6] head fail, [7] topic fail */
static const char lua_confirm[] = LUA_PRELUDE
    "local state = redis.call('HGET', KEYS[3], 'state')\n"
    "if state == 'RESERVED' or state == 'CONFIRMED' then\n"
    "  local js, lines = items(KEYS[3])\n"
    "  if state == 'RESERVED' then\n"
    "    for _, l in ipairs(lines) do\n"
    "      local k = 'inv:sku:' .. l[1]\n"
    "      redis.call('HINCRBY', k, 'reserved', '-' .. l[2])\n"
    "      redis.call('HINCRBY', k, 'sold', l[2])\n"
    "    end\n"
    "    settle(KEYS[3], 'CONFIRMED')\n"
    "  end\n"
    "  return done('CONFIRMED', ARGV[5], ARGV[2],\n"
    "              ARGV[4] .. '{\"orderId\":' .. ARGV[3] .. ',\"items\":' .. js .. '}}')\n"
    "end\n"
    "local reason = state == 'RELEASED' and 'RESERVATION_RELEASED' or 'NO_RESERVATION'\n"
    "return done(reason, ARGV[7], ARGV[2], ARGV[6] .. '{\"orderId\":' .. ARGV[3] ..\n"
    "            ',\"reason\":\"' .. reason .. '\"}}')\n";

/* KEYS[3] inv:res:{order}; ARGV[2] key, [3] order id JSON, [4] head, [5] topic, [6] reason
 * JSON */
static const char lua_release[] = LUA_PRELUDE
    "local state = redis.call('HGET', KEYS[3], 'state')\n"
    "local js\n"
    "if state == 'RESERVED' then\n"
    "  local lines\n"
    "  js, lines = items(KEYS[3])\n"
    "  for _, l in ipairs(lines) do\n"
    "    local k = 'inv:sku:' .. l[1]\n"
    "    redis.call('HINCRBY', k, 'reserved', '-' .. l[2])\n"
    "    redis.call('HINCRBY', k, 'available', l[2])\n"
    "  end\n"
    /* a paid order cancelled before its confirmation arrived: order.confirmed already turned
     * the reservation into a sale, so the sale is taken back (what was not refunded yet) */
    "elseif state == 'CONFIRMED' then\n"
    "  local _, lines = items(KEYS[3])\n"
    "  local out = {}\n"
    "  for _, l in ipairs(lines) do\n"
    "    local back = tonumber(redis.call('HGET', KEYS[3], 'ret:' .. l[1]) or '0')\n"
    "    local m = tonumber(l[2]) - back\n"
    "    if m > 0 then\n"
    "      local k = 'inv:sku:' .. l[1]\n"
    "      redis.call('HINCRBY', KEYS[3], 'ret:' .. l[1], fmt(m))\n"
    "      redis.call('HINCRBY', k, 'available', fmt(m))\n"
    "      redis.call('HINCRBY', k, 'returned', fmt(m))\n"
    "      out[#out + 1] = '{\"skuId\":' .. l[1] .. ',\"quantity\":' .. fmt(m) .. '}'\n"
    "    end\n"
    "  end\n"
    "  js = '[' .. table.concat(out, ',') .. ']'\n"
    "else\n"
    "  return done('NOTHING_TO_RELEASE')\n"
    "end\n"
    "settle(KEYS[3], 'RELEASED')\n"
    "return done('RELEASED', ARGV[5], ARGV[2], ARGV[4] .. '{\"orderId\":' .. ARGV[3] ..\n"
    "            ',\"items\":' .. js .. ',\"reason\":' .. ARGV[6] .. '}}')\n";

/* KEYS[3] inv:res:{order}; ARGV[2] key, [3] n, then n pairs sku, quantity */
static const char lua_refund[] =
    LUA_PRELUDE "if redis.call('HGET', KEYS[3], 'state') ~= 'CONFIRMED' then\n"
                "  return done('NOT_CONFIRMED')\n"
                "end\n"
                "local total = 0\n"
                "for i = 1, tonumber(ARGV[3]) do\n"
                "  local sku, q = ARGV[2 + 2 * i], tonumber(ARGV[3 + 2 * i])\n"
                "  local bought = tonumber(redis.call('HGET', KEYS[3], sku) or '0')\n"
                "  local back = tonumber(redis.call('HGET', KEYS[3], 'ret:' .. sku) or '0')\n"
                "  local m = math.min(q, bought - back)\n"
                "  if m > 0 then\n"
                "    local k = 'inv:sku:' .. sku\n"
                "    redis.call('HINCRBY', KEYS[3], 'ret:' .. sku, fmt(m))\n"
                "    redis.call('HINCRBY', k, 'available', fmt(m))\n"
                "    redis.call('HINCRBY', k, 'returned', fmt(m))\n"
                "    total = total + m\n"
                "  end\n"
                "end\n"
                "local r = done('RETURNED')\n"
                "r[3] = total\n"
                "return r\n";

/* KEYS[1] (optional) the Idempotency-Key's record; ARGV[1] '1' or '-1', [2] n, [3] the
 * request's fingerprint, [4] the record's TTL in seconds, then n pairs sku, quantity. A refused
 * change records nothing (the client may fix it and retry with the same key). */
static const char lua_adjust[] =
    "local idem = KEYS[1]\n"
    "if idem then\n"
    "  local prev = redis.call('GET', idem)\n"
    "  if prev then\n"
    "    if prev == ARGV[3] then return {'REPLAYED'} end\n"
    "    return {'KEY_REUSED'}\n"
    "  end\n"
    "end\n"
    "local n = tonumber(ARGV[2])\n"
    "for i = 1, n do\n"
    "  local sku, q = ARGV[3 + 2 * i], tonumber(ARGV[4 + 2 * i])\n"
    "  local a = redis.call('HGET', 'inv:sku:' .. sku, 'available')\n"
    "  if not a then return {'SKU_NOT_FOUND', sku} end\n"
    "  if ARGV[1] == '-1' and tonumber(a) < q then return {'NOT_ENOUGH_STOCK', sku} end\n"
    "end\n"
    "local sign = ARGV[1] == '-1' and '-' or ''\n"
    "for i = 1, n do\n"
    "  local k, q = 'inv:sku:' .. ARGV[3 + 2 * i], ARGV[4 + 2 * i]\n"
    "  redis.call('HINCRBY', k, 'available', sign .. q)\n"
    "  redis.call('HINCRBY', k, 'received', sign .. q)\n"
    "end\n"
    "if idem then redis.call('SET', idem, ARGV[3], 'EX', ARGV[4]) end\n"
    "return {'OK'}\n";

/* ARGV: SKU ids. One HMGET per SKU inside one atomic step. */
static const char lua_get[] =
    "local out = {}\n"
    "for i = 1, #ARGV do\n"
    "  local v = redis.call('HMGET', 'inv:sku:' .. ARGV[i], 'available', 'reserved', 'sold',"
    " 'returned', 'received')\n"
    "  if v[1] then out[i] = v else out[i] = false end\n"
    "end\n"
    "return out\n";

enum { S_INIT, S_RESERVE, S_CONFIRM, S_RELEASE, S_REFUND, S_ADJUST, S_GET, S_COUNT };

static struct rds_script scripts[S_COUNT];
static pthread_once_t scripts_once = PTHREAD_ONCE_INIT;

static void scripts_init(void)
{
    rds_script_init(&scripts[S_INIT], lua_init);
    rds_script_init(&scripts[S_RESERVE], lua_reserve);
    rds_script_init(&scripts[S_CONFIRM], lua_confirm);
    rds_script_init(&scripts[S_RELEASE], lua_release);
    rds_script_init(&scripts[S_REFUND], lua_refund);
    rds_script_init(&scripts[S_ADJUST], lua_adjust);
    rds_script_init(&scripts[S_GET], lua_get);
}

/* Runs script @which; NULL with -EIO/-EPROTO in *@ret_rc on failure. */
static redisReply *run(struct rds_conn *conn, int which, int nkeys, const char **keys, int nargs,
                       const char **args, int *ret_rc, char *errbuf, size_t errlen)
{
    redisReply *reply;

    pthread_once(&scripts_once, scripts_init);
    reply = rds_eval(conn, &scripts[which], nkeys, keys, nargs, args, errbuf, errlen);
    if (!reply) {
        *ret_rc = -EIO;
        return NULL;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(errbuf, errlen, "redis script error: %s", reply->str);
        freeReplyObject(reply);
        *ret_rc = -EPROTO;
        return NULL;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_STRING) {
        snprintf(errbuf, errlen, "unexpected redis script reply (type %d)", reply->type);
        freeReplyObject(reply);
        *ret_rc = -EPROTO;
        return NULL;
    }
    *ret_rc = 0;
    return reply;
}

/* Calls an event script: KEYS evt, stream, @key3; ARGV ttl, @args, the reservation's
 * retention. */
static int run_event(struct rds_conn *conn, int which, const struct inv_emit *em, const char *key3,
                     int nargs, const char **args, struct inv_result *ret, char *errbuf,
                     size_t errlen)
{
    char evt[128], ttl[24], res_ttl[24];
    const char *keys[3];
    const char **argv = NULL;
    redisReply *reply = NULL;
    int rc = -ENOMEM;

    argv = calloc((size_t)nargs + 2, sizeof(*argv));
    if (!argv) {
        snprintf(errbuf, errlen, "out of memory");
        goto out;
    }
    snprintf(evt, sizeof(evt), "inv:evt:%s", em->event_id);
    snprintf(ttl, sizeof(ttl), "%ld", em->ttl_s);
    snprintf(res_ttl, sizeof(res_ttl), "%ld", em->res_ttl_s > 0 ? em->res_ttl_s : 0);
    keys[0] = evt;
    keys[1] = em->stream;
    keys[2] = key3;
    argv[0] = ttl;
    memcpy(argv + 1, args, (size_t)nargs * sizeof(*argv));
    argv[nargs + 1] = res_ttl;
    reply = run(conn, which, 3, keys, nargs + 2, argv, &rc, errbuf, errlen);
    if (!reply)
        goto out;
    memset(ret, 0, sizeof(*ret));
    util_strlcpy(ret->status, reply->element[0]->str, sizeof(ret->status));
    if (reply->elements > 1 && reply->element[1]->type == REDIS_REPLY_INTEGER)
        ret->duplicate = reply->element[1]->integer != 0;
    if (reply->elements > 2 && reply->element[2]->type == REDIS_REPLY_INTEGER)
        ret->count = reply->element[2]->integer;
    rc = 0;
out:
    if (reply)
        freeReplyObject(reply);
    free(argv);
    return rc;
}

/* Decimal text of @n lines' SKU ids and quantities, for script arguments. */
struct line_args {
    char (*num)[24];
    const char **argv;
};

/* Fills @la->argv[@at…] with sku, quantity pairs. 0 or -ENOMEM. */
static int line_args_new(struct line_args *la, size_t at, const struct stock_line *lines, size_t n)
{
    la->num = calloc(2 * n + 1, sizeof(*la->num));
    la->argv = calloc(at + 2 * n + 1, sizeof(*la->argv));
    if (!la->num || !la->argv)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        snprintf(la->num[2 * i], sizeof(la->num[0]), "%lld", lines[i].sku_id);
        snprintf(la->num[2 * i + 1], sizeof(la->num[0]), "%lld", lines[i].quantity);
        la->argv[at + 2 * i] = la->num[2 * i];
        la->argv[at + 2 * i + 1] = la->num[2 * i + 1];
    }
    return 0;
}

static void line_args_free(struct line_args *la)
{
    free(la->num);
    free(la->argv);
}

int inv_sku_init(struct rds_conn *conn, const struct inv_emit *em, long long sku_id,
                 long long quantity, struct inv_result *ret, char *errbuf, size_t errlen)
{
    char skukey[48], qty[24];
    const char *args[2];

    snprintf(skukey, sizeof(skukey), "inv:sku:%lld", sku_id);
    snprintf(qty, sizeof(qty), "%lld", quantity);
    args[0] = em->key;
    args[1] = qty;
    return run_event(conn, S_INIT, em, skukey, 2, args, ret, errbuf, errlen);
}

int inv_reserve(struct rds_conn *conn, const struct inv_emit *em, const char *order_json,
                const struct inv_head *ok, const struct inv_head *fail,
                const struct stock_line *lines, size_t n, bool wait_unknown, struct inv_result *ret,
                char *errbuf, size_t errlen)
{
    struct line_args la = {0};
    char reskey[160], count[24];
    int rc;

    rc = line_args_new(&la, 8, lines, n);
    if (rc < 0) {
        snprintf(errbuf, errlen, "out of memory");
        goto out;
    }
    snprintf(reskey, sizeof(reskey), "inv:res:%s", em->key);
    snprintf(count, sizeof(count), "%zu", n);
    la.argv[0] = em->key;
    la.argv[1] = order_json;
    la.argv[2] = ok->head;
    la.argv[3] = ok->topic;
    la.argv[4] = fail->head;
    la.argv[5] = fail->topic;
    la.argv[6] = wait_unknown ? "1" : "0";
    la.argv[7] = count;
    rc = run_event(conn, S_RESERVE, em, reskey, (int)(8 + 2 * n), la.argv, ret, errbuf, errlen);
out:
    line_args_free(&la);
    return rc;
}

int inv_confirm(struct rds_conn *conn, const struct inv_emit *em, const char *order_json,
                const struct inv_head *ok, const struct inv_head *fail, struct inv_result *ret,
                char *errbuf, size_t errlen)
{
    char reskey[160];
    const char *args[] = {em->key, order_json, ok->head, ok->topic, fail->head, fail->topic};

    snprintf(reskey, sizeof(reskey), "inv:res:%s", em->key);
    return run_event(conn, S_CONFIRM, em, reskey, 6, args, ret, errbuf, errlen);
}

int inv_release(struct rds_conn *conn, const struct inv_emit *em, const char *order_json,
                const struct inv_head *head, const char *reason_json, struct inv_result *ret,
                char *errbuf, size_t errlen)
{
    char reskey[160];
    const char *args[] = {em->key, order_json, head->head, head->topic, reason_json};

    snprintf(reskey, sizeof(reskey), "inv:res:%s", em->key);
    return run_event(conn, S_RELEASE, em, reskey, 5, args, ret, errbuf, errlen);
}

int inv_refund(struct rds_conn *conn, const struct inv_emit *em, const struct stock_line *lines,
               size_t n, struct inv_result *ret, char *errbuf, size_t errlen)
{
    struct line_args la = {0};
    char reskey[160], count[24];
    int rc;

    rc = line_args_new(&la, 2, lines, n);
    if (rc < 0) {
        snprintf(errbuf, errlen, "out of memory");
        goto out;
    }
    snprintf(reskey, sizeof(reskey), "inv:res:%s", em->key);
    snprintf(count, sizeof(count), "%zu", n);
    la.argv[0] = em->key;
    la.argv[1] = count;
    rc = run_event(conn, S_REFUND, em, reskey, (int)(2 + 2 * n), la.argv, ret, errbuf, errlen);
out:
    line_args_free(&la);
    return rc;
}

int inv_adjust(struct rds_conn *conn, int sign, const struct stock_line *lines, size_t n,
               const char *idem, enum stock_adjust *ret, long long *ret_sku, char *errbuf,
               size_t errlen)
{
    struct line_args la = {0};
    redisReply *reply = NULL;
    char count[24], ttl[24], fp[STOCK_FINGERPRINT_MAX], *idem_key = NULL;
    const char *keys[1];
    enum stock_adjust adj;
    int rc;

    if (stock_adjust_fingerprint(sign, lines, n, fp, sizeof(fp)) < 0) {
        snprintf(errbuf, errlen, "more than %d lines", STOCK_MAX_LINES);
        return -EINVAL;
    }
    rc = line_args_new(&la, 4, lines, n);
    if (rc < 0 || (idem && asprintf(&idem_key, "inv:idem:adjust:%s", idem) < 0)) {
        idem_key = NULL;
        rc = -ENOMEM;
        snprintf(errbuf, errlen, "out of memory");
        goto out;
    }
    snprintf(count, sizeof(count), "%zu", n);
    snprintf(ttl, sizeof(ttl), "%d", STOCK_IDEM_TTL_S);
    la.argv[0] = sign < 0 ? "-1" : "1";
    la.argv[1] = count;
    la.argv[2] = fp;
    la.argv[3] = ttl;
    keys[0] = idem_key;
    reply =
        run(conn, S_ADJUST, idem_key ? 1 : 0, keys, (int)(4 + 2 * n), la.argv, &rc, errbuf, errlen);
    if (!reply)
        goto out;
    if (stock_adjust_parse(reply->element[0]->str, &adj) < 0) {
        snprintf(errbuf, errlen, "unknown adjust status '%s'", reply->element[0]->str);
        rc = -EPROTO;
        goto out;
    }
    *ret = adj;
    if (adj != STOCK_ADJUST_OK && reply->elements > 1 &&
        reply->element[1]->type == REDIS_REPLY_STRING)
        *ret_sku = strtoll(reply->element[1]->str, NULL, 10);
    rc = 0;
out:
    if (reply)
        freeReplyObject(reply);
    line_args_free(&la);
    free(idem_key);
    return rc;
}

/* A counter field: an integer as text (HMGET answers bulk strings). */
static int counter(const redisReply *r, long long *ret)
{
    char *end;

    if (r->type == REDIS_REPLY_INTEGER) {
        *ret = r->integer;
        return 0;
    }
    if (r->type != REDIS_REPLY_STRING)
        return -EPROTO;
    *ret = strtoll(r->str, &end, 10);
    return end != r->str && *end == '\0' ? 0 : -EPROTO;
}

int inv_counters_from_reply(const redisReply *reply, struct stock_counters *ret)
{
    struct stock_counters c;
    long long *f[] = {&c.available, &c.reserved, &c.sold, &c.returned, &c.received};

    if (reply->type == REDIS_REPLY_NIL)
        return -ENOENT;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 5)
        return -EPROTO;
    if (reply->element[0]->type == REDIS_REPLY_NIL)
        return -ENOENT;
    for (size_t i = 0; i < 5; i++) {
        if (reply->element[i]->type == REDIS_REPLY_NIL)
            *f[i] = 0; /* a field added later: counts as zero */
        else if (counter(reply->element[i], f[i]) < 0)
            return -EPROTO;
    }
    *ret = c;
    return 0;
}

int inv_get(struct rds_conn *conn, const long long *sku_ids, size_t n, struct stock_counters *ret,
            bool *ret_found, char *errbuf, size_t errlen)
{
    char(*num)[24] = calloc(n + 1, sizeof(*num));
    const char **argv = calloc(n + 1, sizeof(*argv));
    redisReply *reply = NULL;
    int rc = -ENOMEM;

    if (!num || !argv) {
        snprintf(errbuf, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(num[i], sizeof(num[0]), "%lld", sku_ids[i]);
        argv[i] = num[i];
    }
    pthread_once(&scripts_once, scripts_init);
    reply = rds_eval(conn, &scripts[S_GET], 0, NULL, (int)n, argv, errbuf, errlen);
    rc = -EIO;
    if (!reply)
        goto out;
    rc = -EPROTO;
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(errbuf, errlen, "redis script error: %s", reply->str);
        goto out;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != n) {
        snprintf(errbuf, errlen, "unexpected redis reply to the stock read");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        int r = inv_counters_from_reply(reply->element[i], &ret[i]);

        if (r == -EPROTO) {
            snprintf(errbuf, errlen, "malformed counters of sku '%lld'", sku_ids[i]);
            goto out;
        }
        ret_found[i] = r == 0;
    }
    rc = 0;
out:
    if (reply)
        freeReplyObject(reply);
    free(num);
    free(argv);
    return rc;
}
