/*
 * metrics.h - a small Prometheus registry: counters, gauges and histograms with labels.
 *
 * Thread-safe. Metric families are registered once (at start) and looked up by name plus a
 * label string; series are created on first use. Label values are escaped by the registry.
 * metrics_render() produces the text exposition format (version 0.0.4).
 *
 * Naming: commerce_<what>_<unit>, e.g. commerce_http_requests_total{route,method,status}.
 */
#ifndef COMMON_METRICS_H
#define COMMON_METRICS_H

#include <stddef.h>

/* Default latency buckets in seconds (5 ms … 10 s). */
extern const double METRICS_LATENCY_BUCKETS[];
extern const size_t METRICS_LATENCY_NBUCKETS;

/* Registers a family once; later calls with the same name are no-ops. @labels is a
 * comma-separated list of label names ("route,method,status"), or "" for none.
 * Returns 0 or -EINVAL (bad name), -ENOMEM. */
int metrics_counter(const char *name, const char *help, const char *labels);
int metrics_gauge(const char *name, const char *help, const char *labels);
int metrics_histogram(const char *name, const char *help, const char *labels, const double *buckets,
                      size_t nbuckets);

/* Updates the series of family @name with label values @values (same order and count as
 * the family's label names; NULL when it has none). Unknown family: ignored (debug log). */
void metrics_inc(const char *name, const char *const *values, double by);
void metrics_set(const char *name, const char *const *values, double value);
void metrics_observe(const char *name, const char *const *values, double value);

/* A gauge whose value is read at scrape time by calling @fn(@arg) (under the registry's
 * lock: @fn must not call metrics_*()). @arg is borrowed until metrics_reset(). */
typedef double (*metrics_read_fn)(void *arg);
int metrics_gauge_fn(const char *name, const char *help, metrics_read_fn fn, void *arg);

/* Renders every family. Caller owns the result: free(). NULL on allocation failure. */
char *metrics_render(void);

/* Drops every family (tests and process exit). */
void metrics_reset(void);

#endif
