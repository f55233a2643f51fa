/*
 * log.c - JSON-lines logging. Each line is built in a local buffer and written with a single
 * write(2) so lines from different threads never interleave. Access lines, once
 * log_access_start() ran, are copied into a buffer instead, which a writer thread writes out in
 * large write(2)s: see log.h.
 */
#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/msgctx.h"
#include "common/util.h"

#define LOG_LINE_MAX 4096
/* The access writer is woken when this much waits (at most a quarter of its buffer), and
 * writes out whatever waits at least every LOG_ACCESS_FLUSH_MS. */
#define LOG_ACCESS_FLUSH_BYTES (64 * 1024)
#define LOG_ACCESS_FLUSH_MS 100L

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

/* Formats the line of @level with @msg (and the thread's message context) into @line
 * (LOG_LINE_MAX bytes, not NUL-terminated); returns its length, newline included. */
static size_t log_format(enum log_level level, const char *msg, char *line)
{
    char ts[32];
    const struct msgctx *ctx = msgctx_current();
    size_t pos = 0;

    log_timestamp(ts);
    pos += (size_t)snprintf(line, LOG_LINE_MAX, "{\"time\":\"%s\",\"level\":\"%s\"", ts,
                            level_names[level]);
    pos = put_field(line, pos, LOG_LINE_MAX - 2, "service", log_service);
    pos = put_field(line, pos, LOG_LINE_MAX - 2, "message", msg);
    if (ctx) {
        pos = put_field(line, pos, LOG_LINE_MAX - 2, "correlationId", ctx->correlation_id);
        pos = put_field(line, pos, LOG_LINE_MAX - 2, "causationId", ctx->causation_id);
        pos = put_field(line, pos, LOG_LINE_MAX - 2, "messageId", ctx->message_id);
    }
    line[pos++] = '}';
    line[pos++] = '\n';
    return pos;
}

/* Writes the line of @level with @msg (and the thread's message context) in one write(2). */
static void log_line(enum log_level level, const char *msg)
{
    char line[LOG_LINE_MAX];
    size_t n = log_format(level, msg, line);

    /* one write(2) per line; a short write to stderr is not worth retrying */
    if (write(STDERR_FILENO, line, n) < 0)
        return;
}

/* ---- the access lines' buffer ---- */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* the writer waits here (CLOCK_MONOTONIC) */
    pthread_cond_t room; /* callers wait here while half[active] is full */
    char *half[2];       /* callers fill half[active], the writer writes out the other */
    size_t cap, len;     /* each half's size; bytes in half[active] */
    size_t wake_at;      /* the writer is woken when half[active] reaches this */
    int active;
    bool running, quit;
    pthread_t thread;
} acc = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* All of @n bytes of @p to stderr (a pipe or file may take them in parts). */
static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* stderr is gone: nothing else to tell it to */
        p += w;
        n -= (size_t)w;
    }
}

/* Takes half[active] (the lock held): its bytes into *@ret_n; the other half, written out
 * before, becomes the active one, and the callers waiting for room go on. */
static char *acc_take(size_t *ret_n)
{
    char *out = acc.half[acc.active];

    *ret_n = acc.len;
    acc.len = 0;
    acc.active ^= 1;
    pthread_cond_broadcast(&acc.room);
    return out;
}

static void *acc_writer(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&acc.mu);
    for (;;) {
        struct timespec until;
        size_t n;
        char *out;
        bool quit = acc.quit;

        if (!quit && acc.len < acc.wake_at) {
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_nsec += LOG_ACCESS_FLUSH_MS * 1000000L;
            until.tv_sec += until.tv_nsec / 1000000000L;
            until.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&acc.cv, &acc.mu, &until);
            quit = acc.quit;
        }
        if (acc.len == 0) {
            if (quit)
                break;
            continue;
        }
        out = acc_take(&n);
        pthread_mutex_unlock(&acc.mu);
        /* the callers fill the other half meanwhile */
        write_all(out, n);
        pthread_mutex_lock(&acc.mu);
    }
    pthread_mutex_unlock(&acc.mu);
    return NULL;
}

int log_access_start(size_t buffer_bytes)
{
    pthread_condattr_t ca;
    int rc;

    if (acc.running || log_access_mode == LOG_ACCESS_OFF)
        return 0;
    if (buffer_bytes < LOG_LINE_MAX)
        buffer_bytes = LOG_LINE_MAX;
    acc.half[0] = malloc(buffer_bytes);
    acc.half[1] = malloc(buffer_bytes);
    if (!acc.half[0] || !acc.half[1]) {
        rc = -ENOMEM;
        goto bad;
    }
    acc.cap = buffer_bytes;
    acc.wake_at =
        buffer_bytes / 4 < LOG_ACCESS_FLUSH_BYTES ? buffer_bytes / 4 : LOG_ACCESS_FLUSH_BYTES;
    acc.len = 0;
    acc.active = 0;
    acc.quit = false;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&acc.cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&acc.room, NULL);
    rc = -pthread_create(&acc.thread, NULL, acc_writer, NULL);
    if (rc < 0) {
        pthread_cond_destroy(&acc.cv);
        pthread_cond_destroy(&acc.room);
        goto bad;
    }
    pthread_mutex_lock(&acc.mu);
    acc.running = true;
    pthread_mutex_unlock(&acc.mu);
    return 0;
bad:
    free(acc.half[0]);
    free(acc.half[1]);
    acc.half[0] = acc.half[1] = NULL;
    return rc;
}

void log_access_stop(void)
{
    if (!acc.running)
        return;
    pthread_mutex_lock(&acc.mu);
    acc.running = false; /* from now on access lines are written directly */
    acc.quit = true;
    pthread_cond_signal(&acc.cv);
    pthread_mutex_unlock(&acc.mu);
    pthread_join(acc.thread, NULL); /* it writes out what is left first */
    pthread_cond_destroy(&acc.cv);
    pthread_cond_destroy(&acc.room);
    free(acc.half[0]);
    free(acc.half[1]);
    acc.half[0] = acc.half[1] = NULL;
}

/* Copies @line into the buffer, waiting for room while it is full: true, or false when no
 * writer runs (the caller writes the line itself). */
static bool acc_put(const char *line, size_t n)
{
    bool wake;

    pthread_mutex_lock(&acc.mu);
    while (acc.running && acc.len + n > acc.cap) {
        pthread_cond_signal(&acc.cv); /* it may not know yet */
        pthread_cond_wait(&acc.room, &acc.mu);
    }
    if (!acc.running) {
        pthread_mutex_unlock(&acc.mu);
        return false;
    }
    memcpy(acc.half[acc.active] + acc.len, line, n);
    wake = acc.len < acc.wake_at && acc.len + n >= acc.wake_at;
    acc.len += n;
    pthread_mutex_unlock(&acc.mu);
    if (wake)
        pthread_cond_signal(&acc.cv);
    return true;
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
    char msg[LOG_LINE_MAX / 2], line[LOG_LINE_MAX];
    unsigned long tenths = ms > 0 ? (unsigned long)(ms * 10 + 0.5) : 0;
    size_t pos = 0, n;

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
    n = log_format(LOG_INFO, msg, line);
    if (!acc_put(line, n) && write(STDERR_FILENO, line, n) < 0)
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
