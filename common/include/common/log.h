/*
 * log.h - JSON-lines logging to stderr.
 *
 * One JSON object per line, written with a single write(2) (access lines, once
 * log_access_start() ran, many at a time by a writer thread):
 *   {"time":"…","level":"info","service":"catalog-service","message":"…",
 *    "correlationId":"…","causationId":"…","eventId":"…"}
 * The ids come from the calling thread's current message context (msgctx.h), so every line
 * logged while handling a request or event carries them without the caller passing them.
 * Only main() and handlers log; library code returns errors instead.
 */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Sets the service name and minimum level. Call once from main() before threads start. */
void log_init(const char *service, enum log_level min_level);

/* Parses "debug", "info", "warn", "error"; returns -EINVAL for anything else. */
int log_level_parse(const char *s, enum log_level *ret_level);

/* printf-style; messages lower-case, data quoted: "failed to insert order '%s': %s". */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like log_msg() but appends ": <strerror(errno)>" (errno as it was at the call). */
void log_errno(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Which answered requests get an access line (ACCESS_LOG). */
enum log_access { LOG_ACCESS_ALL = 0, LOG_ACCESS_ERRORS, LOG_ACCESS_OFF };

/* Parses "all", "errors" (status >= 400), "off"; -EINVAL for anything else. */
int log_access_parse(const char *s, enum log_access *ret_mode);

/* Sets the access-log mode (default LOG_ACCESS_ALL). Call from main() before threads start. */
void log_access_init(enum log_access mode);

/*
 * The access line of one answered request, at info level, in the format of log_msg():
 * message "http request '<method> <path>' answered <status> in <ms> ms" (one decimal). Written
 * when the mode lets @status through and info is logged; formatted by hand into a stack
 * buffer (no printf of the message, the time's date part cached per thread). Without a writer
 * (log_access_start()) one write(2); with one, copied into its buffer.
 */
void log_access(const char *method, const char *path, int status, double ms);

/*
 * Starts the access lines' writer: from now on log_access() copies its line into a buffer of
 * @buffer_bytes (two of them: one filled while the other is written) instead of calling
 * write(2), so a request never waits for the disk or for another thread's write, and a thread
 * writes the lines out, at least every 100 ms and as soon as 64 KiB wait, in one write(2) each
 * time. Lines stay whole and in order per thread; other log lines are still written at once, so
 * an access line can follow later lines by up to that 100 ms. While the buffer is full (the log
 * written out slower than lines come, e.g. a disk that stalls) the caller waits for room, as it
 * waited for its write(2) before: no line is dropped. A process killed (SIGKILL) loses what
 * waits. Nothing with ACCESS_LOG=off. 0 or a negative errno (then lines are written directly,
 * as before). Call from main() once, before the HTTP server starts.
 */
int log_access_start(size_t buffer_bytes);

/* Writes out what waits, stops the writer; access lines are written directly again. */
void log_access_stop(void);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warnx(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_errorx(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_errno(LOG_WARN, __VA_ARGS__)

#endif
