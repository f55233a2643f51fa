/*
 * contracts.c - loading the contracts folder and the compatibility gate (see contracts.h).
 *
 * The gate compares schema documents directly (they are known to use only jschema's keyword
 * subset, because each compiled), one object level at a time.
 */
#include "common/contracts.h"
#include "common/metrics.h"
#include "common/upcast.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CONTRACTS_URN_PREFIX "urn:commerce:event:"
#define CONTRACTS_MAX_FILE (1024 * 1024)

struct contracts_type {
    char name[64];
    enum contracts_mode mode;
    int nversions;
    struct jschema *versions[CONTRACTS_MAX_VERSIONS]; /* [v - 1], owned */
};

struct contracts {
    struct contracts_type *types; /* sorted by name */
    size_t ntypes;
    struct jschema *envelope; /* owned; NULL when absent */
    enum contracts_mode default_mode;
};

static const char *const MODE_NAMES[] = {
    [CONTRACTS_NONE] = "NONE",
    [CONTRACTS_BACKWARD] = "BACKWARD",
    [CONTRACTS_BACKWARD_TRANSITIVE] = "BACKWARD_TRANSITIVE",
    [CONTRACTS_FORWARD] = "FORWARD",
    [CONTRACTS_FORWARD_TRANSITIVE] = "FORWARD_TRANSITIVE",
    [CONTRACTS_FULL] = "FULL",
    [CONTRACTS_FULL_TRANSITIVE] = "FULL_TRANSITIVE",
};

const char *contracts_mode_name(enum contracts_mode mode)
{
    if ((size_t)mode >= sizeof(MODE_NAMES) / sizeof(MODE_NAMES[0]))
        return "?";
    return MODE_NAMES[mode];
}

