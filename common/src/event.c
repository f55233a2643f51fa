/*
 * event.c - the CloudEvents 1.0 envelope on Kafka (the Kafka protocol binding) and the
 * type → topic map.
 *
 * Serialisation is structured mode: the body is the envelope, content-type
 * application/cloudevents+json, and every attribute is also a ce_* header. Parsing takes both
 * content modes, chosen by the content-type header (docs/event-contracts.md).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/event.h"
#include "common/util.h"

#define EVENT_SCHEMA_PREFIX "urn:commerce:event:"
#define EVENT_TOPIC_MAX 250 /* Kafka's limit is 249 characters */
#define EVENT_VERSION_MAX 1000000

/* The names of event_types.h's list, NULL-terminated (EVENT_TYPES[i] is type i + 1). */
const char *const EVENT_TYPES[] = {
#define EVENT_TYPE_NAME(id, name, topic, producer, published, read, consumers) name,
    EVENT_TYPE_LIST(EVENT_TYPE_NAME)
#undef EVENT_TYPE_NAME
        NULL,
};

#define EVENT_NTYPES_LISTED ((size_t)EVENT_NTYPES - 1)

static const struct {
    const char *topic;
    const char *producer;
    int published;
    int read;
    const char *consumers; /* space-separated service names */
} event_type_info[] = {
#define EVENT_TYPE_INFO(id, name, topic, producer, published, read, consumers)                     \
    {topic, producer, published, read, consumers},
    EVENT_TYPE_LIST(EVENT_TYPE_INFO)
#undef EVENT_TYPE_INFO
};

const char *event_type_name(enum event_type t)
{
    return t > EVENT_NONE && t < EVENT_NTYPES ? EVENT_TYPES[t - 1] : NULL;
}

enum event_type event_type_parse(const char *name)
{
    for (size_t i = 0; name && i < EVENT_NTYPES_LISTED; i++) {
        if (strcmp(EVENT_TYPES[i], name) == 0)
            return (enum event_type)(i + 1);
    }
    return EVENT_NONE;
}

const char *event_type_default_topic(enum event_type t)
{
    return t > EVENT_NONE && t < EVENT_NTYPES ? event_type_info[t - 1].topic : NULL;
}

const char *event_type_producer(enum event_type t)
{
    return t > EVENT_NONE && t < EVENT_NTYPES ? event_type_info[t - 1].producer : NULL;
}

int event_type_version(enum event_type t)
{
    return t > EVENT_NONE && t < EVENT_NTYPES ? event_type_info[t - 1].published : 0;
}

int event_type_max_version(enum event_type t)
{
    return t > EVENT_NONE && t < EVENT_NTYPES ? event_type_info[t - 1].read : 0;
}

const char *event_type_consumers(enum event_type t)
{
    return t > EVENT_NONE && t < EVENT_NTYPES ? event_type_info[t - 1].consumers : "";
}

bool event_type_consumed_by(enum event_type t, const char *service)
{
    const char *p;
    size_t len;

    if (t <= EVENT_NONE || t >= EVENT_NTYPES || !service || !*service)
        return false;
    len = strlen(service);
    for (p = event_type_info[t - 1].consumers; (p = strstr(p, service)) != NULL; p += len) {
        bool starts = p == event_type_info[t - 1].consumers || p[-1] == ' ';

        if (starts && (p[len] == ' ' || p[len] == '\0'))
            return true;
    }
    return false;
}

/* TOPIC_<TYPE> overrides, indexed like EVENT_TYPES; "" = use the default. Written only by
 * event_topics_load(), which runs once at start before any thread. */
static char event_topic_override[EVENT_NTYPES_LISTED][EVENT_TOPIC_MAX];

/* One attribute of the envelope: its JSON name, where it lives in struct event, whether a
 * parsed event must have it. Header name is "ce_" + name. */
struct event_attr {
    const char *name;
    size_t offset;
    size_t size;
    int required;
};

