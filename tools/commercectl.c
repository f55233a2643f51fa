/*
 * commercectl.c - the operator CLI. For now only the event contracts (issue 7):
 *
 *   commercectl contracts check [--dir DIR]
 *       loads every schema under DIR (default "contracts"), checks each type's versions under
 *       its compatibility mode; prints one OK line per type or the violations.
 *       Exit 0 compatible, 1 violations or unloadable contracts, 2 usage.
 *   commercectl contracts validate [--dir DIR] TYPE VERSION FILE
 *       validates the JSON in FILE ("-" = stdin) against TYPE's schema VERSION ("1" or "v1").
 *       FILE may hold the payload, or a whole envelope (an object with "specversion" and
 *       "data"): then the envelope is validated too, and "data" against the schema.
 *       Exit 0 valid, 1 invalid (the error on stderr), 2 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/contracts.h"
#include "common/jschema.h"

#define MAX_INPUT (4 * 1024 * 1024)

static void usage(void)
{
    fprintf(stderr, "usage: commercectl contracts check [--dir DIR]\n"
                    "       commercectl contracts validate [--dir DIR] TYPE VERSION FILE\n"
                    "  DIR defaults to ./contracts; VERSION is 1 or v1; FILE - reads stdin\n");
}

static void print_violation(const struct contracts_violation *v, void *arg)
{
    char line[1024];

    (void)arg;
    contracts_violation_format(v, line, sizeof(line));
    printf("FAIL %s\n", line);
}

static int cmd_check(const char *dir)
{
    struct contracts *c;
    char err[1024];
    int total = 0;

    if (contracts_load(dir, &c, err, sizeof(err)) < 0) {
        fprintf(stderr, "commercectl: %s\n", err);
        return 1;
    }
    for (size_t i = 0; i < contracts_ntypes(c); i++) {
        const char *type = contracts_type(c, i);
        int n = contracts_check_type(c, type, print_violation, NULL);

        if (n == 0)
            printf("OK   %s v1..v%d (%s)\n", type, contracts_latest(c, type),
                   contracts_mode_name(contracts_mode(c, type)));
        total += n;
    }
    if (total)
        printf("%d violation%s in %s\n", total, total == 1 ? "" : "s", dir);
    else
        printf("all %zu event types compatible\n", contracts_ntypes(c));
    contracts_free(c);
    return total ? 1 : 0;
}

static cJSON *read_input(const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char *text;
    size_t len;
    cJSON *doc = NULL;

    if (!f) {
        fprintf(stderr, "commercectl: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    text = malloc(MAX_INPUT + 1);
    if (!text) {
        fprintf(stderr, "commercectl: out of memory\n");
        goto out;
    }
    len = fread(text, 1, MAX_INPUT + 1, f);
    if (len > MAX_INPUT)
        fprintf(stderr, "commercectl: %s: larger than %d bytes\n", path, MAX_INPUT);
    else if (!(doc = cJSON_ParseWithLength(text, len)))
        fprintf(stderr, "commercectl: %s: not valid JSON\n", path);
out:
    free(text);
    if (f != stdin)
        fclose(f);
    return doc;
}

static int cmd_validate(const char *dir, const char *type, const char *version, const char *file)
{
    struct contracts *c = NULL;
    cJSON *doc = NULL;
    const cJSON *data;
    char err[1024], *end;
    long v;
    int rc = 1;

    v = strtol(version + (version[0] == 'v'), &end, 10);
    if (*end || end == version + (version[0] == 'v') || v < 1 || v > CONTRACTS_MAX_VERSIONS) {
        fprintf(stderr, "commercectl: bad version '%s'\n", version);
        usage();
        return 2;
    }
    if (contracts_load(dir, &c, err, sizeof(err)) < 0) {
        fprintf(stderr, "commercectl: %s\n", err);
        goto out;
    }
    if (!contracts_schema(c, type, (int)v)) {
        fprintf(stderr, "commercectl: no schema for %s v%ld in %s\n", type, v, dir);
        goto out;
    }
    doc = read_input(file);
    if (!doc)
        goto out;
    data = doc;
    if (cJSON_IsObject(doc) && cJSON_GetObjectItemCaseSensitive(doc, "specversion") &&
        cJSON_GetObjectItemCaseSensitive(doc, "data")) {
        if (contracts_envelope(c) &&
            jschema_validate(contracts_envelope(c), doc, err, sizeof(err)) < 0) {
            fprintf(stderr, "INVALID envelope: %s\n", err);
            goto out;
        }
        data = cJSON_GetObjectItemCaseSensitive(doc, "data");
    }
    if (contracts_validate(c, type, (int)v, data, err, sizeof(err)) < 0) {
        fprintf(stderr, "INVALID %s v%ld: %s\n", type, v, err);
        goto out;
    }
    printf("VALID %s v%ld\n", type, v);
    rc = 0;
out:
    cJSON_Delete(doc);
    contracts_free(c);
    return rc;
}

int main(int argc, char **argv)
{
    const char *dir = "contracts";
    const char *args[4];
    int nargs = 0;

    if (argc < 3 || strcmp(argv[1], "contracts") != 0) {
        usage();
        return 2;
    }
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strncmp(argv[i], "--dir=", 6) == 0) {
            dir = argv[i] + 6;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "commercectl: unknown option '%s'\n", argv[i]);
            usage();
            return 2;
        } else if (nargs < 4) {
            args[nargs++] = argv[i];
        } else {
            usage();
            return 2;
        }
    }
    if (strcmp(argv[2], "check") == 0 && nargs == 0)
        return cmd_check(dir);
    if (strcmp(argv[2], "validate") == 0 && nargs == 3)
        return cmd_validate(dir, args[0], args[1], args[2]);
    usage();
    return 2;
}
