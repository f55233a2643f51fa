/*
 * jschema.h - a JSON Schema (draft 2020-12) validator for the keyword subset the event
 * contracts use (issue 7). No maintained C validator is packaged, so this one is small, strict
 * about what it accepts, and proved against the official JSON-Schema-Test-Suite
 * (common/tests/it_schema_suite.c).
 *
 * Supported keywords:
 *   annotations  $schema (must be draft 2020-12 when present), $id, title, description,
 *                $comment, default
 *   any type     type (a name or an array of names; "integer" = a number without a
 *                fraction, so 1.0 is an integer), enum, const
 *   objects      properties, required, additionalProperties (boolean or schema)
 *   arrays       items (a schema, applied to every element), minItems, maxItems
 *   numbers      minimum, maximum, exclusiveMinimum, exclusiveMaximum (numbers, as in 2020-12)
 *   strings      minLength, maxLength (counted in Unicode code points),
 *                format "uuid" (8-4-4-4-12 hex digits, any case, any version) and
 *                "date-time" (RFC 3339 section 5.6; 'T'/'Z' in any case; leap second only at
 *                23:59:60 UTC). Unlike 2020-12's default, format is an ASSERTION here: the
 *                contracts rely on it. Any other format name is refused.
 * Boolean schemas (true / false) are accepted anywhere a schema is.
 *
 * Compiling refuses any other keyword (-EOPNOTSUPP), naming the keyword and its JSON pointer
 * in the schema, e.g. "/properties/sku/pattern: unsupported keyword 'pattern'", so a contract
 * can never silently rely on a keyword nobody checks. Malformed values of supported keywords
 * ("minimum": "1", "required": [1]) are -EINVAL.
 *
 * Errors from jschema_validate() are "<instance JSON pointer>: <message>", e.g.
 * "/items/0/quantity: must be >= 1"; the instance root is written "(root)". Validation stops at
 * the first error (keywords are checked in a fixed order, depth first).
 *
 * A compiled schema is immutable: jschema_validate() may be called from several threads at
 * once. Nothing here does I/O except jschema_load_file().
 */
#ifndef COMMON_JSCHEMA_H
#define COMMON_JSCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/* Schema nesting deeper than this is refused at compile time (-EINVAL). */
#define JSCHEMA_MAX_DEPTH 64
/* jschema_load_file() refuses files larger than this (-EFBIG). */
#define JSCHEMA_MAX_FILE (1024 * 1024)

/* The "type" keyword's seven names as bits. */
enum {
    JSCHEMA_T_NULL = 1u << 0,
    JSCHEMA_T_BOOLEAN = 1u << 1,
    JSCHEMA_T_OBJECT = 1u << 2,
    JSCHEMA_T_ARRAY = 1u << 3,
    JSCHEMA_T_NUMBER = 1u << 4,
    JSCHEMA_T_STRING = 1u << 5,
    JSCHEMA_T_INTEGER = 1u << 6,
    JSCHEMA_T_ANY = 0x7Fu,
};

/* The JSCHEMA_T_* bit of type name @name, or 0 when it is none of the seven (or NULL). */
unsigned jschema_type_bit(const char *name);

/* The type name of the single bit @bit, or NULL when @bit is not one JSCHEMA_T_* bit. */
const char *jschema_type_name(unsigned bit);

struct jschema;

/*
 * Compiles @doc (borrowed; the schema keeps its own copy, so @doc may be freed right after).
 * Returns 0 and sets *@ret (caller owns: jschema_free()), or
 *   -EOPNOTSUPP  an unsupported keyword, $schema or format,
 *   -EINVAL      a malformed schema,
 *   -ENOMEM      allocation failure,
 * with the reason in @errbuf. *@ret is written only on success.
 */
int jschema_compile(const cJSON *doc, struct jschema **ret, char *errbuf, size_t errlen);

/* As jschema_compile() for the JSON text @text of @len bytes (need not be NUL-terminated);
 * text that is not JSON is -EINVAL. */
int jschema_compile_text(const char *text, size_t len, struct jschema **ret, char *errbuf,
                         size_t errlen);

/* As jschema_compile_text() for the file at @path; -errno when it cannot be read, -EFBIG when
 * larger than JSCHEMA_MAX_FILE. */
int jschema_load_file(const char *path, struct jschema **ret, char *errbuf, size_t errlen);

/* Frees @schema. Accepts NULL. */
void jschema_free(struct jschema *schema);

/*
 * Validates @instance (borrowed) against @schema. Returns 0 when valid, -EINVAL with the first
 * error in @errbuf ("<pointer>: <message>") when not. @errbuf may be NULL when @errlen is 0.
 */
int jschema_validate(const struct jschema *schema, const cJSON *instance, char *errbuf,
                     size_t errlen);

/* The schema document as compiled. Borrowed: valid until jschema_free(@schema). */
const cJSON *jschema_document(const struct jschema *schema);

/* The root "$id", or NULL when the schema has none. Borrowed like jschema_document(). */
const char *jschema_id(const struct jschema *schema);

/*
 * Deep JSON equality as JSON Schema defines it (enum, const): numbers by value (1 == 1.0),
 * objects regardless of member order, strings case-sensitively. NULL equals only NULL.
 */
bool jschema_equal(const cJSON *a, const cJSON *b);

#endif