static const struct event_attr event_attrs[] = {
    {"id", offsetof(struct event, id), sizeof(((struct event *)0)->id), 1},
    {"source", offsetof(struct event, source), sizeof(((struct event *)0)->source), 1},
    {"type", offsetof(struct event, type), sizeof(((struct event *)0)->type), 1},
    {"subject", offsetof(struct event, subject), sizeof(((struct event *)0)->subject), 0},
    {"time", offsetof(struct event, time), sizeof(((struct event *)0)->time), 0},
    {"dataschema", offsetof(struct event, dataschema), sizeof(((struct event *)0)->dataschema), 1},
    {"correlationid", offsetof(struct event, correlationid),
     sizeof(((struct event *)0)->correlationid), 0},
    {"causationid", offsetof(struct event, causationid), sizeof(((struct event *)0)->causationid),
     0},
    {"traceparent", offsetof(struct event, traceparent), sizeof(((struct event *)0)->traceparent),
     0},
};

#define EVENT_NATTRS (sizeof(event_attrs) / sizeof(event_attrs[0]))

static char *event__field(struct event *ev, const struct event_attr *a)
{
    return (char *)ev + a->offset;
}

static const char *event__cfield(const struct event *ev, const struct event_attr *a)
{
    return (const char *)ev + a->offset;
}

