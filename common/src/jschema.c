/*
 * jschema.c - compile and validate the JSON Schema (draft 2020-12) keyword subset of jschema.h.
 *
 * Compiling turns a schema document into a tree of struct jschema_node (one per subschema),
 * checking every keyword once, so validation never meets an unknown or malformed keyword.
 * enum and const values point into the schema's private copy of the document.
 */
#include "common/jschema.h"
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DRAFT_2020_12 "https://json-schema.org/draft/2020-12/schema"

/* besides the JSCHEMA_T_* bits of jschema.h: "type": [] (nothing passes) */
#define JSCHEMA_T_NOTHING (1u << 7)

static const struct {
    const char *name;
    unsigned bit;
} TYPE_NAMES[] = {
    {"null", JSCHEMA_T_NULL},       {"boolean", JSCHEMA_T_BOOLEAN}, {"object", JSCHEMA_T_OBJECT},
    {"array", JSCHEMA_T_ARRAY},     {"number", JSCHEMA_T_NUMBER},   {"string", JSCHEMA_T_STRING},
    {"integer", JSCHEMA_T_INTEGER},
};

unsigned jschema_type_bit(const char *name)
{
    for (size_t i = 0; name && i < sizeof(TYPE_NAMES) / sizeof(TYPE_NAMES[0]); i++)
        if (strcmp(name, TYPE_NAMES[i].name) == 0)
            return TYPE_NAMES[i].bit;
    return 0;
}

const char *jschema_type_name(unsigned bit)
{
    for (size_t i = 0; i < sizeof(TYPE_NAMES) / sizeof(TYPE_NAMES[0]); i++)
        if (TYPE_NAMES[i].bit == bit)
            return TYPE_NAMES[i].name;
    return NULL;
}

enum jschema_format { JSCHEMA_FMT_NONE, JSCHEMA_FMT_UUID, JSCHEMA_FMT_DATE_TIME };

/* which optional numeric keywords a node has */
enum {
    HAS_MINIMUM = 1u << 0,
    HAS_MAXIMUM = 1u << 1,
    HAS_EXMIN = 1u << 2,
    HAS_EXMAX = 1u << 3,
    HAS_MINLEN = 1u << 4,
    HAS_MAXLEN = 1u << 5,
    HAS_MINITEMS = 1u << 6,
    HAS_MAXITEMS = 1u << 7,
};

struct jschema_prop {
    const char *name; /* borrowed from the schema's document */
    struct jschema_node *schema;
};

struct jschema_node {
    int boolean;    /* -1: an object schema; 0: the false schema; 1: the true schema */
    unsigned types; /* JSCHEMA_T_* bits; 0 = any type */
    struct jschema_prop *props;
    size_t nprops;
    const char **required; /* names borrowed from the document */
    size_t nrequired;
    struct jschema_node *additional; /* NULL: anything goes */
    struct jschema_node *items;      /* NULL: anything goes */
    const cJSON *enum_values;        /* an array, borrowed; NULL when absent */
    const cJSON *const_value;        /* borrowed; NULL when absent */
    unsigned has;                    /* HAS_* bits */
    double minimum, maximum, exmin, exmax;
    double minlen, maxlen, minitems, maxitems;
    enum jschema_format format;
};

struct jschema {
    cJSON *doc; /* owned copy of the compiled document */
    struct jschema_node *root;
    const char *id;
};

/* A JSON pointer being built while walking a document. */
struct jschema_ptr {
    char buf[512];
    size_t len;
};

/* Appends "/" + @token (escaped: ~ → ~0, / → ~1); returns the old length for ptr_pop(). */
static size_t ptr_push(struct jschema_ptr *ptr, const char *token)
{
    size_t old = ptr->len;
    size_t cap = sizeof(ptr->buf) - 1;

    if (ptr->len < cap)
        ptr->buf[ptr->len++] = '/';
    for (const char *c = token; *c && ptr->len < cap; c++) {
        if ((*c == '~' || *c == '/') && ptr->len + 1 < cap) {
            ptr->buf[ptr->len++] = '~';
            ptr->buf[ptr->len++] = *c == '~' ? '0' : '1';
        } else if (*c != '~' && *c != '/') {
            ptr->buf[ptr->len++] = *c;
        } else {
            break;
        }
    }
    ptr->buf[ptr->len] = '\0';
    return old;
}

