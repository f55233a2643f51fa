/*
 * gen-contracts-doc.c - writes the payload reference of docs/event-contracts.md from the JSON
 * Schemas under contracts/ (issue 7), so the page cannot drift from the contracts.
 *
 *   gen-contracts-doc CONTRACTS_DIR               the generated section on stdout
 *   gen-contracts-doc --write DOC CONTRACTS_DIR   replaces what lies between the lines
 *                                                 "<!-- contracts:begin -->" and
 *                                                 "<!-- contracts:end -->" of DOC, in place
 *
 * `make contracts` runs the second form; common/tests/test_contracts_doc.c fails when the
 * checked-in page differs from what this would write. Exit 0, 1 on a failure (said on stderr),
 * 2 on bad usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/contracts.h"

#define DOC_BEGIN "<!-- contracts:begin -->\n"
#define DOC_END "<!-- contracts:end -->"
#define DOC_MAX (4 * 1024 * 1024)

static void usage(FILE *fp)
{
    fprintf(fp, "usage: gen-contracts-doc [--write DOC] CONTRACTS_DIR\n"
                "  prints the payload reference generated from the schemas in CONTRACTS_DIR;\n"
                "  --write DOC replaces the part of DOC between its contracts:begin/end markers\n");
}

/* Reads @path whole; caller owns *@ret (NUL-terminated). 0 or -errno / -EFBIG. */
static int read_file(const char *path, char **ret)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    int rc = 0;

    if (!f)
        return -errno;
    do {
        if (len + 4096 + 1 > cap) {
            char *grown;

            cap = cap ? cap * 2 : 8192;
            if (cap > DOC_MAX) {
                rc = -EFBIG;
                goto out;
            }
            grown = realloc(buf, cap);
            if (!grown) {
                rc = -ENOMEM;
                goto out;
            }
            buf = grown;
        }
        n = fread(buf + len, 1, 4096, f);
        len += n;
    } while (n > 0);
    if (ferror(f))
        rc = -EIO;
out:
    fclose(f);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    buf[len] = '\0';
    *ret = buf;
    return 0;
}

/* Writes @doc with the marked section replaced by @gen to @path (through a temporary file and
 * a rename, so a failure leaves the old page). 0 or -1 (said on stderr). */
static int write_doc(const char *path, const char *gen)
{
    char *old = NULL, tmp[4096];
    const char *begin, *end;
    FILE *f;
    int rc = -1;

    if (read_file(path, &old) < 0) {
        fprintf(stderr, "gen-contracts-doc: cannot read %s\n", path);
        return -1;
    }
    begin = strstr(old, DOC_BEGIN);
    end = begin ? strstr(begin, DOC_END) : NULL;
    if (!begin || !end) {
        fprintf(stderr, "gen-contracts-doc: %s has no '%.24s' ... '%s' section\n", path, DOC_BEGIN,
                DOC_END);
        goto out;
    }
    begin += strlen(DOC_BEGIN);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "wb");
    if (!f) {
        fprintf(stderr, "gen-contracts-doc: cannot write %s\n", tmp);
        goto out;
    }
    fwrite(old, 1, (size_t)(begin - old), f);
    fputs(gen, f);
    fputs(end, f);
    if (ferror(f) | (fclose(f) != 0) || rename(tmp, path) != 0) {
        fprintf(stderr, "gen-contracts-doc: cannot write %s\n", path);
        remove(tmp);
        goto out;
    }
    rc = 0;
out:
    free(old);
    return rc;
}

int main(int argc, char **argv)
{
    const char *doc = NULL, *dir;
    struct contracts *c = NULL;
    char err[1024], *gen;
    int status = 1;

    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "--write") == 0) {
        doc = argv[2];
        dir = argv[3];
    } else if (argc == 2 && argv[1][0] != '-') {
        dir = argv[1];
    } else {
        usage(stderr);
        return 2;
    }
    if (contracts_load(dir, &c, err, sizeof(err)) < 0) {
        fprintf(stderr, "gen-contracts-doc: %s\n", err);
        return 1;
    }
    gen = contracts_doc_markdown(c);
    if (!gen) {
        fprintf(stderr, "gen-contracts-doc: out of memory\n");
        goto out;
    }
    if (doc) {
        if (write_doc(doc, gen) == 0)
            status = 0;
    } else {
        fputs(DOC_BEGIN, stdout);
        fputs(gen, stdout);
        fputs(DOC_END "\n", stdout);
        status = fflush(stdout) == 0 ? 0 : 1;
    }
    free(gen);
out:
    contracts_free(c);
    return status;
}
