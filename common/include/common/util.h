/*
 * util.h - small helpers every module needs: ids, clocks, backoff, string copies.
 *
 * Nothing here allocates except where the comment says so.
 */
#ifndef COMMON_UTIL_H
#define COMMON_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define UTIL_UUID_LEN 37 /* 36 characters + NUL */

/* Writes a random (v4) lowercase UUID into @out (UTIL_UUID_LEN bytes). */
void util_uuid(char out[UTIL_UUID_LEN]);

/* Returns 1 if @s is a canonical lowercase or uppercase UUID string, else 0. */
int util_is_uuid(const char *s);

/* Milliseconds on the monotonic clock (for deadlines and durations). */
int64_t util_now_mono_ms(void);

/* Milliseconds since the Unix epoch (wall clock). */
int64_t util_now_ms(void);

/* Formats @epoch_ms as RFC 3339 UTC with milliseconds ("2026-11-24T20:21:00.123Z").
 * @out must hold at least 25 bytes. */
void util_rfc3339(int64_t epoch_ms, char *out, size_t outlen);

/*
 * Exponential backoff with full jitter: a random delay in [base/2, min(max, base * 2^attempt)]
 * milliseconds. @attempt counts from 0.
 */
int64_t util_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms);

/* Sleeps @ms milliseconds (restarts after EINTR). */
void util_sleep_ms(int64_t ms);

/* strlcpy semantics: copies at most @size-1 bytes, always NUL-terminates (size > 0).
 * Returns strlen(@src) so callers can detect truncation. */
size_t util_strlcpy(char *dst, const char *src, size_t size);

/* Reads the file @path whole, NUL-terminated, into *@ret (caller frees) and its length into
 * *@ret_len (may be NULL). Returns 0, -errno from fopen, -ENOMEM, -EIO (read error), or
 * -EFBIG when it is larger than @max bytes. */
int util_read_file(const char *path, size_t max, char **ret, size_t *ret_len);

/* Sets a W3C traceparent ("00-<32 hex trace id>-<16 hex span id>-01") into @out (56 bytes). */
void util_traceparent_new(char out[56]);

/* A child traceparent: same trace id as @parent (if valid), a fresh span id. */
void util_traceparent_child(const char *parent, char out[56]);

#endif