static void event__err(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void event__err(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!errbuf || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

/* Copies @src into @dst (size @size); -EINVAL when it does not fit. */
static int event__copy(char *dst, size_t size, const char *src)
{
    if (!src)
        src = "";
    if (util_strlcpy(dst, src, size) >= size) {
        dst[0] = '\0';
        return -EINVAL;
    }
    return 0;
}

static int event__hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Copies header value @src into @dst (size @size), percent-decoding it: the CloudEvents SDKs
 * percent-encode ce_* header values (RFC 3986), e.g. "%2Fcatalog-service"; a '%' not followed
 * by two hex digits stays as it is. -EINVAL when it does not fit. */
static int event__copy_header(char *dst, size_t size, const char *src)
{
    size_t n = 0;

    for (; *src; src++) {
        char c = *src;

        if (c == '%' && event__hex(src[1]) >= 0 && event__hex(src[2]) >= 0) {
            c = (char)(event__hex(src[1]) * 16 + event__hex(src[2]));
            src += 2;
        }
        if (c == '\0' || n + 1 >= size) {
            dst[0] = '\0';
            return -EINVAL; /* an encoded NUL or too long */
        }
        dst[n++] = c;
    }
    dst[n] = '\0';
    return 0;
}

void event_schema_urn(const char *type, int version, char *out, size_t outlen)
{
    snprintf(out, outlen, EVENT_SCHEMA_PREFIX "%s:v%d", type ? type : "", version);
}

/* Parses the version out of "urn:commerce:event:<type>:v<N>"; 0 on success. */
static int event__parse_version(const char *schema, const char *type, int *ret_version)
{
    size_t plen = strlen(EVENT_SCHEMA_PREFIX), tlen = strlen(type);
    const char *p;
    long v = 0;

    if (strncmp(schema, EVENT_SCHEMA_PREFIX, plen) != 0)
        return -EINVAL;
    p = schema + plen;
    if (strncmp(p, type, tlen) != 0 || strncmp(p + tlen, ":v", 2) != 0)
        return -EINVAL;
    p += tlen + 2;
    if (!isdigit((unsigned char)*p))
        return -EINVAL;
    for (; isdigit((unsigned char)*p); p++) {
        v = v * 10 + (*p - '0');
        if (v > EVENT_VERSION_MAX)
            return -EINVAL;
    }
    if (*p != '\0' || v < 1)
        return -EINVAL;
    *ret_version = (int)v;
    return 0;
}

int event_init(struct event *ev, const char *type, int version, const char *source,
               const char *subject, const struct msgctx *ctx, cJSON *data)
{
    char uuid[UTIL_UUID_LEN];
    int r = -EINVAL;

    memset(ev, 0, sizeof(*ev));
    if (!type || !*type || !source || !*source || version < 1 || version > EVENT_VERSION_MAX)
        goto out;
    if (!data)
        data = cJSON_CreateObject();
    if (!data || !cJSON_IsObject(data))
        goto out;

    if (ctx && ctx->message_id[0]) {
        if (event__copy(ev->id, sizeof(ev->id), ctx->message_id) < 0)
            goto out;
    } else {
        util_uuid(uuid);
        util_strlcpy(ev->id, uuid, sizeof(ev->id));
    }
    if (event__copy(ev->type, sizeof(ev->type), type) < 0 ||
        event__copy(ev->source, sizeof(ev->source), source) < 0 ||
        event__copy(ev->subject, sizeof(ev->subject), subject) < 0)
        goto out;
    if (ctx) {
        if (event__copy(ev->correlationid, sizeof(ev->correlationid), ctx->correlation_id) < 0 ||
            event__copy(ev->causationid, sizeof(ev->causationid), ctx->causation_id) < 0 ||
            event__copy(ev->traceparent, sizeof(ev->traceparent), ctx->traceparent) < 0)
            goto out;
    }
    if (!ev->correlationid[0])
        util_strlcpy(ev->correlationid, ev->id, sizeof(ev->correlationid));
    util_rfc3339(util_now_ms(), ev->time, sizeof(ev->time));
    event_schema_urn(type, version, ev->dataschema, sizeof(ev->dataschema));
    ev->version = version;
    ev->data = data;
    data = NULL; /* now owned by ev */
    r = 0;
out:
    cJSON_Delete(data);
    if (r < 0)
        memset(ev, 0, sizeof(*ev));
    return r;
}

void event_release(struct event *ev)
{
    if (!ev)
        return;
    cJSON_Delete(ev->data);
    ev->data = NULL;
}

char *event_to_json(const struct event *ev)
{
    cJSON *root = cJSON_CreateObject(), *data = NULL;
    char *out = NULL, *printed = NULL;
    size_t i;

    if (!root || !cJSON_AddStringToObject(root, "specversion", EVENT_SPECVERSION))
        goto out;
    for (i = 0; i < EVENT_NATTRS; i++) {
        const char *v = event__cfield(ev, &event_attrs[i]);

        if (!v[0])
            continue; /* optional and empty: absent, as CloudEvents wants */
        if (!cJSON_AddStringToObject(root, event_attrs[i].name, v))
            goto out;
        if (strcmp(event_attrs[i].name, "time") == 0 &&
            !cJSON_AddStringToObject(root, "datacontenttype", EVENT_DATA_CONTENT_TYPE))
            goto out;
    }
    /* A deep copy keeps the ownership rule simple: only root is deleted. */
    data = ev->data ? cJSON_Duplicate(ev->data, 1) : cJSON_CreateObject();
    if (!data || !cJSON_AddItemToObject(root, "data", data)) {
        cJSON_Delete(data);
        goto out;
    }
    printed = cJSON_PrintUnformatted(root);
    if (printed)
        out = strdup(printed); /* the contract is free(), not cJSON_free() */
out:
    cJSON_free(printed);
    cJSON_Delete(root);
    return out;
}

size_t event_to_headers(const struct event *ev, struct event_header *out, size_t max)
{
    static const char *const names[EVENT_NATTRS] = {
        "ce_id",         "ce_source",        "ce_type",        "ce_subject",     "ce_time",
        "ce_dataschema", "ce_correlationid", "ce_causationid", "ce_traceparent",
    };
    size_t n = 0, i;

    if (n < max)
        out[n++] = (struct event_header){"ce_specversion", EVENT_SPECVERSION};
    for (i = 0; i < EVENT_NATTRS && n < max; i++) {
        const char *v = event__cfield(ev, &event_attrs[i]);

        if (v[0])
            out[n++] = (struct event_header){names[i], v};
    }
    if (n < max)
        out[n++] = (struct event_header){"content-type", EVENT_FORMAT_CONTENT_TYPE};
    return n;
}

/* The value of header "ce_<attr>", or NULL. */
static const char *event__header(const struct event_header *headers, size_t nheaders,
                                 const char *attr)
{
    size_t i;

    for (i = 0; i < nheaders; i++) {
        const char *name = headers[i].name;

        if (name && headers[i].value && strncmp(name, "ce_", 3) == 0 && strcmp(name + 3, attr) == 0)
            return headers[i].value;
    }
    return NULL;
}

/* The value of the content-type header (name matched case-insensitively), or NULL. */
static const char *event__content_type(const struct event_header *headers, size_t nheaders)
{
    size_t i;

    for (i = 0; i < nheaders; i++) {
        if (headers[i].name && headers[i].value && strcasecmp(headers[i].name, "content-type") == 0)
            return headers[i].value;
    }
    return NULL;
}

/* Whether media type @ct is @type, ignoring case, spaces and parameters ("; charset=…"). */
static bool event__media_type_is(const char *ct, const char *type)
{
    size_t n = strlen(type);

    while (*ct == ' ')
        ct++;
    return strncasecmp(ct, type, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* An attribute from the body (@root; NULL in binary mode), else from the headers (then
 * *@ret_header is set, when given); NULL when in neither. -EINVAL in @ret_err when the body
 * has it with a non-string value. */
static const char *event__attr(const cJSON *root, const struct event_header *headers,
                               size_t nheaders, const char *name, int *ret_err, bool *ret_header)
{
    const cJSON *item = root ? cJSON_GetObjectItemCaseSensitive(root, name) : NULL;

    if (item && !cJSON_IsNull(item)) {
        if (!cJSON_IsString(item) || !item->valuestring) {
            *ret_err = -EINVAL;
            return NULL;
        }
        return item->valuestring;
    }
    if (ret_header)
        *ret_header = true;
    return event__header(headers, nheaders, name);
}

/*
 * The content mode of a message (the Kafka binding, section 3): structured when content-type
 * starts with application/cloudevents, else binary — except a JSON object value carrying
 * "specversion": an envelope, as published before structured mode (content-type
 * application/json) or by a producer that puts datacontenttype into content-type.
 * Returns 0 or -EINVAL (an event format other than JSON) with the reason in @errbuf.
 */
static int event__mode(const char *ct, const cJSON *root, enum event_mode *ret_mode, char *errbuf,
                       size_t errlen)
{
    if (ct && strncasecmp(ct + strspn(ct, " "), "application/cloudevents", 23) == 0) {
        if (!event__media_type_is(ct, EVENT_FORMAT_CONTENT_TYPE)) {
            event__err(errbuf, errlen, "unsupported event format '%.60s'", ct);
            return -EINVAL;
        }
        *ret_mode = EVENT_MODE_STRUCTURED;
        return 0;
    }
    *ret_mode =
        cJSON_HasObjectItem(root, "specversion") ? EVENT_MODE_STRUCTURED : EVENT_MODE_BINARY;
    return 0;
}

int event_parse(const char *payload, size_t len, const struct event_header *headers,
                size_t nheaders, struct event *ret, char *errbuf, size_t errlen)
{
    struct event ev;
    cJSON *root = NULL, *data;
    const cJSON *body;
    const char *v, *ct = event__content_type(headers, nheaders);
    enum event_mode mode;
    size_t i;
    int r = -EINVAL, bad = 0;

    memset(&ev, 0, sizeof(ev));
    if (!payload || len == 0) {
        event__err(errbuf, errlen, "empty payload");
        goto out;
    }
    root = cJSON_ParseWithLength(payload, len);
    if (!root) {
        event__err(errbuf, errlen, "payload is not JSON");
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        event__err(errbuf, errlen, "payload is not a JSON object");
        goto out;
    }
    if (event__mode(ct, root, &mode, errbuf, errlen) < 0)
        goto out;
    /* binary mode: the value is data and every attribute is a ce_* header */
    body = mode == EVENT_MODE_STRUCTURED ? root : NULL;

    v = event__attr(body, headers, nheaders, "specversion", &bad, NULL);
    if (bad || !v) {
        event__err(errbuf, errlen, "%sattribute 'specversion' is missing or not a string",
                   body ? "" : "binary mode: ");
        goto out;
    }
    if (strcmp(v, EVENT_SPECVERSION) != 0) {
        event__err(errbuf, errlen, "unsupported specversion '%.16s'", v);
        goto out;
    }
    /* binary mode: content-type is datacontenttype (absent: JSON, the only kind we read) */
    v = body ? event__attr(body, headers, nheaders, "datacontenttype", &bad, NULL) : ct;
    if (bad || (v && !event__media_type_is(v, EVENT_DATA_CONTENT_TYPE))) {
        event__err(errbuf, errlen, "unsupported datacontenttype '%.60s'", bad ? "" : v);
        goto out;
    }

    for (i = 0; i < EVENT_NATTRS; i++) {
        const struct event_attr *a = &event_attrs[i];
        bool from_header = false;

        v = event__attr(body, headers, nheaders, a->name, &bad, &from_header);
        if (bad) {
            event__err(errbuf, errlen, "attribute '%s' is not a string", a->name);
            goto out;
        }
        if (!v || !*v) {
            if (!a->required)
                continue;
            event__err(errbuf, errlen, "%srequired attribute '%s' is missing",
                       body ? "" : "binary mode: ", a->name);
            goto out;
        }
        if ((from_header ? event__copy_header(event__field(&ev, a), a->size, v)
                         : event__copy(event__field(&ev, a), a->size, v)) < 0) {
            event__err(errbuf, errlen, "attribute '%s' is too long", a->name);
            goto out;
        }
    }
    if (event__parse_version(ev.dataschema, ev.type, &ev.version) < 0) {
        event__err(errbuf, errlen, "dataschema '%.100s' is not " EVENT_SCHEMA_PREFIX "%.60s:v<N>",
                   ev.dataschema, ev.type);
        goto out;
    }

    if (body) {
        data = cJSON_DetachItemFromObjectCaseSensitive(root, "data");
    } else {
        data = root; /* already known to be an object */
        root = NULL;
    }
    if (!data || !cJSON_IsObject(data)) {
        cJSON_Delete(data);
        event__err(errbuf, errlen, "required attribute 'data' is missing or not an object");
        goto out;
    }
    ev.data = data; /* now owned by ev */
    ev.mode = mode;
    *ret = ev;
    r = 0;
out:
    cJSON_Delete(root);
    return r;
}

/* Topic names Kafka accepts: [a-zA-Z0-9._-]{1,249}. */
static int event__valid_topic(const char *t)
{
    size_t n = strlen(t), i;

    if (n == 0 || n >= EVENT_TOPIC_MAX || strcmp(t, ".") == 0 || strcmp(t, "..") == 0)
        return 0;
    for (i = 0; i < n; i++)
        if (!isalnum((unsigned char)t[i]) && t[i] != '.' && t[i] != '_' && t[i] != '-')
            return 0;
    return 1;
}

int event_topics_load(char *errbuf, size_t errlen)
{
    size_t i, used = 0;
    int r = 0;

    if (errbuf && errlen)
        errbuf[0] = '\0';
    for (i = 0; i < EVENT_NTYPES_LISTED; i++) {
        char var[96] = "TOPIC_";
        const char *val;
        size_t j, k = strlen(var);

        for (j = 0; EVENT_TYPES[i][j] && k + 1 < sizeof(var); j++, k++)
            var[k] =
                EVENT_TYPES[i][j] == '.' ? '_' : (char)toupper((unsigned char)EVENT_TYPES[i][j]);
        var[k] = '\0';

        event_topic_override[i][0] = '\0';
        val = getenv(var); /* allowed here: called by the config loader (STYLE) */
        if (!val || !*val)
            continue;
        if (!event__valid_topic(val)) {
            /* report every bad override, like cfg_load() */
            if (errbuf && used < errlen) {
                int w =
                    snprintf(errbuf + used, errlen - used,
                             "%s%s: '%.60s' is not a valid topic name", r ? "; " : "", var, val);
                used += w > 0 ? (size_t)w : 0;
            }
            r = -EINVAL;
            continue;
        }
        util_strlcpy(event_topic_override[i], val, sizeof(event_topic_override[i]));
    }
    return r;
}

const char *event_topic(const char *type)
{
    enum event_type t = event_type_parse(type);

    if (t == EVENT_NONE)
        return NULL;
    if (event_topic_override[t - 1][0])
        return event_topic_override[t - 1];
    return event_type_default_topic(t);
}
