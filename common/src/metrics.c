/*
 * metrics.c - the process-wide Prometheus registry behind metrics.h.
 *
 * One mutex guards everything: families live in a singly linked list in registration order,
 * each family's series in a list in creation order. Scrapes are rare and series few (routes x
 * methods x statuses), so linear look-ups are fine. Label values are escaped once, when the
 * series is created, into the "a=\"x\",b=\"y\"" string used by every render.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/metrics.h"

#define METRICS_MAX_LABELS 8

const double METRICS_LATENCY_BUCKETS[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
const size_t METRICS_LATENCY_NBUCKETS =
    sizeof(METRICS_LATENCY_BUCKETS) / sizeof(METRICS_LATENCY_BUCKETS[0]);

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

struct metrics_series {
    struct metrics_series *next;
    char **values;  /* raw label values, for look-up */
    char *labels;   /* escaped: a="x",b="y" ("" without labels) */
    double value;   /* counter, gauge */
    uint64_t *hits; /* histogram: per bucket, not cumulative */
    uint64_t count;
    double sum;
};

struct metrics_family {
    struct metrics_family *next;
    char *name;
    char *help;
    enum metrics_type type;
    size_t nlabels;
    char *label_names[METRICS_MAX_LABELS];
    double *buckets; /* histogram upper bounds, increasing, without +Inf */
    size_t nbuckets;
    metrics_read_fn fn; /* gauge read at render time, or NULL */
    void *arg;
    struct metrics_series *series, *series_tail;
};

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metrics_family *metrics_head, *metrics_tail;

/* ---- a small growable string for the renderer ---- */

struct metrics_buf {
    char *p;
    size_t len, cap;
    bool failed;
};

