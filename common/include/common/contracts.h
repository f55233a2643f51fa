/*
 * contracts.h - the event contracts as code (issue 7): every event type's JSON Schemas, loaded
 * from the repo's contracts/ folder, and the compatibility gate run by
 * `commercectl contracts check`.
 *
 * Layout of a contracts folder:
 *   <dir>/envelope.json             the CloudEvents envelope (optional)
 *   <dir>/compatibility.json        {"default": MODE, "types": {"<type>": MODE, ...}} (optional;
 *                                   without it, or for a type it does not list, the mode is
 *                                   BACKWARD_TRANSITIVE)
 *   <dir>/<type>/v<N>.json          the payload schema of version N of <type>; versions run
 *                                   1..N without gaps; "$id" is "urn:commerce:event:<type>:v<N>"
 * Every schema must compile with jschema (the supported keyword subset only).
 *
 * Compatibility rules. A newer version is compared with an older one ("old" → "new"), the
 * objects at the same place side by side, recursing into properties both versions declare and
 * into array items. A violation names the type, both versions, the rule and the field:
 *   required-removed   a field the old version required is gone or optional in the new one
 *   renamed            a required field is gone while a new field appeared in the same object
 *   required-added     the new version requires a field the old one did not, without "default"
 *   type-changed       a field's type set is not a superset of the old one (BACKWARD) or not a
 *                      subset (FORWARD); integer → number is a widening
 *   enum-narrowed      a value of the old enum/const is missing from the new one
 *   range-narrowed     minimum/exclusiveMinimum raised or maximum/exclusiveMaximum lowered
 *   length-narrowed    minLength/minItems raised or maxLength/maxItems lowered
 *   format-changed     a format added or changed
 *   closed             additionalProperties became false
 *   (FORWARD only: enum-widened, range-widened, length-widened, and a property added to an
 *    object the old version closed with additionalProperties false — old readers refuse them.)
 * Adding an optional field is allowed. Which pairs are compared depends on the type's mode:
 *   NONE                 nothing
 *   BACKWARD             each version with the one before, backward rules (new reads old)
 *   BACKWARD_TRANSITIVE  each version with every older one, backward rules
 *   FORWARD(_TRANSITIVE) the same pairs, forward rules (old reads new)
 *   FULL(_TRANSITIVE)    both rule sets
 * required-removed and renamed apply in every mode but NONE: a consumer still on the older
 * version breaks on them during a rolling upgrade.
 */
#ifndef COMMON_CONTRACTS_H
#define COMMON_CONTRACTS_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/event.h"
#include "common/jschema.h"

#define CONTRACTS_MAX_TYPES 64
#define CONTRACTS_MAX_VERSIONS 32

enum contracts_mode {
    CONTRACTS_NONE,
    CONTRACTS_BACKWARD,
    CONTRACTS_BACKWARD_TRANSITIVE,
    CONTRACTS_FORWARD,
    CONTRACTS_FORWARD_TRANSITIVE,
    CONTRACTS_FULL,
    CONTRACTS_FULL_TRANSITIVE,
};

/* rule sets a comparison applies (bit flags) */
#define CONTRACTS_RULES_BACKWARD 1u
#define CONTRACTS_RULES_FORWARD 2u

/* One compatibility violation; every pointer is borrowed for the duration of the callback. */
struct contracts_violation {
    const char *type; /* event type, "" when comparing bare schemas */
    int old_version;  /* 0 when comparing bare schemas */
    int new_version;
    const char *rule;   /* "required-removed", "type-changed", … (see above) */
    const char *field;  /* path in the payload: "items[].quantity"; "" for the payload itself */
    const char *detail; /* human explanation, e.g. "minimum raised from 0 to 1" */
};

typedef void (*contracts_report_fn)(const struct contracts_violation *v, void *arg);

struct contracts;

/*
 * Loads every schema under @dir. Returns 0 and sets *@ret (caller owns: contracts_free()), or
 * -ENOENT (no such folder), -EINVAL (a schema that does not compile, a wrong $id, a gap in the
 * versions, a bad compatibility.json), -ENOMEM, with the reason in @errbuf.
 */
int contracts_load(const char *dir, struct contracts **ret, char *errbuf, size_t errlen);

/* Frees @c. Accepts NULL. */
void contracts_free(struct contracts *c);

/* Where a service finds the contracts when not told otherwise: relative to its working
 * directory, which is the checkout's root in development and tests and /app in the image
 * (the Dockerfile copies contracts/ there). */
#define CONTRACTS_DEFAULT_DIR "contracts"

/*
 * What a consuming service calls at start (for contracts_check_event()): contracts_load() of
 * @dir, or of CONTRACTS_DEFAULT_DIR when @dir is NULL or empty. Same returns.
 */
int contracts_load_default(const char *dir, struct contracts **ret, char *errbuf, size_t errlen);

/* Number of event types loaded, and the @i-th (0-based, sorted by name; borrowed). */
size_t contracts_ntypes(const struct contracts *c);
const char *contracts_type(const struct contracts *c, size_t i);

/* The newest version of @type, 0 if unknown. */
int contracts_latest(const struct contracts *c, const char *type);

