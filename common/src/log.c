/*
 * log.c - JSON-lines logging. Each line is built in a local buffer and written with a single
 * write(2) so lines from different threads never interleave.
 */
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/msgctx.h"
#include "common/util.h"

#define LOG_LINE_MAX 4096

static const char *log_service = "unknown";
static enum log_level log_min = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

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
    if (!value || !*value || pos + strlen(name) + 8 >= cap)
        return pos;
    pos += (size_t)snprintf(buf + pos, cap - pos, ",\"%s\":\"", name);
    pos = put_escaped(buf, pos, cap, value);
    if (pos + 1 < cap)
        buf[pos++] = '"';
    return pos;
}

static void log_emit(enum log_level level, const char *fmt, va_list ap, int err)
{
    char msg[LOG_LINE_MAX / 2];
    char line[LOG_LINE_MAX];
    char ts[32];
    const struct msgctx *ctx = msgctx_current();
    size_t pos = 0;
    int n;

    if (level < log_min)
        return;
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (err && n >= 0 && (size_t)n < sizeof(msg))
        snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(err));
    util_rfc3339(util_now_ms(), ts, sizeof(ts));

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
