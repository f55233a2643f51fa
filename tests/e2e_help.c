/*
 * e2e_help.c - every script in scripts/ and every tool in $BUILD_DIR/bin (one per tools/<name>.c)
 * answers -h and --help with its usage: exit status 0, a non-empty stdout that starts with
 * "usage", nothing on stderr, and no side effect — run from an empty temporary working folder,
 * nothing in the checkout (build/, .run/, .deps/ included) is created or modified, and the
 * working folder stays empty. A script with a shebang is executable (it is run as itself);
 * scripts/stack-env.sh, sourced by the others, runs through bash.
 * Run from the checkout's root (scripts/test.sh does); needs no server.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"

#define OUT_MAX (1024 * 1024)
#define HELP_TIMEOUT_S 30

struct fixture {
    char root[PATH_MAX]; /* the checkout */
    char tmp[PATH_MAX];  /* the empty working folder */
    char logs[PATH_MAX]; /* stdout / stderr of each run, outside the checkout */
    char stamp[PATH_MAX + 16];
    int failures;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    const char *t = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    FILE *fp;

    if (!f || !getcwd(f->root, sizeof(f->root)))
        return -1;
    snprintf(f->tmp, sizeof(f->tmp), "%s/e2e_help.XXXXXX", t);
    snprintf(f->logs, sizeof(f->logs), "%s/e2e_help_logs.XXXXXX", t);
    if (!mkdtemp(f->tmp) || !mkdtemp(f->logs))
        return -1;
    /* the reference time: anything in the checkout newer than this was written by a run */
    snprintf(f->stamp, sizeof(f->stamp), "%s/stamp", f->logs);
    if (!(fp = fopen(f->stamp, "w")) || fclose(fp) != 0)
        return -1;
    /* dated a second back, whole: on a file system with coarse (1 s) mtimes a write in the
     * stamp's own second would not be newer than it */
    {
        struct timespec times[2] = {{.tv_sec = time(NULL) - 1}, {.tv_sec = time(NULL) - 1}};

        if (utimensat(AT_FDCWD, f->stamp, times, 0) != 0)
            return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[3 * PATH_MAX];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", f->tmp, f->logs);
    if (system(cmd) != 0)
        print_message("cannot remove %s and %s\n", f->tmp, f->logs);
    free(f);
    return 0;
}

static char *slurp(const char *path)
{
    char *s = NULL;

    if (util_read_file(path, OUT_MAX, &s, NULL) < 0)
        return NULL;
    return s;
}

/* Runs @prefix @path @flag in @f->tmp; records a failure (printed) unless it behaved. */
static void check_help(struct fixture *f, const char *prefix, const char *path, const char *flag)
{
    char cmd[4 * PATH_MAX], out[PATH_MAX + 16], err[PATH_MAX + 16];
    char *o, *e;
    int st;

    snprintf(out, sizeof(out), "%s/out", f->logs);
    snprintf(err, sizeof(err), "%s/err", f->logs);
    snprintf(cmd, sizeof(cmd), "cd '%s' && timeout %d %s'%s' %s </dev/null >'%s' 2>'%s'", f->tmp,
             HELP_TIMEOUT_S, prefix, path, flag, out, err);
    st = system(cmd);
    o = slurp(out);
    e = slurp(err);
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        print_error("%s %s: exit status %d (want 0); stderr: %.300s\n", path, flag,
                    WIFEXITED(st) ? WEXITSTATUS(st) : -1, e ? e : "");
        f->failures++;
    } else if (!o || strncmp(o, "usage", 5) != 0) {
        print_error("%s %s: stdout does not start with \"usage\": %.200s\n", path, flag,
                    o ? o : "(none)");
        f->failures++;
    } else if (e && *e) {
        print_error("%s %s: wrote to stderr: %.300s\n", path, flag, e);
        f->failures++;
    }
    free(o);
    free(e);
}

/* Every file the checkout has changed since the stamp (and the working folder's entries). */
static void check_no_side_effect(struct fixture *f)
{
    char cmd[4 * PATH_MAX], *changed;
    DIR *d;
    struct dirent *de;
    int st;

    snprintf(cmd, sizeof(cmd),
             "cd '%s' && find . -path ./.git -prune -o -newer '%s' -print >'%s/changed'", f->root,
             f->stamp, f->logs);
    st = system(cmd);
    assert_int_equal(st, 0);
    snprintf(cmd, sizeof(cmd), "%s/changed", f->logs);
    changed = slurp(cmd);
    assert_non_null(changed);
    if (*changed) {
        print_error("the --help runs changed the checkout:\n%s", changed);
        f->failures++;
    }
    free(changed);
    assert_non_null(d = opendir(f->tmp));
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            print_error("the --help runs wrote %s into their working folder\n", de->d_name);
            f->failures++;
        }
    }
    closedir(d);
}

static bool has_shebang(const char *path)
{
    char buf[3] = "";
    FILE *fp = fopen(path, "r");
    bool yes;

    if (!fp)
        return false;
    yes = fread(buf, 1, 2, fp) == 2 && buf[0] == '#' && buf[1] == '!';
    fclose(fp);
    return yes;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* scripts/: every file with a shebang or named *.sh */
static void test_scripts(void **state)
{
    struct fixture *f = *state;
    char dir[PATH_MAX + 16], path[2 * PATH_MAX];
    struct dirent *de;
    size_t n = 0;
    DIR *d;

    f->failures = 0;
    snprintf(dir, sizeof(dir), "%s/scripts", f->root);
    assert_non_null(d = opendir(dir));
    while ((de = readdir(d))) {
        bool sourced;

        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (de->d_name[0] == '.' || (!has_shebang(path) && !ends_with(de->d_name, ".sh")))
            continue;
        sourced = !has_shebang(path);
        if (!sourced && access(path, X_OK) != 0) {
            print_error("scripts/%s has a shebang but is not executable (git update-index "
                        "--chmod=+x)\n",
                        de->d_name);
            f->failures++;
        }
        check_help(f, sourced ? "bash " : "", path, "--help");
        check_help(f, sourced ? "bash " : "", path, "-h");
        n++;
    }
    closedir(d);
    if (n < 10)
        fail_msg("found only %zu scripts in %s", n, dir);
    check_no_side_effect(f);
    if (f->failures)
        fail_msg("%d problem(s), see above", f->failures);
}

/* $BUILD_DIR/bin/<tool> of every tools/<tool>.c */
static void test_tools(void **state)
{
    struct fixture *f = *state;
    const char *build = getenv("BUILD_DIR");
    char dir[PATH_MAX + 16], path[2 * PATH_MAX], name[256];
    struct dirent *de;
    size_t n = 0;
    DIR *d;

    f->failures = 0;
    assert_non_null(build);
    snprintf(dir, sizeof(dir), "%s/tools", f->root);
    assert_non_null(d = opendir(dir));
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);

        if (len < 3 || !ends_with(de->d_name, ".c") || len - 2 >= sizeof(name))
            continue;
        snprintf(name, sizeof(name), "%.*s", (int)(len - 2), de->d_name);
        snprintf(path, sizeof(path), "%s/bin/%s", build, name);
        if (access(path, X_OK) != 0) {
            print_error("tools/%s: %s is not built\n", de->d_name, path);
            f->failures++;
            continue;
        }
        check_help(f, "", path, "--help");
        check_help(f, "", path, "-h");
        n++;
    }
    closedir(d);
    if (n < 6)
        fail_msg("found only %zu tools in %s", n, dir);
    check_no_side_effect(f);
    if (f->failures)
        fail_msg("%d problem(s), see above", f->failures);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scripts),
        cmocka_unit_test(test_tools),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
