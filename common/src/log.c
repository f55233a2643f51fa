/*
 * log.c - JSON-lines logging. Each line is built in a local buffer and written with a single
 * write(2) so lines from different threads never interleave.
 */
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/msgctx.h"
#include "common/util.h"

#define LOG_LINE_MAX 4096

static const char *log_service = "unknown";
static enum log_level log_min = LOG_INFO;
static enum log_access log_access_mode = LOG_ACCESS_ALL;
static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char *const access_names[] = {"all", "errors", "off"};

void log_init(const char *service, enum log_level min_level)
{
    log_service = service;
    log_min = min_level;
}

int log_level_parse(const char *s, enum log_level *ret_level)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (s && strcmp(s, level_names[i]) == 0) {
            *ret_level = (enum log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

int log_access_parse(const char *s, enum log_access *ret_mode)
{
    for (size_t i = 0; i < sizeof(access_names) / sizeof(access_names[0]); i++) {
        if (s && strcmp(s, access_names[i]) == 0) {
            *ret_mode = (enum log_access)i;
            return 0;
        }
    }
    return -EINVAL;
}

void log_access_init(enum log_access mode)
{
    log_access_mode = mode;
}

/* The current time as RFC 3339 with milliseconds into @out (32 bytes); the date and time up to
 * the second are formatted once per second per thread (gmtime_r takes a process-wide lock). */
static void log_timestamp(char *out)
{
    static _Thread_local int64_t cached_s = -1;
    static _Thread_local char cached[32]; /* "YYYY-MM-DDTHH:MM:SS" + ".mmmZ" */
    int64_t now = util_now_ms();
    int ms = (int)(now % 1000);

    if (now / 1000 != cached_s) {
        util_rfc3339(now - ms, cached, sizeof(cached));
        cached_s = now / 1000;
    }
    memcpy(out, cached, 20); /* up to and with the '.' */
    out[20] = (char)('0' + ms / 100);
    out[21] = (char)('0' + ms / 10 % 10);
    out[22] = (char)('0' + ms % 10);
    out[23] = 'Z';
    out[24] = '\0';
}

/* Appends @s JSON-escaped; stops quietly at the buffer end. */
static size_t put_escaped(char *buf, size_t pos, size_t cap, const char *s)
{
    for (; *s && pos + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[pos++] = '\\';
            buf[pos++] = (char)c;
        } else if (c == '\n') {
            buf[pos++] = '\\';
            buf[pos++] = 'n';
        } else if (c < 0x20) {
            pos += (size_t)snprintf(buf + pos, cap - pos, "\\u%04x", c);
        } else {
            buf[pos++] = (char)c;
        }
    }
    return pos;
}

static size_t put_field(char *buf, size_t pos, size_t cap, const char *name, const char *value)
{
    size_t nlen = strlen(name);

    if (!value || !*value || pos + nlen + 8 >= cap)
        return pos;
    buf[pos++] = ',';
    buf[pos++] = '"';
    memcpy(buf + pos, name, nlen);
    pos += nlen;
    memcpy(buf + pos, "\":\"", 3);
    pos += 3;
    pos = put_escaped(buf, pos, cap, value);
    if (pos + 1 < cap)
        buf[pos++] = '"';
    return pos;
}

/* Writes the line of @level with @msg (and the thread's message context) in one write(2). */
static void log_line(enum log_level level, const char *msg)
{
    char line[LOG_LINE_MAX];
    char ts[32];
    const struct msgctx *ctx = msgctx_current();
    size_t pos = 0;

    log_timestamp(ts);
    pos += (size_t)snprintf(line, sizeof(line), "{\"time\":\"%s\",\"level\":\"%s\"", ts,
                            level_names[level]);
    pos = put_field(line, pos, sizeof(line) - 2, "service", log_service);
    pos = put_field(line, pos, sizeof(line) - 2, "message", msg);
    if (ctx) {
        pos = put_field(line, pos, sizeof(line) - 2, "correlationId", ctx->correlation_id);
        pos = put_field(line, pos, sizeof(line) - 2, "causationId", ctx->causation_id);
        pos = put_field(line, pos, sizeof(line) - 2, "messageId", ctx->message_id);
    }
    line[pos++] = '}';
    line[pos++] = '\n';
    /* one write(2) per line; a short write to stderr is not worth retrying */
    if (write(STDERR_FILENO, line, pos) < 0)
        return;
}

static void log_emit(enum log_level level, const char *fmt, va_list ap, int err)
{
    char msg[LOG_LINE_MAX / 2];
    int n;

    if (level < log_min)
        return;
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (err && n >= 0 && (size_t)n < sizeof(msg))
        snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(err));
    log_line(level, msg);
}

/* Appends @s (at most what fits, NUL kept) to @buf at @pos of @cap. */
static size_t put_raw(char *buf, size_t pos, size_t cap, const char *s)
{
    size_t n = strlen(s);

    if (n > cap - 1 - pos)
        n = cap - 1 - pos;
    memcpy(buf + pos, s, n);
    pos += n;
    buf[pos] = '\0';
    return pos;
}

/* Appends the decimal @v >= 0 like put_raw(). */
static size_t put_ulong(char *buf, size_t pos, size_t cap, unsigned long v)
{
    char digits[24];
    size_t i = sizeof(digits) - 1;

    digits[i] = '\0';
    do {
        digits[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v && i);
    return put_raw(buf, pos, cap, digits + i);
}

void log_access(const char *method, const char *path, int status, double ms)
{
    char msg[LOG_LINE_MAX / 2];
    unsigned long tenths = ms > 0 ? (unsigned long)(ms * 10 + 0.5) : 0;
    size_t pos = 0;

    if (LOG_INFO < log_min || log_access_mode == LOG_ACCESS_OFF ||
        (log_access_mode == LOG_ACCESS_ERRORS && status < 400))
        return;
    /* what log_info("http request '%s %s' answered %d in %.1f ms", …) wrote, without printf */
    pos = put_raw(msg, pos, sizeof(msg), "http request '");
    pos = put_raw(msg, pos, sizeof(msg), method);
    pos = put_raw(msg, pos, sizeof(msg), " ");
    pos = put_raw(msg, pos, sizeof(msg), path);
    pos = put_raw(msg, pos, sizeof(msg), "' answered ");
    pos = put_ulong(msg, pos, sizeof(msg), status > 0 ? (unsigned long)status : 0);
    pos = put_raw(msg, pos, sizeof(msg), " in ");
    pos = put_ulong(msg, pos, sizeof(msg), tenths / 10);
    pos = put_raw(msg, pos, sizeof(msg), ".");
    pos = put_ulong(msg, pos, sizeof(msg), tenths % 10);
    put_raw(msg, pos, sizeof(msg), " ms");
    log_line(LOG_INFO, msg);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_emit(level, fmt, ap, 0);
    va_end(ap);
}

void log_errno(enum log_level level, const char *fmt, ...)
{
    int err = errno;
    va_list ap;

    va_start(ap, fmt);
    log_emit(level, fmt, ap, err);
    va_end(ap);
}