int contracts_mode_parse(const char *name, enum contracts_mode *ret)
{
    for (size_t i = 0; name && i < sizeof(MODE_NAMES) / sizeof(MODE_NAMES[0]); i++) {
        if (strcmp(name, MODE_NAMES[i]) == 0) {
            *ret = (enum contracts_mode)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* ---- loading ---- */

static void errf(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void errf(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!errbuf || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

/* Reads the JSON file @path; -errno, -EFBIG, -EINVAL (not JSON). Caller owns *@ret. */
static int read_json_file(const char *path, cJSON **ret, char *errbuf, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int r = util_read_file(path, CONTRACTS_MAX_FILE, &text, &len);

    if (r == -EIO || r == -EFBIG)
        errf(errbuf, errlen, "%s: %s", path, r == -EIO ? "read error" : "file too large");
    else if (r < 0)
        errf(errbuf, errlen, "%s: %s", path, strerror(-r));
    if (r < 0)
        return r;
    *ret = cJSON_ParseWithLength(text, len);
    if (!*ret) {
        r = -EINVAL;
        errf(errbuf, errlen, "%s: not valid JSON", path);
    }
    free(text);
    return r;
}

static bool is_type_name(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= sizeof(((struct contracts_type *)0)->name) || s[0] == '.')
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '.' || *s == '-' ||
              *s == '_'))
            return false;
    return true;
}

/* "v12.json" → 12; 0 when @name is not a version file. */
static int version_of(const char *name)
{
    char *end;
    long v;

    if (name[0] != 'v' || name[1] < '1' || name[1] > '9')
        return 0;
    v = strtol(name + 1, &end, 10);
    if (strcmp(end, ".json") != 0 || v < 1 || v > CONTRACTS_MAX_VERSIONS)
        return 0;
    return (int)v;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void type_release(struct contracts_type *t)
{
    for (int i = 0; i < CONTRACTS_MAX_VERSIONS; i++)
        jschema_free(t->versions[i]);
}

static int load_type(const char *dir, struct contracts_type *t, char *errbuf, size_t errlen)
{
    char path[1024], urn[160];
    struct dirent *de;
    DIR *d;
    int r = 0;

    snprintf(path, sizeof(path), "%s/%s", dir, t->name);
    d = opendir(path);
    if (!d) {
        r = -errno;
        errf(errbuf, errlen, "%s: %s", path, strerror(-r));
        return r;
    }
    while ((de = readdir(d))) {
        int v = version_of(de->d_name);

        if (de->d_name[0] == '.')
            continue;
        if (!v) {
            if (ends_with(de->d_name, ".json")) {
                errf(errbuf, errlen, "%s/%s/%s: not a version file (want v<N>.json, N 1..%d)", dir,
                     t->name, de->d_name, CONTRACTS_MAX_VERSIONS);
                r = -EINVAL;
                goto out;
            }
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s/%s", dir, t->name, de->d_name);
        r = jschema_load_file(path, &t->versions[v - 1], errbuf, errlen);
        if (r < 0) {
            if (r == -EOPNOTSUPP)
                r = -EINVAL;
            goto out;
        }
        snprintf(urn, sizeof(urn), CONTRACTS_URN_PREFIX "%s:v%d", t->name, v);
        if (!jschema_id(t->versions[v - 1]) || strcmp(jschema_id(t->versions[v - 1]), urn) != 0) {
            errf(errbuf, errlen, "%s: \"$id\" must be \"%s\"", path, urn);
            r = -EINVAL;
            goto out;
        }
        if (v > t->nversions)
            t->nversions = v;
    }
    if (t->nversions == 0) {
        errf(errbuf, errlen, "%s/%s: no v<N>.json schema", dir, t->name);
        r = -EINVAL;
        goto out;
    }
    for (int v = 1; v <= t->nversions; v++) {
        if (!t->versions[v - 1]) {
            errf(errbuf, errlen, "%s/%s: v%d.json missing (versions run 1..%d without gaps)", dir,
                 t->name, v, t->nversions);
            r = -EINVAL;
            goto out;
        }
    }
out:
    closedir(d);
    return r;
}

static struct contracts_type *find_type(const struct contracts *c, const char *type)
{
    for (size_t i = 0; type && i < c->ntypes; i++)
        if (strcmp(c->types[i].name, type) == 0)
            return &c->types[i];
    return NULL;
}

static int load_modes(const char *dir, struct contracts *c, char *errbuf, size_t errlen)
{
    char path[1024];
    const cJSON *def, *types, *entry;
    cJSON *doc = NULL;
    struct stat st;
    int r;

    snprintf(path, sizeof(path), "%s/compatibility.json", dir);
    if (stat(path, &st) < 0)
        return 0;
    r = read_json_file(path, &doc, errbuf, errlen);
    if (r < 0)
        return r;
    def = cJSON_GetObjectItemCaseSensitive(doc, "default");
    types = cJSON_GetObjectItemCaseSensitive(doc, "types");
    if (def && contracts_mode_parse(cJSON_GetStringValue(def), &c->default_mode) < 0) {
        errf(errbuf, errlen, "%s: /default: unknown mode", path);
        r = -EINVAL;
        goto out;
    }
    for (size_t i = 0; i < c->ntypes; i++)
        c->types[i].mode = c->default_mode;
    if (types && !cJSON_IsObject(types)) {
        errf(errbuf, errlen, "%s: /types must be an object", path);
        r = -EINVAL;
        goto out;
    }
    cJSON_ArrayForEach (entry, types) {
        struct contracts_type *t = find_type(c, entry->string);

        if (!t) {
            errf(errbuf, errlen, "%s: /types: no schema folder for type '%s'", path, entry->string);
            r = -EINVAL;
            goto out;
        }
        if (contracts_mode_parse(cJSON_GetStringValue(entry), &t->mode) < 0) {
            errf(errbuf, errlen, "%s: /types/%s: unknown mode", path, entry->string);
            r = -EINVAL;
            goto out;
        }
    }
out:
    cJSON_Delete(doc);
    return r;
}

static int cmp_types(const void *a, const void *b)
{
    return strcmp(((const struct contracts_type *)a)->name,
                  ((const struct contracts_type *)b)->name);
}

int contracts_load(const char *dir, struct contracts **ret, char *errbuf, size_t errlen)
{
    struct contracts *c;
    struct dirent *de;
    char path[1024];
    struct stat st;
    DIR *d;
    int r = 0;

    errf(errbuf, errlen, "%s", "");
    d = opendir(dir);
    if (!d) {
        r = -errno;
        errf(errbuf, errlen, "contracts folder '%s': %s", dir, strerror(-r));
        return r;
    }
    c = calloc(1, sizeof(*c));
    if (!c || !(c->types = calloc(CONTRACTS_MAX_TYPES, sizeof(*c->types)))) {
        r = -ENOMEM;
        goto out;
    }
    c->default_mode = CONTRACTS_BACKWARD_TRANSITIVE;
    while ((de = readdir(d))) {
        struct contracts_type *t;

        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
            continue;
        if (!is_type_name(de->d_name)) {
            errf(errbuf, errlen, "%s: not an event type name", path);
            r = -EINVAL;
            goto out;
        }
        if (c->ntypes == CONTRACTS_MAX_TYPES) {
            errf(errbuf, errlen, "%s: more than %d event types", dir, CONTRACTS_MAX_TYPES);
            r = -EINVAL;
            goto out;
        }
        t = &c->types[c->ntypes++];
        memcpy(t->name, de->d_name, strlen(de->d_name) + 1); /* length checked above */
        t->mode = c->default_mode;
        r = load_type(dir, t, errbuf, errlen);
        if (r < 0)
            goto out;
    }
    qsort(c->types, c->ntypes, sizeof(*c->types), cmp_types);
    r = load_modes(dir, c, errbuf, errlen);
    if (r < 0)
        goto out;
    snprintf(path, sizeof(path), "%s/envelope.json", dir);
    if (stat(path, &st) == 0) {
        r = jschema_load_file(path, &c->envelope, errbuf, errlen);
        if (r < 0) {
            if (r == -EOPNOTSUPP)
                r = -EINVAL;
            goto out;
        }
    }
out:
    closedir(d);
    if (r < 0) {
        if (r == -ENOMEM)
            errf(errbuf, errlen, "out of memory");
        contracts_free(c);
        return r;
    }
    *ret = c;
    return 0;
}

int contracts_load_default(const char *dir, struct contracts **ret, char *errbuf, size_t errlen)
{
    if (!dir || !*dir)
        dir = CONTRACTS_DEFAULT_DIR;
    return contracts_load(dir, ret, errbuf, errlen);
}

void contracts_free(struct contracts *c)
{
    if (!c)
        return;
    for (size_t i = 0; c->types && i < c->ntypes; i++)
        type_release(&c->types[i]);
    free(c->types);
    jschema_free(c->envelope);
    free(c);
}

size_t contracts_ntypes(const struct contracts *c)
{
    return c->ntypes;
}

const char *contracts_type(const struct contracts *c, size_t i)
{
    return i < c->ntypes ? c->types[i].name : NULL;
}

int contracts_latest(const struct contracts *c, const char *type)
{
    const struct contracts_type *t = find_type(c, type);

    return t ? t->nversions : 0;
}

enum contracts_mode contracts_mode(const struct contracts *c, const char *type)
{
    const struct contracts_type *t = find_type(c, type);

    return t ? t->mode : c->default_mode;
}

const struct jschema *contracts_schema(const struct contracts *c, const char *type, int version)
{
    const struct contracts_type *t = find_type(c, type);

    if (!t || version < 1 || version > t->nversions)
        return NULL;
    return t->versions[version - 1];
}

const struct jschema *contracts_envelope(const struct contracts *c)
{
    return c->envelope;
}

int contracts_validate(const struct contracts *c, const char *type, int version, const cJSON *data,
                       char *errbuf, size_t errlen)
{
    const struct jschema *schema = contracts_schema(c, type, version);

    if (!schema) {
        errf(errbuf, errlen, "no schema for %s v%d", type ? type : "(null)", version);
        return -ENOENT;
    }
    return jschema_validate(schema, data, errbuf, errlen);
}

/* ---- the consumer's payload check ---- */

int contracts_check_payload(const struct contracts *c, enum contracts_policy policy,
                            struct event *ev, int max_version, char *reason, size_t reasonlen)
{
    char err[400];
    int rc, to, verdict = 0;

    if (c) {
        err[0] = '\0';
        rc = contracts_validate(c, ev->type, ev->version, ev->data, err, sizeof(err));
        if (rc == -ENOENT) {
            snprintf(reason, reasonlen, "schema: no schema for '%s' v%d", ev->type, ev->version);
            return -ENOENT;
        }
        if (rc < 0) {
            snprintf(reason, reasonlen, "schema: %s", err);
            if (policy != CONTRACTS_LENIENT_V1 || ev->version != 1)
                return -EINVAL;
            verdict = CONTRACTS_CHECK_LENIENT;
        }
    }
    for (to = ev->version; to < max_version && upcast_find(ev->type, to); to++)
        ;
    if (to == ev->version)
        return verdict;
    err[0] = '\0';
    rc = upcast_to(ev->type, ev->version, to, ev->data, err, sizeof(err));
    if (rc < 0) {
        snprintf(reason, reasonlen, "upcast: %s", err);
        return -EINVAL;
    }
    ev->version = to;
    event_schema_urn(ev->type, to, ev->dataschema, sizeof(ev->dataschema));
    return verdict;
}

/* ---- the producer rule ---- */

int contracts_check_source(const struct event *ev, char *reason, size_t reasonlen)
{
    const char *producer = event_type_producer(event_type_parse(ev->type));

    if (!producer) {
        snprintf(reason, reasonlen, "source: no producer is named for '%s'", ev->type);
        return -EPERM;
    }
    if (ev->source[0] == '/' && strcmp(ev->source + 1, producer) == 0)
        return 0;
    snprintf(reason, reasonlen, "source: '%s' is not the producer of %s ('/%s')", ev->source,
             ev->type, producer);
    return -EPERM;
}

/* The consumer's check (both policies): who produced the event, then its payload. A refusal
 * of the producer rule is counted in the consumer's commerce_events_consumed_total (registered
 * by kafka_consumer.c; a no-op where no consumer registered it) as result="wrong_source",
 * beside the "dead_lettered" the consumer counts for the same event. */
static int check_event(const struct contracts *c, enum contracts_policy policy, struct event *ev,
                       int max_version, char *reason, size_t reasonlen)
{
    if (contracts_check_source(ev, reason, reasonlen) < 0) {
        const char *labels[] = {ev->type, "wrong_source"};

        metrics_inc("commerce_events_consumed_total", labels, 1);
        return -EPERM;
    }
    return contracts_check_payload(c, policy, ev, max_version, reason, reasonlen);
}

int contracts_check_event(struct event *ev, int max_version, const void *arg, char *reason,
                          size_t reasonlen)
{
    return check_event(arg, CONTRACTS_ENFORCE, ev, max_version, reason, reasonlen);
}

int contracts_check_event_lenient_v1(struct event *ev, int max_version, const void *arg,
                                     char *reason, size_t reasonlen)
{
    return check_event(arg, CONTRACTS_LENIENT_V1, ev, max_version, reason, reasonlen);
}

/* ---- comparing two versions ---- */

struct contracts_cmp {
    unsigned rules;
    struct contracts_violation v; /* type and versions; rule, field, detail set per report */
    contracts_report_fn report;
    void *arg;
    int count;
};

static void violation(struct contracts_cmp *cmp, const char *rule, const char *field,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void violation(struct contracts_cmp *cmp, const char *rule, const char *field,
                      const char *fmt, ...)
{
    char detail[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    struct contracts_violation v = cmp->v;

    v.rule = rule;
    v.field = field;
    v.detail = detail;
    cmp->count++;
    if (cmp->report)
        cmp->report(&v, cmp->arg);
}

static void fmt_num(double d, char *out, size_t outlen)
{
    if (d == floor(d) && fabs(d) < 1e15)
        snprintf(out, outlen, "%.0f", d);
    else
        snprintf(out, outlen, "%.17g", d);
}

/* NULL and true both mean "anything"; false means "nothing". */
static bool schema_any(const cJSON *s)
{
    return !s || cJSON_IsTrue(s);
}

static const cJSON *kw(const cJSON *s, const char *name)
{
    return cJSON_IsObject(s) ? cJSON_GetObjectItemCaseSensitive(s, name) : NULL;
}

static unsigned types_of(const cJSON *s)
{
    const cJSON *t = kw(s, "type"), *el;
    unsigned mask = 0;

    if (!t)
        return JSCHEMA_T_ANY;
    if (cJSON_IsString(t))
        return jschema_type_bit(t->valuestring);
    cJSON_ArrayForEach (el, t)
        mask |= jschema_type_bit(cJSON_GetStringValue(el));
    return mask;
}

/* Does a reader accepting @reader types accept every value of @writer types? */
static bool types_cover(unsigned reader, unsigned writer)
{
    if (reader & JSCHEMA_T_NUMBER)
        reader |= JSCHEMA_T_INTEGER;
    return (writer & ~reader) == 0;
}

static void types_str(unsigned mask, char *out, size_t outlen)
{
    size_t len = 0;

    if ((mask & JSCHEMA_T_ANY) == JSCHEMA_T_ANY) {
        snprintf(out, outlen, "any");
        return;
    }
    out[0] = '\0';
    for (unsigned bit = 1; bit <= JSCHEMA_T_INTEGER && len < outlen; bit <<= 1)
        if (mask & bit)
            len += (size_t)snprintf(out + len, outlen - len, "%s%s", len ? "|" : "",
                                    jschema_type_name(bit));
}

/* The allowed values: the enum array, or a const as a one-element list; NULL = unrestricted. */
static bool value_in(const cJSON *list, const cJSON *single, const cJSON *v)
{
    const cJSON *el;

    if (single)
        return jschema_equal(single, v);
    cJSON_ArrayForEach (el, list)
        if (jschema_equal(el, v))
            return true;
    return false;
}

/* Reports each value allowed by (@wlist|@wsingle) but not by (@rlist|@rsingle). */
static void enum_cover(struct contracts_cmp *cmp, const char *field, const cJSON *rlist,
                       const cJSON *rsingle, const cJSON *wlist, const cJSON *wsingle,
                       const char *rule, const char *verb)
{
    const cJSON *el;

    if (!rlist && !rsingle)
        return;
    if (!wlist && !wsingle) {
        violation(cmp, rule, field, "an enum/const now %s values", verb);
        return;
    }
    if (wsingle) {
        if (!value_in(rlist, rsingle, wsingle)) {
            char *json = cJSON_PrintUnformatted(wsingle);

            violation(cmp, rule, field, "value %s %s", json ? json : "?", verb);
            cJSON_free(json);
        }
        return;
    }
    cJSON_ArrayForEach (el, wlist) {
        if (!value_in(rlist, rsingle, el)) {
            char *json = cJSON_PrintUnformatted(el);

            violation(cmp, rule, field, "value %s %s", json ? json : "?", verb);
            cJSON_free(json);
        }
    }
}

struct bound {
    bool has;
    double v;
    bool excl;
};

static struct bound bound_of(const cJSON *s, const char *incl, const char *excl, bool lower)
{
    const cJSON *i = kw(s, incl), *e = kw(s, excl);
    struct bound b = {0};

    if (cJSON_IsNumber(i)) {
        b.has = true;
        b.v = i->valuedouble;
    }
    if (cJSON_IsNumber(e) && (!b.has || (lower ? e->valuedouble >= b.v : e->valuedouble <= b.v))) {
        b.has = true;
        b.v = e->valuedouble;
        b.excl = true;
    }
    return b;
}

/* Is the reader's lower (@lower) or upper bound @r at least as permissive as the writer's @w? */
static bool bound_covers(struct bound r, struct bound w, bool lower)
{
    if (!r.has)
        return true;
    if (!w.has)
        return false;
    if (r.v != w.v)
        return lower ? r.v < w.v : r.v > w.v;
    return !r.excl || w.excl;
}

static void bound_str(struct bound b, const char *name, char *out, size_t outlen)
{
    char num[40];

    if (!b.has) {
        snprintf(out, outlen, "no %s", name);
        return;
    }
    fmt_num(b.v, num, sizeof(num));
    snprintf(out, outlen, "%s%s %s", b.excl ? "exclusive " : "", name, num);
}

static void range_check(struct contracts_cmp *cmp, const char *field, const cJSON *old_s,
                        const cJSON *new_s)
{
    static const struct {
        const char *incl, *excl, *name;
        bool lower;
    } BOUNDS[] = {
        {"minimum", "exclusiveMinimum", "minimum", true},
        {"maximum", "exclusiveMaximum", "maximum", false},
    };

    for (size_t i = 0; i < 2; i++) {
        struct bound o = bound_of(old_s, BOUNDS[i].incl, BOUNDS[i].excl, BOUNDS[i].lower);
        struct bound n = bound_of(new_s, BOUNDS[i].incl, BOUNDS[i].excl, BOUNDS[i].lower);
        char os[64], ns[64];

        bound_str(o, BOUNDS[i].name, os, sizeof(os));
        bound_str(n, BOUNDS[i].name, ns, sizeof(ns));
        if ((cmp->rules & CONTRACTS_RULES_BACKWARD) && !bound_covers(n, o, BOUNDS[i].lower))
            violation(cmp, "range-narrowed", field, "%s became %s (old values refused)", os, ns);
        if ((cmp->rules & CONTRACTS_RULES_FORWARD) && !bound_covers(o, n, BOUNDS[i].lower))
            violation(cmp, "range-widened", field, "%s became %s (old readers refuse)", os, ns);
    }
}

static void length_check(struct contracts_cmp *cmp, const char *field, const cJSON *old_s,
                         const cJSON *new_s)
{
    static const char *const PAIRS[][2] = {{"minLength", "maxLength"}, {"minItems", "maxItems"}};

    for (size_t i = 0; i < 2; i++) {
        const cJSON *omin = kw(old_s, PAIRS[i][0]), *nmin = kw(new_s, PAIRS[i][0]);
        const cJSON *omax = kw(old_s, PAIRS[i][1]), *nmax = kw(new_s, PAIRS[i][1]);
        double o_lo = omin ? omin->valuedouble : 0, n_lo = nmin ? nmin->valuedouble : 0;
        double o_hi = omax ? omax->valuedouble : INFINITY,
               n_hi = nmax ? nmax->valuedouble : INFINITY;

        if (n_lo > o_lo || n_hi < o_hi) {
            if (cmp->rules & CONTRACTS_RULES_BACKWARD)
                violation(cmp, "length-narrowed", field, "%s/%s %.0f..%.0f became %.0f..%.0f",
                          PAIRS[i][0], PAIRS[i][1], o_lo, o_hi, n_lo, n_hi);
        }
        if (n_lo < o_lo || n_hi > o_hi) {
            if (cmp->rules & CONTRACTS_RULES_FORWARD)
                violation(cmp, "length-widened", field, "%s/%s %.0f..%.0f became %.0f..%.0f",
                          PAIRS[i][0], PAIRS[i][1], o_lo, o_hi, n_lo, n_hi);
        }
    }
}

static bool list_has(const cJSON *list, const char *name)
{
    const cJSON *el;

    cJSON_ArrayForEach (el, list)
        if (cJSON_IsString(el) && strcmp(el->valuestring, name) == 0)
            return true;
    return false;
}

static void child_path(const char *path, const char *name, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s%s%s", path, *path ? "." : "", name);
}

static void compare_node(struct contracts_cmp *cmp, const cJSON *old_s, const cJSON *new_s,
                         const char *path, int depth);

static void compare_object(struct contracts_cmp *cmp, const cJSON *old_s, const cJSON *new_s,
                           const char *path, int depth)
{
    const cJSON *oreq = kw(old_s, "required"), *nreq = kw(new_s, "required");
    const cJSON *oprops = kw(old_s, "properties"), *nprops = kw(new_s, "properties");
    const cJSON *oap = kw(old_s, "additionalProperties"), *nap = kw(new_s, "additionalProperties");
    const cJSON *el, *p;
    const char *renamed_to[64] = {0};
    size_t nrenamed = 0;
    char field[512];

    /* a required field gone: removed (or renamed, when a new field appeared) or now optional */
    cJSON_ArrayForEach (el, oreq) {
        const char *name = cJSON_GetStringValue(el);

        if (!name || list_has(nreq, name))
            continue;
        child_path(path, name, field, sizeof(field));
        if (cJSON_GetObjectItemCaseSensitive(nprops, name)) {
            violation(cmp, "required-removed", field, "required field '%s' became optional", name);
            continue;
        }
        const char *added = NULL;

        cJSON_ArrayForEach (p, nprops) {
            bool used = false;

            if (cJSON_GetObjectItemCaseSensitive(oprops, p->string))
                continue;
            for (size_t i = 0; i < nrenamed; i++)
                used = used || strcmp(renamed_to[i], p->string) == 0;
            if (!used) {
                added = p->string;
                break;
            }
        }
        if (added && nrenamed < sizeof(renamed_to) / sizeof(renamed_to[0])) {
            renamed_to[nrenamed++] = added;
            violation(cmp, "renamed", field,
                      "required field '%s' removed while '%s' was added: a rename breaks "
                      "consumers (keep '%s' and add '%s' as optional)",
                      name, added, name, added);
        } else {
            violation(cmp, "required-removed", field, "required field '%s' removed", name);
        }
    }
    /* a field newly required: old events lack it */
    if (cmp->rules & CONTRACTS_RULES_BACKWARD) {
        cJSON_ArrayForEach (el, nreq) {
            const char *name = cJSON_GetStringValue(el);
            bool renamed = false;

            if (!name || list_has(oreq, name))
                continue;
            for (size_t i = 0; i < nrenamed; i++)
                renamed = renamed || strcmp(renamed_to[i], name) == 0;
            if (renamed || kw(cJSON_GetObjectItemCaseSensitive(nprops, name), "default"))
                continue;
            child_path(path, name, field, sizeof(field));
            violation(cmp, "required-added", field,
                      cJSON_GetObjectItemCaseSensitive(oprops, name)
                          ? "optional field '%s' became required without a \"default\""
                          : "required field '%s' added without a \"default\"",
                      name);
        }
        if (cJSON_IsFalse(nap) && !cJSON_IsFalse(oap))
            violation(cmp, "closed", *path ? path : "", "additionalProperties became false");
    }
    if ((cmp->rules & CONTRACTS_RULES_FORWARD) && cJSON_IsFalse(oap)) {
        cJSON_ArrayForEach (p, nprops) {
            if (cJSON_GetObjectItemCaseSensitive(oprops, p->string))
                continue;
            child_path(path, p->string, field, sizeof(field));
            violation(cmp, "closed", field,
                      "field '%s' added to an object the old version closed "
                      "(additionalProperties false)",
                      p->string);
        }
    }
    /* fields both versions declare */
    cJSON_ArrayForEach (p, nprops) {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(oprops, p->string);

        if (!o)
            continue;
        child_path(path, p->string, field, sizeof(field));
        compare_node(cmp, o, p, field, depth + 1);
    }
}

static void compare_node(struct contracts_cmp *cmp, const cJSON *old_s, const cJSON *new_s,
                         const char *path, int depth)
{
    unsigned ot, nt;
    char os[96], ns[96];
    const char *ofmt, *nfmt;

    if (depth > JSCHEMA_MAX_DEPTH)
        return;
    if (schema_any(old_s) && schema_any(new_s))
        return;
    if (cJSON_IsFalse(old_s) || cJSON_IsFalse(new_s)) {
        if (cJSON_IsFalse(new_s) && !cJSON_IsFalse(old_s) &&
            (cmp->rules & CONTRACTS_RULES_BACKWARD))
            violation(cmp, "type-changed", path, "the field now allows no value");
        if (cJSON_IsFalse(old_s) && !cJSON_IsFalse(new_s) && (cmp->rules & CONTRACTS_RULES_FORWARD))
            violation(cmp, "type-changed", path, "the field allowed no value before");
        return;
    }
    ot = types_of(old_s);
    nt = types_of(new_s);
    types_str(ot, os, sizeof(os));
    types_str(nt, ns, sizeof(ns));
    if (((cmp->rules & CONTRACTS_RULES_BACKWARD) && !types_cover(nt, ot)) ||
        ((cmp->rules & CONTRACTS_RULES_FORWARD) && !types_cover(ot, nt)))
        violation(cmp, "type-changed", path, "type %s became %s", os, ns);

    if (cmp->rules & CONTRACTS_RULES_BACKWARD)
        enum_cover(cmp, path, kw(new_s, "enum"), kw(new_s, "const"), kw(old_s, "enum"),
                   kw(old_s, "const"), "enum-narrowed", "is no longer allowed");
    if (cmp->rules & CONTRACTS_RULES_FORWARD)
        enum_cover(cmp, path, kw(old_s, "enum"), kw(old_s, "const"), kw(new_s, "enum"),
                   kw(new_s, "const"), "enum-widened", "is new (old readers refuse it)");
    range_check(cmp, path, old_s, new_s);
    length_check(cmp, path, old_s, new_s);

    ofmt = cJSON_GetStringValue(kw(old_s, "format"));
    nfmt = cJSON_GetStringValue(kw(new_s, "format"));
    if (((cmp->rules & CONTRACTS_RULES_BACKWARD) && nfmt && (!ofmt || strcmp(ofmt, nfmt))) ||
        ((cmp->rules & CONTRACTS_RULES_FORWARD) && ofmt && (!nfmt || strcmp(ofmt, nfmt))))
        violation(cmp, "format-changed", path, "format %s became %s", ofmt ? ofmt : "(none)",
                  nfmt ? nfmt : "(none)");

    compare_object(cmp, old_s, new_s, path, depth);
    if (kw(old_s, "items") || kw(new_s, "items")) {
        char field[512];

        snprintf(field, sizeof(field), "%s[]", path);
        compare_node(cmp, kw(old_s, "items"), kw(new_s, "items"), field, depth + 1);
    }
}

int contracts_compare(const cJSON *old_doc, const cJSON *new_doc, unsigned rules, const char *type,
                      int old_version, int new_version, contracts_report_fn report, void *arg)
{
    struct contracts_cmp cmp = {.rules = rules, .report = report, .arg = arg};

    if (rules == 0)
        return 0;
    cmp.v.type = type ? type : "";
    cmp.v.old_version = old_version;
    cmp.v.new_version = new_version;
    compare_node(&cmp, old_doc, new_doc, "", 0);
    return cmp.count;
}

int contracts_check_type(const struct contracts *c, const char *type, contracts_report_fn report,
                         void *arg)
{
    const struct contracts_type *t = find_type(c, type);
    unsigned rules = 0;
    bool transitive = false;
    int count = 0;

    if (!t)
        return 0;
    switch (t->mode) {
    case CONTRACTS_NONE:
        return 0;
    case CONTRACTS_BACKWARD_TRANSITIVE:
        transitive = true;
        /* fall through */
    case CONTRACTS_BACKWARD:
        rules = CONTRACTS_RULES_BACKWARD;
        break;
    case CONTRACTS_FORWARD_TRANSITIVE:
        transitive = true;
        /* fall through */
    case CONTRACTS_FORWARD:
        rules = CONTRACTS_RULES_FORWARD;
        break;
    case CONTRACTS_FULL_TRANSITIVE:
        transitive = true;
        /* fall through */
    case CONTRACTS_FULL:
        rules = CONTRACTS_RULES_BACKWARD | CONTRACTS_RULES_FORWARD;
        break;
    }
    for (int nv = 2; nv <= t->nversions; nv++)
        for (int ov = transitive ? 1 : nv - 1; ov < nv; ov++)
            count += contracts_compare(jschema_document(t->versions[ov - 1]),
                                       jschema_document(t->versions[nv - 1]), rules, t->name, ov,
                                       nv, report, arg);
    return count;
}

void contracts_violation_format(const struct contracts_violation *v, char *buf, size_t len)
{
    if (v->old_version || v->new_version)
        snprintf(buf, len, "%s v%d (vs v%d): %s: field '%s': %s", v->type, v->new_version,
                 v->old_version, v->rule, *v->field ? v->field : "(payload)", v->detail);
    else
        snprintf(buf, len, "%s: field '%s': %s", v->rule, *v->field ? v->field : "(payload)",
                 v->detail);
}

struct collect {
    char *buf;
    size_t len, used;
};

static void collect_line(const struct contracts_violation *v, void *arg)
{
    struct collect *col = arg;
    char line[1024];
    int n;

    if (!col->buf || col->used + 1 >= col->len)
        return;
    contracts_violation_format(v, line, sizeof(line));
    n = snprintf(col->buf + col->used, col->len - col->used, "%s%s", col->used ? "\n" : "", line);
    if (n > 0)
        col->used += (size_t)n < col->len - col->used ? (size_t)n : col->len - col->used - 1;
}

int contracts_check(const char *dir, char *errbuf, size_t errlen)
{
    struct collect col = {.buf = errbuf, .len = errlen};
    struct contracts *c;
    int count = 0, r;

    r = contracts_load(dir, &c, errbuf, errlen);
    if (r < 0)
        return r;
    for (size_t i = 0; i < c->ntypes; i++)
        count += contracts_check_type(c, c->types[i].name, collect_line, &col);
    contracts_free(c);
    return count ? -EINVAL : 0;
}

/* ---- the generated reference (docs/event-contracts.md, `make contracts`) ---- */

/* Writes @s with the characters that break a Markdown table cell escaped. */
static void doc_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '|')
            fputs("\\|", f);
        else if (*s == '\n')
            fputc(' ', f);
        else
            fputc(*s, f);
    }
}

static void doc_number(FILE *f, const cJSON *v)
{
    char num[48];

    fmt_num(v->valuedouble, num, sizeof(num));
    fputs(num, f);
}

/* A JSON value as compact text into the table (enum / const / default values). */
static void doc_value(FILE *f, const cJSON *v)
{
    char *text = cJSON_PrintUnformatted(v);

    fputc('`', f);
    doc_text(f, text ? text : "?");
    fputc('`', f);
    cJSON_free(text);
}

/* ", <what>N..M<unit>" (or "≥ N", "≤ M") for the bounds @lo / @hi when either is a number. */
static void doc_range(FILE *f, const cJSON *lo, const cJSON *hi, const char *what, const char *unit)
{
    bool has_lo = cJSON_IsNumber(lo), has_hi = cJSON_IsNumber(hi);

    if (!has_lo && !has_hi)
        return;
    fprintf(f, ", %s", what);
    if (has_lo && has_hi) {
        doc_number(f, lo);
        fputs("..", f);
        doc_number(f, hi);
    } else {
        fputs(has_lo ? "≥ " : "≤ ", f);
        doc_number(f, has_lo ? lo : hi);
    }
    fputs(unit, f);
}

/* The "type" cell: type names, format, enum/const, bounds. */
static void doc_type(FILE *f, const cJSON *s)
{
    const cJSON *t = kw(s, "type"), *v;
    bool first = true;

    if (cJSON_IsString(t)) {
        fputs(t->valuestring, f);
    } else if (cJSON_IsArray(t)) {
        cJSON_ArrayForEach (v, t) {
            fprintf(f, "%s%s", first ? "" : " or ", cJSON_IsString(v) ? v->valuestring : "?");
            first = false;
        }
    } else {
        fputs(kw(s, "const") || kw(s, "enum") ? "value" : "any", f);
    }
    if (cJSON_IsArray(t) || cJSON_IsString(t)) {
        v = kw(s, "items");
        if (v && cJSON_IsString(kw(v, "type")))
            fprintf(f, " of %s", kw(v, "type")->valuestring);
    }
    if ((v = kw(s, "format")) && cJSON_IsString(v))
        fprintf(f, " (%s)", v->valuestring);
    if ((v = kw(s, "const"))) {
        fputs(" = ", f);
        doc_value(f, v);
    }
    if ((v = kw(s, "enum")) && cJSON_IsArray(v)) {
        const cJSON *e;

        fputs(", one of ", f);
        first = true;
        cJSON_ArrayForEach (e, v) {
            if (!first)
                fputs(", ", f);
            doc_value(f, e);
            first = false;
        }
    }
    doc_range(f, kw(s, "minimum"), kw(s, "maximum"), "", "");
    if (cJSON_IsNumber(v = kw(s, "exclusiveMinimum"))) {
        fputs(", > ", f);
        doc_number(f, v);
    }
    if (cJSON_IsNumber(v = kw(s, "exclusiveMaximum"))) {
        fputs(", < ", f);
        doc_number(f, v);
    }
    doc_range(f, kw(s, "minLength"), kw(s, "maxLength"), "length ", "");
    doc_range(f, kw(s, "minItems"), kw(s, "maxItems"), "", " items");
}

/*
 * One row per property of the object schema @s (and, depth first, of nested objects and of
 * arrays' object items), named by @prefix ("", "items[].", "shippingAddress."). @all_required:
 * every ancestor is required, so "yes" means present in every event.
 */
static void doc_rows(FILE *f, const cJSON *s, const char *prefix, bool all_required, int depth)
{
    const cJSON *props = kw(s, "properties"), *req = kw(s, "required"), *p;

    if (depth > JSCHEMA_MAX_DEPTH || !cJSON_IsObject(props))
        return;
    cJSON_ArrayForEach (p, props) {
        bool required = list_has(req, p->string);
        const cJSON *d = kw(p, "description"), *def = kw(p, "default"), *items = kw(p, "items");
        char name[512];

        snprintf(name, sizeof(name), "%s%s", prefix, p->string);
        fputs("| `", f);
        doc_text(f, name);
        fputs("` | ", f);
        doc_type(f, p);
        fprintf(f, " | %s | ",
                !required      ? "no"
                : all_required ? "yes"
                               : "yes, when its parent is present");
        if (cJSON_IsString(d))
            doc_text(f, d->valuestring);
        if (def) {
            fputs(cJSON_IsString(d) ? "; default " : "default ", f);
            doc_value(f, def);
        }
        fputs(" |\n", f);
        if (cJSON_IsObject(kw(p, "properties"))) {
            char sub[520];

            snprintf(sub, sizeof(sub), "%s.", name);
            doc_rows(f, p, sub, all_required && required, depth + 1);
        }
        if (items && cJSON_IsObject(kw(items, "properties"))) {
            char sub[520];

            snprintf(sub, sizeof(sub), "%s[].", name);
            doc_rows(f, items, sub, all_required && required, depth + 1);
        }
    }
}

char *contracts_doc_markdown(const struct contracts *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    if (!f)
        return NULL;
    fputs("<!-- Generated from contracts/ by `make contracts` (tools/gen-contracts-doc.c); do not "
          "edit by hand: common/tests/test_contracts_doc checks it. -->\n",
          f);
    for (size_t i = 0; i < c->ntypes; i++) {
        const struct contracts_type *t = &c->types[i];

        for (int v = 1; v <= t->nversions; v++) {
            const cJSON *doc = jschema_document(t->versions[v - 1]);
            const cJSON *title = kw(doc, "title"), *ap = kw(doc, "additionalProperties");

            fprintf(f, "\n#### `%s` v%d\n\n", t->name, v);
            if (cJSON_IsString(title)) {
                doc_text(f, title->valuestring);
                fputs("\n\n", f);
            }
            fprintf(f, "Schema `contracts/%s/v%d.json` (`%s`), mode %s%s.\n\n", t->name, v,
                    jschema_id(t->versions[v - 1]) ? jschema_id(t->versions[v - 1]) : "no $id",
                    contracts_mode_name(t->mode),
                    cJSON_IsFalse(ap) ? "; no other fields allowed"
                                      : "; other fields are allowed and ignored");
            fputs("| field | type | required | description |\n|---|---|---|---|\n", f);
            doc_rows(f, doc, "", true, 0);
        }
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