static void metrics_buf_add(struct metrics_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void metrics_buf_init(struct metrics_buf *b)
{
    b->len = 0;
    b->cap = 1024;
    b->p = malloc(b->cap);
    b->failed = !b->p;
    if (b->p)
        b->p[0] = '\0';
}

static void metrics_buf_add(struct metrics_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->failed)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = b->cap * 2 + (size_t)n + 1;
        char *np = realloc(b->p, ncap);
        if (!np) {
            b->failed = true;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
}

/* Shortest "%g" form that reads back as @v; Prometheus spells infinities +Inf/-Inf. */
static void metrics_fmt_double(double v, char *out, size_t outlen)
{
    if (isnan(v)) {
        snprintf(out, outlen, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, outlen, "%s", v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, outlen, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

/* ---- names and labels ---- */

static bool metrics_valid_name(const char *s, bool metric)
{
    if (!s || !*s)
        return false;
    for (const char *c = s; *c; c++) {
        bool alpha = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_' ||
                     (metric && *c == ':');
        bool digit = *c >= '0' && *c <= '9';
        if (!alpha && !(digit && c != s))
            return false;
    }
    if (!metric && strncmp(s, "__", 2) == 0)
        return false;
    return true;
}

/* Appends @s to @b with \\, \" and \n escaped (label values; help text when !@quote). */
static void metrics_buf_escaped(struct metrics_buf *b, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            metrics_buf_add(b, "\\\\");
        else if (*s == '\n')
            metrics_buf_add(b, "\\n");
        else if (*s == '"' && quote)
            metrics_buf_add(b, "\\\"");
        else
            metrics_buf_add(b, "%c", *s);
    }
}

static void metrics_series_free(struct metrics_series *s, size_t nlabels)
{
    if (!s)
        return;
    if (s->values)
        for (size_t i = 0; i < nlabels; i++)
            free(s->values[i]);
    free(s->values);
    free(s->labels);
    free(s->hits);
    free(s);
}

static void metrics_family_free(struct metrics_family *f)
{
    if (!f)
        return;
    struct metrics_series *s = f->series;
    while (s) {
        struct metrics_series *next = s->next;
        metrics_series_free(s, f->nlabels);
        s = next;
    }
    for (size_t i = 0; i < f->nlabels; i++)
        free(f->label_names[i]);
    free(f->name);
    free(f->help);
    free(f->buckets);
    free(f);
}

/* Called with the lock held. */
static struct metrics_family *metrics_find(const char *name)
{
    for (struct metrics_family *f = metrics_head; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

/* Creates the series of @f for @values (the lock held). NULL on allocation failure. */
static struct metrics_series *metrics_series_new(struct metrics_family *f,
                                                 const char *const *values)
{
    struct metrics_series *s = calloc(1, sizeof(*s));
    struct metrics_buf b;

    if (!s)
        return NULL;
    metrics_buf_init(&b);
    if (f->nlabels) {
        s->values = calloc(f->nlabels, sizeof(*s->values));
        if (!s->values)
            goto bad;
    }
    for (size_t i = 0; i < f->nlabels; i++) {
        const char *v = values[i] ? values[i] : "";
        s->values[i] = strdup(v);
        if (!s->values[i])
            goto bad;
        metrics_buf_add(&b, "%s%s=\"", i ? "," : "", f->label_names[i]);
        metrics_buf_escaped(&b, v, true);
        metrics_buf_add(&b, "\"");
    }
    if (b.failed)
        goto bad;
    s->labels = b.p;
    b.p = NULL;
    if (f->type == METRICS_HISTOGRAM) {
        s->hits = calloc(f->nbuckets ? f->nbuckets : 1, sizeof(*s->hits));
        if (!s->hits)
            goto bad;
    }
    if (f->series_tail)
        f->series_tail->next = s;
    else
        f->series = s;
    f->series_tail = s;
    return s;

bad:
    free(b.p);
    metrics_series_free(s, f->nlabels);
    return NULL;
}

/* The series of @f for @values, created on first use (the lock held). */
static struct metrics_series *metrics_series_get(struct metrics_family *f,
                                                 const char *const *values)
{
    for (struct metrics_series *s = f->series; s; s = s->next) {
        size_t i;
        for (i = 0; i < f->nlabels; i++)
            if (strcmp(s->values[i], values[i] ? values[i] : "") != 0)
                break;
        if (i == f->nlabels)
            return s;
    }
    return metrics_series_new(f, values);
}

static int metrics_register(const char *name, const char *help, const char *labels,
                            enum metrics_type type, const double *buckets, size_t nbuckets,
                            metrics_read_fn fn, void *arg)
{
    struct metrics_family *f = NULL, *old;
    int rc = 0;

    if (!metrics_valid_name(name, true) || !labels)
        return -EINVAL;
    if (type == METRICS_HISTOGRAM) {
        if (!buckets || !nbuckets) {
            buckets = METRICS_LATENCY_BUCKETS;
            nbuckets = METRICS_LATENCY_NBUCKETS;
        }
        if (isinf(buckets[nbuckets - 1]) && buckets[nbuckets - 1] > 0)
            nbuckets--; /* +Inf is implicit */
        for (size_t i = 0; i < nbuckets; i++)
            if (!isfinite(buckets[i]) || (i && buckets[i] <= buckets[i - 1]))
                return -EINVAL;
    }

    f = calloc(1, sizeof(*f));
    if (!f)
        return -ENOMEM;
    f->type = type;
    f->fn = fn;
    f->arg = arg;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    if (!f->name || !f->help) {
        rc = -ENOMEM;
        goto out;
    }
    /* label names: "a,b,c" */
    for (const char *p = labels; *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (f->nlabels == METRICS_MAX_LABELS) {
            rc = -EINVAL;
            goto out;
        }
        f->label_names[f->nlabels] = strndup(p, n);
        if (!f->label_names[f->nlabels]) {
            rc = -ENOMEM;
            goto out;
        }
        f->nlabels++;
        const char *ln = f->label_names[f->nlabels - 1];
        if (!metrics_valid_name(ln, false) ||
            (type == METRICS_HISTOGRAM && strcmp(ln, "le") == 0)) {
            rc = -EINVAL;
            goto out;
        }
        for (size_t i = 0; i + 1 < f->nlabels; i++)
            if (strcmp(f->label_names[i], ln) == 0) {
                rc = -EINVAL;
                goto out;
            }
        p += n;
        if (*p == ',')
            p++;
    }
    if (type == METRICS_HISTOGRAM && nbuckets) {
        f->buckets = malloc(nbuckets * sizeof(*f->buckets));
        if (!f->buckets) {
            rc = -ENOMEM;
            goto out;
        }
        memcpy(f->buckets, buckets, nbuckets * sizeof(*f->buckets));
        f->nbuckets = nbuckets;
    }

    pthread_mutex_lock(&metrics_lock);
    old = metrics_find(name);
    if (old) {
        /* same name again: a no-op when it is the same kind, a clash otherwise */
        rc = old->type == type && !old->fn == !fn ? 0 : -EINVAL;
        pthread_mutex_unlock(&metrics_lock);
        goto out;
    }
    /* a family without labels has its one series from the start, so it renders as 0 */
    if (f->nlabels == 0 && !fn && !metrics_series_new(f, NULL)) {
        rc = -ENOMEM;
        pthread_mutex_unlock(&metrics_lock);
        goto out;
    }
    if (metrics_tail)
        metrics_tail->next = f;
    else
        metrics_head = f;
    metrics_tail = f;
    f = NULL; /* now owned by the registry */
    pthread_mutex_unlock(&metrics_lock);

out:
    metrics_family_free(f);
    return rc;
}

int metrics_counter(const char *name, const char *help, const char *labels)
{
    return metrics_register(name, help, labels, METRICS_COUNTER, NULL, 0, NULL, NULL);
}

int metrics_gauge(const char *name, const char *help, const char *labels)
{
    return metrics_register(name, help, labels, METRICS_GAUGE, NULL, 0, NULL, NULL);
}

int metrics_histogram(const char *name, const char *help, const char *labels, const double *buckets,
                      size_t nbuckets)
{
    return metrics_register(name, help, labels, METRICS_HISTOGRAM, buckets, nbuckets, NULL, NULL);
}

int metrics_gauge_fn(const char *name, const char *help, metrics_read_fn fn, void *arg)
{
    if (!fn)
        return -EINVAL;
    return metrics_register(name, help, "", METRICS_GAUGE, NULL, 0, fn, arg);
}

enum metrics_op { METRICS_OP_INC, METRICS_OP_SET, METRICS_OP_OBSERVE };

static void metrics_update(enum metrics_op op, const char *name, const char *const *values,
                           double v)
{
    const char *why = NULL;

    pthread_mutex_lock(&metrics_lock);
    struct metrics_family *f = name ? metrics_find(name) : NULL;
    if (!f) {
        why = "unknown metric";
        goto out;
    }
    if (f->fn || (op == METRICS_OP_INC && f->type == METRICS_HISTOGRAM) ||
        (op == METRICS_OP_SET && f->type != METRICS_GAUGE) ||
        (op == METRICS_OP_OBSERVE && f->type != METRICS_HISTOGRAM)) {
        why = "wrong operation for metric";
        goto out;
    }
    if (f->nlabels && !values) {
        why = "missing label values for metric";
        goto out;
    }
    if (op == METRICS_OP_INC && f->type == METRICS_COUNTER && !(v >= 0)) {
        why = "negative increment of counter";
        goto out;
    }
    struct metrics_series *s = metrics_series_get(f, values);
    if (!s) {
        why = "out of memory for metric";
        goto out;
    }
    switch (op) {
    case METRICS_OP_INC:
        s->value += v;
        break;
    case METRICS_OP_SET:
        s->value = v;
        break;
    case METRICS_OP_OBSERVE: {
        size_t i = 0;
        while (i < f->nbuckets && v > f->buckets[i])
            i++;
        if (i < f->nbuckets)
            s->hits[i]++;
        s->count++;
        s->sum += v;
        break;
    }
    }
out:
    pthread_mutex_unlock(&metrics_lock);
    if (why)
        log_debug("%s '%s'", why, name ? name : "");
}

void metrics_inc(const char *name, const char *const *values, double by)
{
    metrics_update(METRICS_OP_INC, name, values, by);
}

void metrics_set(const char *name, const char *const *values, double value)
{
    metrics_update(METRICS_OP_SET, name, values, value);
}

void metrics_observe(const char *name, const char *const *values, double value)
{
    metrics_update(METRICS_OP_OBSERVE, name, values, value);
}

static const char *metrics_type_name(enum metrics_type type)
{
    switch (type) {
    case METRICS_COUNTER:
        return "counter";
    case METRICS_GAUGE:
        return "gauge";
    case METRICS_HISTOGRAM:
        return "histogram";
    }
    return "untyped";
}

/* One "name{labels} value" line; @extra is one more label (le="…") or NULL. */
static void metrics_render_sample(struct metrics_buf *b, const char *name, const char *suffix,
                                  const char *labels, const char *extra, const char *value)
{
    bool any = *labels || extra;

    metrics_buf_add(b, "%s%s%s%s%s%s%s %s\n", name, suffix, any ? "{" : "", labels,
                    *labels && extra ? "," : "", extra ? extra : "", any ? "}" : "", value);
}

static void metrics_render_family(struct metrics_buf *b, struct metrics_family *f)
{
    char num[64], le[80];

    metrics_buf_add(b, "# HELP %s ", f->name);
    metrics_buf_escaped(b, f->help, false);
    metrics_buf_add(b, "\n# TYPE %s %s\n", f->name, metrics_type_name(f->type));
    if (f->fn) {
        metrics_fmt_double(f->fn(f->arg), num, sizeof(num));
        metrics_render_sample(b, f->name, "", "", NULL, num);
        return;
    }
    for (struct metrics_series *s = f->series; s; s = s->next) {
        if (f->type != METRICS_HISTOGRAM) {
            metrics_fmt_double(s->value, num, sizeof(num));
            metrics_render_sample(b, f->name, "", s->labels, NULL, num);
            continue;
        }
        uint64_t cum = 0;
        for (size_t i = 0; i < f->nbuckets; i++) {
            cum += s->hits[i];
            metrics_fmt_double(f->buckets[i], num, sizeof(num));
            snprintf(le, sizeof(le), "le=\"%s\"", num);
            snprintf(num, sizeof(num), "%llu", (unsigned long long)cum);
            metrics_render_sample(b, f->name, "_bucket", s->labels, le, num);
        }
        snprintf(num, sizeof(num), "%llu", (unsigned long long)s->count);
        metrics_render_sample(b, f->name, "_bucket", s->labels, "le=\"+Inf\"", num);
        metrics_fmt_double(s->sum, num, sizeof(num));
        metrics_render_sample(b, f->name, "_sum", s->labels, NULL, num);
        snprintf(num, sizeof(num), "%llu", (unsigned long long)s->count);
        metrics_render_sample(b, f->name, "_count", s->labels, NULL, num);
    }
}

char *metrics_render(void)
{
    struct metrics_buf b;

    metrics_buf_init(&b);
    /* gauge functions run under the lock: they must not call metrics_*() */
    pthread_mutex_lock(&metrics_lock);
    for (struct metrics_family *f = metrics_head; f; f = f->next)
        metrics_render_family(&b, f);
    pthread_mutex_unlock(&metrics_lock);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

void metrics_reset(void)
{
    pthread_mutex_lock(&metrics_lock);
    struct metrics_family *f = metrics_head;
    metrics_head = metrics_tail = NULL;
    pthread_mutex_unlock(&metrics_lock);
    while (f) {
        struct metrics_family *next = f->next;
        metrics_family_free(f);
        f = next;
    }
}