/* The compatibility mode of @type (the default for an unknown type). */
enum contracts_mode contracts_mode(const struct contracts *c, const char *type);

/* The schema of @type version @version, or NULL. Borrowed until contracts_free(@c). */
const struct jschema *contracts_schema(const struct contracts *c, const char *type, int version);

/* The envelope schema, or NULL when the folder has none. Borrowed like contracts_schema(). */
const struct jschema *contracts_envelope(const struct contracts *c);

/*
 * Validates the payload @data of @type version @version. Returns 0, -ENOENT (no such type or
 * version) or -EINVAL (invalid; the first error in @errbuf, see jschema_validate()).
 */
int contracts_validate(const struct contracts *c, const char *type, int version, const cJSON *data,
                       char *errbuf, size_t errlen);

/* What contracts_check_payload() does with a schema-invalid payload. */
enum contracts_policy {
    CONTRACTS_ENFORCE = 0, /* refused: "schema: <pointer>: <message>" (the default) */
    /* a migration aid: an invalid *v1* payload (v1 producers and fixtures predate the
     * contracts) is accepted with CONTRACTS_CHECK_LENIENT and its reason, so the consumer warns,
     * counts it and still runs the handler (its own checks decide); every newer version is
     * enforced */
    CONTRACTS_LENIENT_V1,
};

/* contracts_check_payload()'s answer for an invalid payload accepted by the policy. */
#define CONTRACTS_CHECK_LENIENT 1

/*
 * A consumed event's payload check: validates @ev->data against the schema of (@ev->type,
 * @ev->version) — skipped when @c is NULL — then upcasts it in place (common/upcast.h) step by
 * step towards @max_version, as far as the upcaster table goes, updating @ev->version and
 * @ev->dataschema. Returns 0; CONTRACTS_CHECK_LENIENT (invalid, accepted by @policy; the reason
 * in @reason); or, with the dead-letter reason in @reason, -ENOENT ("schema: no schema for
 * '<type>' v<N>": a version the contracts do not know is never processable), -EINVAL
 * ("schema: <pointer>: <message>", or "upcast: …" for a step that refused the payload).
 */
int contracts_check_payload(const struct contracts *c, enum contracts_policy policy,
                            struct event *ev, int max_version, char *reason, size_t reasonlen);

/*
 * The producer rule (docs/event-contracts.md "Who may produce what"): @ev->source must be
 * "/<service>" for the service event_types.h names as the producer of @ev->type. Returns 0, or
 * -EPERM with the dead-letter reason in @reason ("source: '/x' is not the producer of
 * payment.completed ('/payment-service')"; "source: no producer is named for '<type>'" for a
 * type outside the list). Defence in depth behind the broker's ACLs: a principal allowed to
 * write a topic still cannot speak for another service's event types.
 */
int contracts_check_source(const struct event *ev, char *reason, size_t reasonlen);

/*
 * The consumer's check (kafka_consumer_opts.check, common/kafka_consumer.h; the answers match
 * its contract): contracts_check_source() — a refusal is dead-lettered whatever the policy and
 * counted commerce_events_consumed_total{result="wrong_source"} — then
 * contracts_check_payload() with @arg, the const struct contracts (borrowed; NULL: upcast
 * only). CONTRACTS_ENFORCE, and CONTRACTS_LENIENT_V1 for the _lenient_v1 variant.
 */
int contracts_check_event(struct event *ev, int max_version, const void *arg, char *reason,
                          size_t reasonlen);
int contracts_check_event_lenient_v1(struct event *ev, int max_version, const void *arg,
                                     char *reason, size_t reasonlen);

/*
 * Compares the schema documents @old_doc and @new_doc (borrowed) with the rule sets @rules
 * (CONTRACTS_RULES_* bits), calling @report for each violation with @type and the versions
 * filled in as given. Returns the number of violations.
 */
int contracts_compare(const cJSON *old_doc, const cJSON *new_doc, unsigned rules, const char *type,
                      int old_version, int new_version, contracts_report_fn report, void *arg);

/* Checks every version of @type under its mode; returns the number of violations. */
int contracts_check_type(const struct contracts *c, const char *type, contracts_report_fn report,
                         void *arg);

/*
 * Loads @dir and checks every type. Returns 0 when compatible, -EINVAL with the violations
 * (one per line, as contracts_violation_format() writes them, truncated to fit) in @errbuf, or
 * an error of contracts_load().
 */
int contracts_check(const char *dir, char *errbuf, size_t errlen);

/* "order.placed v2 (vs v1): required-removed: field 'userId': …" into @buf. */
void contracts_violation_format(const struct contracts_violation *v, char *buf, size_t len);

/*
 * The Markdown reference of every type and version of @c: per version a heading, the schema's
 * title, id and mode, and a table (field, type, required, description) with nested fields
 * named "items[].skuId", "shippingAddress.city". What `make contracts` writes between the
 * markers of docs/event-contracts.md. Caller owns: free(). NULL on allocation failure.
 */
char *contracts_doc_markdown(const struct contracts *c);

/* Mode names as written in compatibility.json: "BACKWARD_TRANSITIVE"; NULL-safe parse. */
const char *contracts_mode_name(enum contracts_mode mode);
int contracts_mode_parse(const char *name, enum contracts_mode *ret);

#endif
