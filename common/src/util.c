/* util.c - ids, clocks, backoff and string helpers shared by every module. */
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <uuid/uuid.h>

/*
 * Random bytes for ids, trace contexts and jitter, from getrandom(2) (the kernel's CSPRNG) 256 at
 * a time per thread. Neither library is fit for an id and a span id per request and per event:
 * libuuid's uuid_generate_random() also
 * reseeds libc's random() on every call (srandom, getpid, getuid, up to 47 random() calls under
 * one process-wide lock), ~7% of a cached product read's CPU and a lock its HTTP threads queued
 * on; OpenSSL 3.0's RAND_bytes() takes a process-wide write lock on every call. A forked child
 * starts a new generation, so it never hands out bytes its parent has also used.
 */
struct util_rnd {
    unsigned char buf[256];
    size_t left; /* unused bytes at the end of buf */
    unsigned gen;
};
static _Thread_local struct util_rnd util_rnd;
static atomic_uint util_rnd_gen = 1; /* a thread's zeroed pool (gen 0) is never current */
static pthread_once_t util_rnd_once = PTHREAD_ONCE_INIT;

static void util_rnd_child(void)
{
    atomic_fetch_add(&util_rnd_gen, 1);
}

static void util_rnd_init(void)
{
    pthread_atfork(NULL, NULL, util_rnd_child);
}

/* @n (at most 16) random bytes into @out: 0, or -1 when the kernel gave none (@out is then
 * untouched). */
static int util_random(void *out, size_t n)
{
    struct util_rnd *r = &util_rnd;
    unsigned gen;

    pthread_once(&util_rnd_once, util_rnd_init);
    gen = atomic_load(&util_rnd_gen);
    if (r->gen != gen || r->left < n) {
        size_t got = 0;

        while (got < sizeof(r->buf)) {
            ssize_t k = getrandom(r->buf + got, sizeof(r->buf) - got, 0);

            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                return -1;
            got += (size_t)k;
        }
        r->left = sizeof(r->buf);
        r->gen = gen;
    }
    memcpy(out, r->buf + sizeof(r->buf) - r->left, n);
    explicit_bzero(r->buf + sizeof(r->buf) - r->left, n);
    r->left -= n;
    return 0;
}

void util_uuid(char out[UTIL_UUID_LEN])
{
    uuid_t u;

    if (util_random(u, sizeof(u)) == 0) {
        u[6] = (unsigned char)((u[6] & 0x0f) | 0x40); /* version 4: random */
        u[8] = (unsigned char)((u[8] & 0x3f) | 0x80); /* variant 1 (RFC 4122) */
    } else {
        uuid_generate_random(u);
    }
    uuid_unparse_lower(u, out);
}

int util_is_uuid(const char *s)
{
    uuid_t u;

    if (!s || strlen(s) != 36)
        return 0;
    return uuid_parse(s, u) == 0;
}

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t util_now_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

int64_t util_now_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

void util_rfc3339(int64_t epoch_ms, char *out, size_t outlen)
{
    time_t secs = (time_t)(epoch_ms / 1000);
    struct tm tm;

    gmtime_r(&secs, &tm);
    snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(epoch_ms % 1000));
}

static uint64_t rand_u64(void)
{
    uint64_t v = 0;

    if (util_random(&v, sizeof(v)) < 0)
        v = (uint64_t)util_now_mono_ms() * 6364136223846793005ULL + 1442695040888963407ULL;
    return v;
}

int64_t util_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms)
{
    int64_t ceiling = base_ms;
    int64_t floor_ms;

    if (base_ms <= 0)
        return 0;
    if (attempt < 0)
        attempt = 0;
    for (int i = 0; i < attempt && ceiling < max_ms; i++)
        ceiling *= 2;
    if (ceiling > max_ms)
        ceiling = max_ms;
    floor_ms = base_ms / 2;
    if (floor_ms >= ceiling)
        return ceiling;
    return floor_ms + (int64_t)(rand_u64() % (uint64_t)(ceiling - floor_ms + 1));
}

void util_sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

size_t util_strlcpy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);

    if (size > 0) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}

static void hex(char *out, size_t nbytes)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char buf[16];

    if (util_random(buf, nbytes) < 0) {
        uint64_t a = rand_u64(), b = rand_u64();
        memcpy(buf, &a, 8);
        memcpy(buf + 8, &b, 8);
    }
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = digits[buf[i] >> 4];
        out[2 * i + 1] = digits[buf[i] & 15];
    }
    out[2 * nbytes] = '\0';
}

/* "00-" 32 hex "-" 16 hex "-" 2 hex: 55 characters. */
static int traceparent_valid(const char *tp)
{
    if (!tp || strlen(tp) != 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-')
        return 0;
    for (int i = 0; i < 55; i++) {
        if (i == 2 || i == 35 || i == 52)
            continue;
        if (!isxdigit((unsigned char)tp[i]))
            return 0;
    }
    return strncmp(tp + 3, "00000000000000000000000000000000", 32) != 0;
}

void util_traceparent_new(char out[56])
{
    char trace[33], span[17];

    hex(trace, 16);
    hex(span, 8);
    snprintf(out, 56, "00-%s-%s-01", trace, span);
}

void util_traceparent_child(const char *parent, char out[56])
{
    char trace[33], span[17];

    if (!traceparent_valid(parent)) {
        util_traceparent_new(out);
        return;
    }
    memcpy(trace, parent + 3, 32);
    trace[32] = '\0';
    hex(span, 8);
    snprintf(out, 56, "00-%s-%s-%.2s", trace, span, parent + 53);
}

int util_read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len;
    int rc = 0;

    if (!f)
        return -errno;
    /* one read of max + 1 bytes tells "fits" from "too large" */
    buf = malloc(max + 2);
    if (!buf) {
        rc = -ENOMEM;
        goto out;
    }
    len = fread(buf, 1, max + 1, f);
    if (ferror(f))
        rc = -EIO;
    else if (len > max)
        rc = -EFBIG;
    if (rc == 0) {
        buf[len] = '\0';
        *ret = buf;
        buf = NULL;
        if (ret_len)
            *ret_len = len;
    }
out:
    free(buf);
    fclose(f);
    return rc;
}
