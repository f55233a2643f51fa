/*
 * jsonx.h - typed reads of JSON request fields that collect RFC 9457 field errors.
 *
 * Each reader looks up @key in @obj (a cJSON object), checks its type and range, and on a
 * problem appends {"field": @field, "message": …} to *@errors (jsonx_field_error) and
 * returns -EINVAL. A missing optional field returns -ENOENT and leaves *@ret untouched; JSON
 * null counts as missing. Values are borrowed from @obj.
 */
#ifndef COMMON_JSONX_H
#define COMMON_JSONX_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/* Appends {"field": @field, "message": @message} to *@errors, creating the array if NULL
 * (an RFC 9457 "errors" member; caller owns the array). */
void jsonx_field_error(cJSON **errors, const char *field, const char *message);

/* The field errors as one line, "invalid payload: <field>: <message>; …" (for a dead-letter
 * record or a log), into @errbuf (truncated to @errlen). */
void jsonx_errors_text(const cJSON *errors, char *errbuf, size_t errlen);

/* A string of at most @maxlen bytes, valid UTF-8 (cJSON does not check: invalid bytes would
 * reach the database). A string with an embedded NUL (\u0000) cannot be seen here, cJSON
 * stops at it: http_json_body() refuses such bodies with jsonx_has_nul_escape(). */
int jsonx_str(const cJSON *obj, const char *key, const char *field, bool required, size_t maxlen,
              const char **ret, cJSON **errors);

/* The largest integer a JSON number (a double) holds exactly: 2^53 - 1. */
#define JSONX_INT_EXACT_MAX 9007199254740991LL

/* An integral number in [lo, hi] (JSON numbers with a fraction are refused). The range is
 * clamped to +-JSONX_INT_EXACT_MAX: larger numbers are not exact in a double (2^63 - 1 would
 * read as 2^63 and wrap), so they are refused rather than rounded. */
int jsonx_int(const cJSON *obj, const char *key, const char *field, bool required, long long lo,
              long long hi, long long *ret, cJSON **errors);

/* An array of at most @maxlen items. */
int jsonx_array(const cJSON *obj, const char *key, const char *field, bool required, size_t maxlen,
                const cJSON **ret, cJSON **errors);

/* Whether @s (@len bytes) is well-formed UTF-8 (no overlong forms, surrogates or code points
 * past U+10FFFF). */
bool jsonx_utf8_valid(const char *s, size_t len);

/* Whether the JSON text @text (@len bytes) has a \u0000 escape inside a string: cJSON would
 * decode it into a NUL that silently ends the C string ("a@x.test\u0000@evil.com" reads as
 * "a@x.test"). */
bool jsonx_has_nul_escape(const char *text, size_t len);

/* Parses a decimal id from a path or query string: 1..2^63-1. 0 or -EINVAL. */
int jsonx_parse_id(const char *s, long long *ret);

#endif