static size_t ptr_push_index(struct jschema_ptr *ptr, int index)
{
    char tok[16];

    snprintf(tok, sizeof(tok), "%d", index);
    return ptr_push(ptr, tok);
}

static void ptr_pop(struct jschema_ptr *ptr, size_t old)
{
    ptr->len = old;
    ptr->buf[old] = '\0';
}

static const char *ptr_str(const struct jschema_ptr *ptr)
{
    return ptr->len ? ptr->buf : "(root)";
}

static void fail(char *errbuf, size_t errlen, const struct jschema_ptr *ptr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(char *errbuf, size_t errlen, const struct jschema_ptr *ptr, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (!errbuf || errlen == 0)
        return;
    n = snprintf(errbuf, errlen, "%s: ", ptr_str(ptr));
    if (n < 0 || (size_t)n >= errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(errbuf + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

/* A number as a reader would write it: 1, 0.5, 1e+300. */
static void fmt_num(double d, char *out, size_t outlen)
{
    if (d == floor(d) && fabs(d) < 1e15) {
        snprintf(out, outlen, "%.0f", d);
        return;
    }
    snprintf(out, outlen, "%.15g", d);
    if (strtod(out, NULL) != d)
        snprintf(out, outlen, "%.17g", d);
}

static bool is_integral(double d)
{
    return isfinite(d) && d == floor(d);
}

/* ---- node lifecycle ---- */

static void node_free(struct jschema_node *node)
{
    if (!node)
        return;
    for (size_t i = 0; i < node->nprops; i++)
        node_free(node->props[i].schema);
    free(node->props);
    free(node->required);
    node_free(node->additional);
    node_free(node->items);
    free(node);
}

/* ---- compiling ---- */

struct jschema_cc {
    char *errbuf;
    size_t errlen;
    struct jschema_ptr ptr; /* where in the schema we are */
};

static int compile_node(struct jschema_cc *cc, const cJSON *s, int depth,
                        struct jschema_node **ret);

static int kw_number(struct jschema_cc *cc, const cJSON *v, double *out)
{
    if (!cJSON_IsNumber(v)) {
        fail(cc->errbuf, cc->errlen, &cc->ptr, "must be a number");
        return -EINVAL;
    }
    *out = v->valuedouble;
    return 0;
}

static int kw_count(struct jschema_cc *cc, const cJSON *v, double *out)
{
    if (!cJSON_IsNumber(v) || !is_integral(v->valuedouble) || v->valuedouble < 0) {
        fail(cc->errbuf, cc->errlen, &cc->ptr, "must be a non-negative integer");
        return -EINVAL;
    }
    *out = v->valuedouble;
    return 0;
}

static int kw_type(struct jschema_cc *cc, const cJSON *v, unsigned *out)
{
    const cJSON *el;
    unsigned mask = 0;

    if (cJSON_IsString(v) || cJSON_IsArray(v)) {
        const cJSON *one = v;

        if (cJSON_IsArray(v))
            one = v->child;
        for (el = one; el; el = cJSON_IsArray(v) ? el->next : NULL) {
            unsigned bit;

            if (!cJSON_IsString(el))
                goto bad;
            bit = jschema_type_bit(el->valuestring);
            if (!bit) {
                fail(cc->errbuf, cc->errlen, &cc->ptr, "unknown type '%s'", el->valuestring);
                return -EINVAL;
            }
            mask |= bit;
        }
        *out = mask ? mask : JSCHEMA_T_NOTHING;
        return 0;
    }
bad:
    fail(cc->errbuf, cc->errlen, &cc->ptr, "must be a type name or an array of type names");
    return -EINVAL;
}

static int kw_format(struct jschema_cc *cc, const cJSON *v, enum jschema_format *out)
{
    if (!cJSON_IsString(v)) {
        fail(cc->errbuf, cc->errlen, &cc->ptr, "must be a string");
        return -EINVAL;
    }
    if (strcmp(v->valuestring, "uuid") == 0) {
        *out = JSCHEMA_FMT_UUID;
    } else if (strcmp(v->valuestring, "date-time") == 0) {
        *out = JSCHEMA_FMT_DATE_TIME;
    } else {
        fail(cc->errbuf, cc->errlen, &cc->ptr,
             "unsupported format '%s' (supported: uuid, date-time)", v->valuestring);
        return -EOPNOTSUPP;
    }
    return 0;
}

static int kw_required(struct jschema_cc *cc, const cJSON *v, struct jschema_node *node)
{
    const cJSON *el;
    size_t n = 0;

    if (!cJSON_IsArray(v))
        goto bad;
    cJSON_ArrayForEach (el, v) {
        if (!cJSON_IsString(el))
            goto bad;
        n++;
    }
    if (n == 0)
        return 0;
    node->required = calloc(n, sizeof(*node->required));
    if (!node->required)
        return -ENOMEM;
    cJSON_ArrayForEach (el, v)
        node->required[node->nrequired++] = el->valuestring;
    return 0;
bad:
    fail(cc->errbuf, cc->errlen, &cc->ptr, "must be an array of strings");
    return -EINVAL;
}

static int kw_properties(struct jschema_cc *cc, const cJSON *v, int depth,
                         struct jschema_node *node)
{
    const cJSON *el;
    size_t n = 0;
    int r;

    if (!cJSON_IsObject(v)) {
        fail(cc->errbuf, cc->errlen, &cc->ptr, "must be an object");
        return -EINVAL;
    }
    cJSON_ArrayForEach (el, v)
        n++;
    if (n == 0)
        return 0;
    node->props = calloc(n, sizeof(*node->props));
    if (!node->props)
        return -ENOMEM;
    cJSON_ArrayForEach (el, v) {
        struct jschema_prop *prop = &node->props[node->nprops++];
        size_t old = ptr_push(&cc->ptr, el->string);

        prop->name = el->string;
        r = compile_node(cc, el, depth + 1, &prop->schema);
        if (r < 0)
            return r;
        ptr_pop(&cc->ptr, old);
    }
    return 0;
}

static bool is_annotation(const char *key)
{
    static const char *const ANNOTATIONS[] = {"$id", "title", "description", "$comment", "default"};

    for (size_t i = 0; i < sizeof(ANNOTATIONS) / sizeof(ANNOTATIONS[0]); i++)
        if (strcmp(key, ANNOTATIONS[i]) == 0)
            return true;
    return false;
}

static int compile_keyword(struct jschema_cc *cc, const char *key, const cJSON *v, int depth,
                           struct jschema_node *node)
{
    if (strcmp(key, "$schema") == 0) {
        if (!cJSON_IsString(v)) {
            fail(cc->errbuf, cc->errlen, &cc->ptr, "must be a string");
            return -EINVAL;
        }
        if (strcmp(v->valuestring, DRAFT_2020_12) != 0 &&
            strcmp(v->valuestring, DRAFT_2020_12 "#") != 0) {
            fail(cc->errbuf, cc->errlen, &cc->ptr, "unsupported $schema '%s' (want %s)",
                 v->valuestring, DRAFT_2020_12);
            return -EOPNOTSUPP;
        }
        return 0;
    }
    if (is_annotation(key)) {
        if ((strcmp(key, "$id") == 0 || strcmp(key, "title") == 0 ||
             strcmp(key, "description") == 0 || strcmp(key, "$comment") == 0) &&
            !cJSON_IsString(v)) {
            fail(cc->errbuf, cc->errlen, &cc->ptr, "must be a string");
            return -EINVAL;
        }
        return 0;
    }
    if (strcmp(key, "type") == 0)
        return kw_type(cc, v, &node->types);
    if (strcmp(key, "enum") == 0) {
        if (!cJSON_IsArray(v)) {
            fail(cc->errbuf, cc->errlen, &cc->ptr, "must be an array");
            return -EINVAL;
        }
        node->enum_values = v;
        return 0;
    }
    if (strcmp(key, "const") == 0) {
        node->const_value = v;
        return 0;
    }
    if (strcmp(key, "properties") == 0)
        return kw_properties(cc, v, depth, node);
    if (strcmp(key, "required") == 0)
        return kw_required(cc, v, node);
    if (strcmp(key, "additionalProperties") == 0)
        return compile_node(cc, v, depth + 1, &node->additional);
    if (strcmp(key, "items") == 0) {
        if (cJSON_IsArray(v)) {
            fail(cc->errbuf, cc->errlen, &cc->ptr,
                 "unsupported keyword form 'items' as an array (tuple validation)");
            return -EOPNOTSUPP;
        }
        return compile_node(cc, v, depth + 1, &node->items);
    }
    if (strcmp(key, "format") == 0)
        return kw_format(cc, v, &node->format);

    static const struct {
        const char *name;
        unsigned bit;
        size_t off;
        bool count;
    } NUMERIC[] = {
        {"minimum", HAS_MINIMUM, offsetof(struct jschema_node, minimum), false},
        {"maximum", HAS_MAXIMUM, offsetof(struct jschema_node, maximum), false},
        {"exclusiveMinimum", HAS_EXMIN, offsetof(struct jschema_node, exmin), false},
        {"exclusiveMaximum", HAS_EXMAX, offsetof(struct jschema_node, exmax), false},
        {"minLength", HAS_MINLEN, offsetof(struct jschema_node, minlen), true},
        {"maxLength", HAS_MAXLEN, offsetof(struct jschema_node, maxlen), true},
        {"minItems", HAS_MINITEMS, offsetof(struct jschema_node, minitems), true},
        {"maxItems", HAS_MAXITEMS, offsetof(struct jschema_node, maxitems), true},
    };
    for (size_t i = 0; i < sizeof(NUMERIC) / sizeof(NUMERIC[0]); i++) {
        if (strcmp(key, NUMERIC[i].name) == 0) {
            double *out = (double *)((char *)node + NUMERIC[i].off);
            int r = NUMERIC[i].count ? kw_count(cc, v, out) : kw_number(cc, v, out);

            if (r == 0)
                node->has |= NUMERIC[i].bit;
            return r;
        }
    }
    fail(cc->errbuf, cc->errlen, &cc->ptr, "unsupported keyword '%s'", key);
    return -EOPNOTSUPP;
}

static int compile_node(struct jschema_cc *cc, const cJSON *s, int depth, struct jschema_node **ret)
{
    struct jschema_node *node;
    const cJSON *kw;
    int r = 0;

    if (depth > JSCHEMA_MAX_DEPTH) {
        fail(cc->errbuf, cc->errlen, &cc->ptr, "schema nested deeper than %d", JSCHEMA_MAX_DEPTH);
        return -EINVAL;
    }
    if (!cJSON_IsBool(s) && !cJSON_IsObject(s)) {
        fail(cc->errbuf, cc->errlen, &cc->ptr, "a schema must be an object or a boolean");
        return -EINVAL;
    }
    node = calloc(1, sizeof(*node));
    if (!node)
        return -ENOMEM;
    node->boolean = -1;
    if (cJSON_IsBool(s)) {
        node->boolean = cJSON_IsTrue(s) ? 1 : 0;
        goto out;
    }
    cJSON_ArrayForEach (kw, s) {
        size_t old = ptr_push(&cc->ptr, kw->string);

        r = compile_keyword(cc, kw->string, kw, depth, node);
        if (r < 0)
            goto out;
        ptr_pop(&cc->ptr, old);
    }
out:
    if (r < 0) {
        if (r == -ENOMEM)
            fail(cc->errbuf, cc->errlen, &cc->ptr, "out of memory");
        node_free(node);
        return r;
    }
    *ret = node;
    return 0;
}

int jschema_compile(const cJSON *doc, struct jschema **ret, char *errbuf, size_t errlen)
{
    struct jschema_cc cc = {.errbuf = errbuf, .errlen = errlen};
    struct jschema *schema;
    const cJSON *id;
    int r;

    if (errbuf && errlen)
        errbuf[0] = '\0';
    if (!doc) {
        fail(errbuf, errlen, &cc.ptr, "no schema");
        return -EINVAL;
    }
    schema = calloc(1, sizeof(*schema));
    if (!schema)
        return -ENOMEM;
    schema->doc = cJSON_Duplicate(doc, 1);
    if (!schema->doc) {
        r = -ENOMEM;
        goto out;
    }
    r = compile_node(&cc, schema->doc, 0, &schema->root);
    if (r < 0)
        goto out;
    id = cJSON_GetObjectItemCaseSensitive(schema->doc, "$id");
    schema->id = cJSON_IsString(id) ? id->valuestring : NULL;
    *ret = schema;
    return 0;
out:
    jschema_free(schema);
    return r;
}

int jschema_compile_text(const char *text, size_t len, struct jschema **ret, char *errbuf,
                         size_t errlen)
{
    cJSON *doc = cJSON_ParseWithLength(text, len);
    int r;

    if (!doc) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "schema is not valid JSON");
        return -EINVAL;
    }
    r = jschema_compile(doc, ret, errbuf, errlen);
    cJSON_Delete(doc);
    return r;
}

int jschema_load_file(const char *path, struct jschema **ret, char *errbuf, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int r = util_read_file(path, JSCHEMA_MAX_FILE, &text, &len);

    if (r == -EIO)
        snprintf(errbuf, errlen, "%s: read error", path);
    else if (r == -EFBIG)
        snprintf(errbuf, errlen, "%s: larger than %d bytes", path, JSCHEMA_MAX_FILE);
    else if (r < 0)
        snprintf(errbuf, errlen, "%s: %s", path, strerror(-r));
    if (r < 0)
        return r;
    r = jschema_compile_text(text, len, ret, errbuf, errlen);
    if (r < 0 && errbuf && errlen) {
        char tmp[512];

        snprintf(tmp, sizeof(tmp), "%s", errbuf);
        snprintf(errbuf, errlen, "%s: %s", path, tmp);
    }
    free(text);
    return r;
}

void jschema_free(struct jschema *schema)
{
    if (!schema)
        return;
    node_free(schema->root);
    cJSON_Delete(schema->doc);
    free(schema);
}

const cJSON *jschema_document(const struct jschema *schema)
{
    return schema->doc;
}

const char *jschema_id(const struct jschema *schema)
{
    return schema->id;
}

/* ---- equality and formats ---- */

bool jschema_equal(const cJSON *a, const cJSON *b)
{
    const cJSON *x, *y;
    size_t na = 0, nb = 0;

    if (!a || !b)
        return a == b;
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
        return a->valuedouble == b->valuedouble;
    if ((a->type & 0xFF) != (b->type & 0xFF))
        return false;
    if (cJSON_IsString(a))
        return strcmp(a->valuestring, b->valuestring) == 0;
    if (cJSON_IsArray(a)) {
        for (x = a->child, y = b->child; x && y; x = x->next, y = y->next)
            if (!jschema_equal(x, y))
                return false;
        return !x && !y;
    }
    if (cJSON_IsObject(a)) {
        cJSON_ArrayForEach (x, a) {
            na++;
            y = cJSON_GetObjectItemCaseSensitive(b, x->string);
            if (!y || !jschema_equal(x, y))
                return false;
        }
        cJSON_ArrayForEach (y, b)
            nb++;
        return na == nb;
    }
    return true; /* null, true, false: the type is the value */
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool fmt_uuid(const char *s)
{
    static const int GROUPS[] = {8, 4, 4, 4, 12};

    for (size_t g = 0; g < 5; g++) {
        for (int i = 0; i < GROUPS[g]; i++, s++)
            if (!is_hex(*s))
                return false;
        if (g < 4 && *s++ != '-')
            return false;
    }
    return *s == '\0';
}

/* Reads exactly @n ASCII digits. */
static bool read_digits(const char **s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        char c = (*s)[i];

        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *s += n;
    *out = v;
    return true;
}

static int days_in_month(int year, int month)
{
    static const int DAYS[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

    return month == 2 && leap ? 29 : DAYS[month - 1];
}

/* RFC 3339 §5.6 date-time; a leap second only where the UTC time is 23:59:60. */
static bool fmt_date_time(const char *s)
{
    int year, month, day, hour, minute, second, oh = 0, om = 0, sign = 0;

    if (!read_digits(&s, 4, &year) || *s++ != '-' || !read_digits(&s, 2, &month) || *s++ != '-' ||
        !read_digits(&s, 2, &day))
        return false;
    if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month))
        return false;
    if (*s != 'T' && *s != 't')
        return false;
    s++;
    if (!read_digits(&s, 2, &hour) || *s++ != ':' || !read_digits(&s, 2, &minute) || *s++ != ':' ||
        !read_digits(&s, 2, &second))
        return false;
    if (hour > 23 || minute > 59 || second > 60)
        return false;
    if (*s == '.') {
        s++;
        if (*s < '0' || *s > '9')
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        sign = *s++ == '+' ? 1 : -1;
        if (!read_digits(&s, 2, &oh) || *s++ != ':' || !read_digits(&s, 2, &om))
            return false;
        if (oh > 23 || om > 59)
            return false;
    } else {
        return false;
    }
    if (*s != '\0')
        return false;
    if (second == 60) {
        int utc = ((hour * 60 + minute - sign * (oh * 60 + om)) % 1440 + 1440) % 1440;

        if (utc != 23 * 60 + 59)
            return false;
    }
    return true;
}

/* ---- validation ---- */

struct jschema_vc {
    char *errbuf;
    size_t errlen;
    struct jschema_ptr ptr; /* where in the instance we are */
};

static size_t utf8_codepoints(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

static bool type_ok(unsigned types, const cJSON *inst)
{
    if (types == 0)
        return true;
    if (cJSON_IsNull(inst))
        return types & JSCHEMA_T_NULL;
    if (cJSON_IsBool(inst))
        return types & JSCHEMA_T_BOOLEAN;
    if (cJSON_IsObject(inst))
        return types & JSCHEMA_T_OBJECT;
    if (cJSON_IsArray(inst))
        return types & JSCHEMA_T_ARRAY;
    if (cJSON_IsString(inst))
        return types & JSCHEMA_T_STRING;
    if (cJSON_IsNumber(inst))
        return (types & JSCHEMA_T_NUMBER) ||
               ((types & JSCHEMA_T_INTEGER) && is_integral(inst->valuedouble));
    return false;
}

static void type_names(unsigned types, char *out, size_t outlen)
{
    size_t len = 0;

    out[0] = '\0';
    for (size_t i = 0; i < sizeof(TYPE_NAMES) / sizeof(TYPE_NAMES[0]); i++) {
        if (!(types & TYPE_NAMES[i].bit))
            continue;
        int n = snprintf(out + len, outlen - len, "%s%s", len ? " or " : "", TYPE_NAMES[i].name);
        if (n < 0 || (size_t)n >= outlen - len)
            return;
        len += (size_t)n;
    }
}

/* "must be one of [...]" with the JSON of @v, shortened to fit. */
static void fail_json(struct jschema_vc *vc, const char *what, const cJSON *v)
{
    char *json = cJSON_PrintUnformatted(v);

    fail(vc->errbuf, vc->errlen, &vc->ptr, "%s %.200s", what, json ? json : "(value)");
    cJSON_free(json);
}

static int validate_node(struct jschema_vc *vc, const struct jschema_node *node, const cJSON *inst);

static int validate_number(struct jschema_vc *vc, const struct jschema_node *node, double d)
{
    char num[40];

    if ((node->has & HAS_MINIMUM) && !(d >= node->minimum)) {
        fmt_num(node->minimum, num, sizeof(num));
        fail(vc->errbuf, vc->errlen, &vc->ptr, "must be >= %s", num);
        return -EINVAL;
    }
    if ((node->has & HAS_MAXIMUM) && !(d <= node->maximum)) {
        fmt_num(node->maximum, num, sizeof(num));
        fail(vc->errbuf, vc->errlen, &vc->ptr, "must be <= %s", num);
        return -EINVAL;
    }
    if ((node->has & HAS_EXMIN) && !(d > node->exmin)) {
        fmt_num(node->exmin, num, sizeof(num));
        fail(vc->errbuf, vc->errlen, &vc->ptr, "must be > %s", num);
        return -EINVAL;
    }
    if ((node->has & HAS_EXMAX) && !(d < node->exmax)) {
        fmt_num(node->exmax, num, sizeof(num));
        fail(vc->errbuf, vc->errlen, &vc->ptr, "must be < %s", num);
        return -EINVAL;
    }
    return 0;
}

static int validate_string(struct jschema_vc *vc, const struct jschema_node *node, const char *s)
{
    if (node->has & (HAS_MINLEN | HAS_MAXLEN)) {
        double n = (double)utf8_codepoints(s);

        if ((node->has & HAS_MINLEN) && n < node->minlen) {
            fail(vc->errbuf, vc->errlen, &vc->ptr, "must be at least %.0f characters long",
                 node->minlen);
            return -EINVAL;
        }
        if ((node->has & HAS_MAXLEN) && n > node->maxlen) {
            fail(vc->errbuf, vc->errlen, &vc->ptr, "must be at most %.0f characters long",
                 node->maxlen);
            return -EINVAL;
        }
    }
    if (node->format == JSCHEMA_FMT_UUID && !fmt_uuid(s)) {
        fail(vc->errbuf, vc->errlen, &vc->ptr, "must be a uuid");
        return -EINVAL;
    }
    if (node->format == JSCHEMA_FMT_DATE_TIME && !fmt_date_time(s)) {
        fail(vc->errbuf, vc->errlen, &vc->ptr, "must be an RFC 3339 date-time");
        return -EINVAL;
    }
    return 0;
}

static int validate_array(struct jschema_vc *vc, const struct jschema_node *node, const cJSON *inst)
{
    double n = (double)cJSON_GetArraySize(inst);
    const cJSON *el;
    int index = 0;

    if ((node->has & HAS_MINITEMS) && n < node->minitems) {
        fail(vc->errbuf, vc->errlen, &vc->ptr, "must have at least %.0f items", node->minitems);
        return -EINVAL;
    }
    if ((node->has & HAS_MAXITEMS) && n > node->maxitems) {
        fail(vc->errbuf, vc->errlen, &vc->ptr, "must have at most %.0f items", node->maxitems);
        return -EINVAL;
    }
    if (!node->items)
        return 0;
    cJSON_ArrayForEach (el, inst) {
        size_t old = ptr_push_index(&vc->ptr, index++);
        int r = validate_node(vc, node->items, el);

        if (r < 0)
            return r;
        ptr_pop(&vc->ptr, old);
    }
    return 0;
}

static const struct jschema_node *find_prop(const struct jschema_node *node, const char *name)
{
    for (size_t i = 0; i < node->nprops; i++)
        if (strcmp(node->props[i].name, name) == 0)
            return node->props[i].schema;
    return NULL;
}

static int validate_object(struct jschema_vc *vc, const struct jschema_node *node,
                           const cJSON *inst)
{
    const cJSON *member;

    for (size_t i = 0; i < node->nrequired; i++) {
        if (!cJSON_GetObjectItemCaseSensitive(inst, node->required[i])) {
            fail(vc->errbuf, vc->errlen, &vc->ptr, "missing required property '%s'",
                 node->required[i]);
            return -EINVAL;
        }
    }
    cJSON_ArrayForEach (member, inst) {
        const struct jschema_node *sub = find_prop(node, member->string);
        size_t old;
        int r;

        if (!sub && !node->additional)
            continue;
        old = ptr_push(&vc->ptr, member->string);
        if (!sub && node->additional->boolean == 0) {
            fail(vc->errbuf, vc->errlen, &vc->ptr, "additional property is not allowed");
            return -EINVAL;
        }
        r = validate_node(vc, sub ? sub : node->additional, member);
        if (r < 0)
            return r;
        ptr_pop(&vc->ptr, old);
    }
    return 0;
}

static int validate_node(struct jschema_vc *vc, const struct jschema_node *node, const cJSON *inst)
{
    if (node->boolean == 1)
        return 0;
    if (node->boolean == 0) {
        fail(vc->errbuf, vc->errlen, &vc->ptr, "no value is allowed here");
        return -EINVAL;
    }
    if (!type_ok(node->types, inst)) {
        char names[128];

        type_names(node->types, names, sizeof(names));
        fail(vc->errbuf, vc->errlen, &vc->ptr, "must be %s", names[0] ? names : "nothing");
        return -EINVAL;
    }
    if (node->const_value && !jschema_equal(node->const_value, inst)) {
        fail_json(vc, "must be equal to", node->const_value);
        return -EINVAL;
    }
    if (node->enum_values) {
        const cJSON *el;
        bool found = false;

        cJSON_ArrayForEach (el, node->enum_values) {
            if (jschema_equal(el, inst)) {
                found = true;
                break;
            }
        }
        if (!found) {
            fail_json(vc, "must be one of", node->enum_values);
            return -EINVAL;
        }
    }
    if (cJSON_IsNumber(inst))
        return validate_number(vc, node, inst->valuedouble);
    if (cJSON_IsString(inst))
        return validate_string(vc, node, inst->valuestring);
    if (cJSON_IsArray(inst))
        return validate_array(vc, node, inst);
    if (cJSON_IsObject(inst))
        return validate_object(vc, node, inst);
    return 0;
}

int jschema_validate(const struct jschema *schema, const cJSON *instance, char *errbuf,
                     size_t errlen)
{
    struct jschema_vc vc = {.errbuf = errbuf, .errlen = errlen};

    if (errbuf && errlen)
        errbuf[0] = '\0';
    if (!instance) {
        fail(errbuf, errlen, &vc.ptr, "no value");
        return -EINVAL;
    }
    return validate_node(&vc, schema->root, instance);
}
