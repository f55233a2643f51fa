/*
 * test_contracts_doc.c - docs/event-contracts.md cannot drift from the schemas: the section
 * between its "contracts:begin" / "contracts:end" markers must be exactly what
 * contracts_doc_markdown() (`make contracts`, tools/gen-contracts-doc.c) makes of contracts/.
 * Runs from the repo root, or with $CONTRACTS_DIR and $CONTRACTS_DOC.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/contracts.h"

#define DOC_BEGIN "<!-- contracts:begin -->\n"
#define DOC_END "<!-- contracts:end -->"

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);

    return v && *v ? v : def;
}

/* The whole file @path; caller frees. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long len;

    if (!f)
        fail_msg("cannot open %s (run from the repo root)", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    len = ftell(f);
    assert_true(len >= 0);
    rewind(f);
    buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    fclose(f);
    return buf;
}

/* The 1-based line of the first difference between @a and @b. */
static int first_diff_line(const char *a, const char *b)
{
    int line = 1;

    for (; *a && *a == *b; a++, b++)
        if (*a == '\n')
            line++;
    return line;
}

static void test_doc_matches_schemas(void **state)
{
    const char *dir = env_or("CONTRACTS_DIR", CONTRACTS_DEFAULT_DIR);
    const char *path = env_or("CONTRACTS_DOC", "docs/event-contracts.md");
    struct contracts *c;
    char err[1024], *doc, *gen, *begin, *end;

    (void)state;
    if (contracts_load(dir, &c, err, sizeof(err)) < 0)
        fail_msg("contracts: %s", err);
    gen = contracts_doc_markdown(c);
    assert_non_null(gen);
    doc = slurp(path);
    begin = strstr(doc, DOC_BEGIN);
    end = begin ? strstr(begin, DOC_END) : NULL;
    if (!begin || !end)
        fail_msg("%s lacks the contracts:begin / contracts:end markers", path);
    begin += strlen(DOC_BEGIN);
    *end = '\0';
    if (strcmp(begin, gen) != 0)
        fail_msg("%s differs from the schemas in contracts/ (first at line %d of the generated "
                 "section): run make contracts",
                 path, first_diff_line(begin, gen));
    free(doc);
    free(gen);
    contracts_free(c);
}

/* every type and version has its heading, and nested fields are spelled out */
static void test_doc_lists_every_version(void **state)
{
    struct contracts *c;
    char err[1024], *gen;

    (void)state;
    if (contracts_load(env_or("CONTRACTS_DIR", CONTRACTS_DEFAULT_DIR), &c, err, sizeof(err)) < 0)
        fail_msg("contracts: %s", err);
    gen = contracts_doc_markdown(c);
    assert_non_null(gen);
    for (size_t i = 0; i < contracts_ntypes(c); i++) {
        const char *type = contracts_type(c, i);

        for (int v = 1; v <= contracts_latest(c, type); v++) {
            char heading[128];

            snprintf(heading, sizeof(heading), "#### `%s` v%d\n", type, v);
            if (!strstr(gen, heading))
                fail_msg("no section for %s v%d", type, v);
        }
    }
    assert_non_null(strstr(gen, "| `items[].skuId` | integer, ≥ 1 | yes |"));
    assert_non_null(strstr(gen, "| `shippingAddress.city` | string, length 1..200 | yes, when its "
                                "parent is present |"));
    assert_non_null(strstr(gen, "| `approvedAtTime` | string (date-time) | no |"));
    free(gen);
    contracts_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doc_matches_schemas),
        cmocka_unit_test(test_doc_lists_every_version),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
