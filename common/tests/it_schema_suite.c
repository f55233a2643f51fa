/*
 * it_schema_suite.c - runs the official JSON-Schema-Test-Suite against jschema (issue 7).
 *
 * For every suite file of a supported keyword, every case whose schema jschema compiles must
 * give the expected result; a case whose schema uses an unsupported keyword (the compiler says
 * -EOPNOTSUPP) is skipped and counted. Any other compile error fails.
 *
 * The suite directory is $SCHEMA_SUITE_DIR, by default the Debian package's
 * /usr/share/json-schema-test-suite/tests/draft2020-12, or its draft7 directory when the package
 * has no draft2020-12 (Debian 12 ships suite 2.0.0: draft3..draft7 only). For the keywords
 * jschema supports, draft 7 and 2020-12 mean the same, except that format is an assertion
 * (as jschema treats it) and items may be a tuple (refused, so skipped).
 * The suite missing is a failure: install the Debian package json-schema-test-suite.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common/jschema.h"

#define SUITE_ROOT "/usr/share/json-schema-test-suite/tests"

struct suite_file {
    const char *path;   /* relative to the suite directory */
    bool may_be_absent; /* not in every draft's directory */
};

static const struct suite_file FILES[] = {
    {"type.json", false},
    {"properties.json", false},
    {"required.json", false},
    {"additionalProperties.json", false},
    {"enum.json", false},
    {"const.json", false},
    {"items.json", false},
    {"minimum.json", false},
    {"maximum.json", false},
    {"exclusiveMinimum.json", false},
    {"exclusiveMaximum.json", false},
    {"minLength.json", false},
    {"maxLength.json", false},
    {"minItems.json", false},
    {"maxItems.json", false},
    {"boolean_schema.json", false},
    {"default.json", false},
    {"format.json", true},
    {"optional/format/date-time.json", false},
    {"optional/format/uuid.json", true}, /* 2019-09 and later */
};

static char suite_dir[512];
static int total_run, total_skipped;

static bool is_dir(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int find_suite(void **state)
{
    const char *env = getenv("SCHEMA_SUITE_DIR");

    (void)state;
    if (env && *env)
        snprintf(suite_dir, sizeof(suite_dir), "%s", env);
    else if (is_dir(SUITE_ROOT "/draft2020-12"))
        snprintf(suite_dir, sizeof(suite_dir), "%s", SUITE_ROOT "/draft2020-12");
    else
        snprintf(suite_dir, sizeof(suite_dir), "%s", SUITE_ROOT "/draft7");
    if (!is_dir(suite_dir)) {
        fprintf(stderr,
                "JSON-Schema-Test-Suite not found at '%s': install the Debian package "
                "json-schema-test-suite (scripts/deps.sh does) or set SCHEMA_SUITE_DIR\n",
                suite_dir);
        return -1;
    }
    fprintf(stderr, "schema suite: %s\n", suite_dir);
    return 0;
}

static int report(void **state)
{
    (void)state;
    fprintf(stderr, "schema suite: %d cases run, %d skipped (unsupported keywords)\n", total_run,
            total_skipped);
    return 0;
}

static cJSON *read_json(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t len = 0, cap = 0, n;
    cJSON *doc;

    if (!f)
        return NULL;
    do {
        if (len + 4096 > cap) {
            char *bigger = realloc(text, cap = cap * 2 + 8192);

            assert_non_null(bigger);
            text = bigger;
        }
        n = fread(text + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    fclose(f);
    doc = cJSON_ParseWithLength(text, len);
    free(text);
    return doc;
}

/* 2020-12's format.json says invalid strings are valid ("only an annotation by default");
 * jschema asserts format, so those cases test a behaviour it deliberately does not have. */
static bool annotation_only_case(const char *file, const cJSON *test)
{
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(test, "description");

    return strcmp(file, "format.json") == 0 && cJSON_IsString(desc) &&
           strstr(desc->valuestring, "annotation");
}

static void run_file(void **state)
{
    const struct suite_file *sf = *state;
    char path[1024], err[512];
    const cJSON *group, *test;
    cJSON *doc;
    int run = 0, skipped = 0, failed = 0;

    snprintf(path, sizeof(path), "%s/%s", suite_dir, sf->path);
    doc = read_json(path);
    if (!doc && sf->may_be_absent) {
        fprintf(stderr, "  %-32s absent in this draft's directory\n", sf->path);
        return;
    }
    if (!doc)
        fail_msg("cannot read suite file '%s'", path);
    cJSON_ArrayForEach (group, doc) {
        const cJSON *gdesc = cJSON_GetObjectItemCaseSensitive(group, "description");
        const cJSON *tests = cJSON_GetObjectItemCaseSensitive(group, "tests");
        struct jschema *schema = NULL;
        int r = jschema_compile(cJSON_GetObjectItemCaseSensitive(group, "schema"), &schema, err,
                                sizeof(err));

        if (r == -EOPNOTSUPP) {
            skipped += cJSON_GetArraySize(tests);
            continue;
        }
        if (r < 0) {
            fprintf(stderr, "  FAIL %s: '%s': schema does not compile: %s\n", sf->path,
                    gdesc->valuestring, err);
            failed += cJSON_GetArraySize(tests);
            continue;
        }
        cJSON_ArrayForEach (test, tests) {
            const cJSON *tdesc = cJSON_GetObjectItemCaseSensitive(test, "description");
            bool want = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(test, "valid"));
            bool got;

            if (annotation_only_case(sf->path, test)) {
                skipped++;
                continue;
            }
            got = jschema_validate(schema, cJSON_GetObjectItemCaseSensitive(test, "data"), err,
                                   sizeof(err)) == 0;
            run++;
            if (got != want) {
                failed++;
                fprintf(stderr, "  FAIL %s: '%s' / '%s': want %s, got %s%s%s\n", sf->path,
                        gdesc->valuestring, tdesc->valuestring, want ? "valid" : "invalid",
                        got ? "valid" : "invalid", got ? "" : ": ", got ? "" : err);
            }
        }
        jschema_free(schema);
    }
    cJSON_Delete(doc);
    fprintf(stderr, "  %-32s %3d run, %3d skipped, %d failed\n", sf->path, run, skipped, failed);
    total_run += run;
    total_skipped += skipped;
    assert_int_equal(failed, 0);
}

int main(void)
{
    struct CMUnitTest tests[sizeof(FILES) / sizeof(FILES[0])];

    for (size_t i = 0; i < sizeof(FILES) / sizeof(FILES[0]); i++) {
        struct CMUnitTest t = {FILES[i].path, run_file, NULL, NULL, (void *)&FILES[i]};

        tests[i] = t;
    }
    return _cmocka_run_group_tests("it_schema_suite", tests, sizeof(FILES) / sizeof(FILES[0]),
                                   find_suite, report);
}
