/* test_util.c - util_uuid: random (version 4, RFC 4122 variant) lowercase UUIDs, none twice,
 * also not across a fork. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"

#define N_IDS 20000

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_uuid_is_v4_lowercase(void **state)
{
    (void)state;
    for (int i = 0; i < 1000; i++) {
        char id[UTIL_UUID_LEN];

        memset(id, 'x', sizeof(id));
        util_uuid(id);
        assert_int_equal(strlen(id), 36);
        assert_true(util_is_uuid(id));
        for (const char *p = id; *p; p++)
            assert_true(*p == '-' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
        assert_int_equal(id[14], '4');           /* the version nibble */
        assert_non_null(strchr("89ab", id[19])); /* the variant's two high bits: 10 */
    }
}

/* 20,000 ids, sorted: no two alike, and every random nibble position takes many values (a
 * generator stuck on a constant, or returning its buffer unfilled, fails one of them). */
static void test_uuid_unique_and_random(void **state)
{
    char(*ids)[UTIL_UUID_LEN] = calloc(N_IDS, UTIL_UUID_LEN);

    (void)state;
    assert_non_null(ids);
    for (int i = 0; i < N_IDS; i++)
        util_uuid(ids[i]);
    for (int pos = 0; pos < 36; pos++) {
        int seen[16] = {0}, kinds = 0;

        if (pos == 8 || pos == 13 || pos == 14 || pos == 18 || pos == 19 || pos == 23)
            continue; /* dashes, the version, the variant */
        for (int i = 0; i < N_IDS; i++) {
            char c = ids[i][pos];
            int v = c <= '9' ? c - '0' : c - 'a' + 10;

            if (!seen[v]++)
                kinds++;
        }
        assert_int_equal(kinds, 16);
    }
    qsort(ids, N_IDS, UTIL_UUID_LEN, cmp_id);
    for (int i = 1; i < N_IDS; i++)
        assert_int_not_equal(strcmp(ids[i - 1], ids[i]), 0);
    free(ids);
}

/* Ids are drawn from a per-thread pool of random bytes: a forked child must not hand out the
 * ids its parent is about to. */
static void test_uuid_differs_across_fork(void **state)
{
    char first[UTIL_UUID_LEN], mine[UTIL_UUID_LEN], child[UTIL_UUID_LEN] = "";
    int fds[2], status;
    pid_t pid;

    (void)state;
    util_uuid(first); /* the pool is filled before the fork */
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char id[UTIL_UUID_LEN];

        util_uuid(id);
        _exit(write(fds[1], id, sizeof(id)) == (ssize_t)sizeof(id) ? 0 : 1);
    }
    close(fds[1]);
    util_uuid(mine);
    assert_int_equal(read(fds[0], child, sizeof(child)), sizeof(child));
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(util_is_uuid(child));
    assert_string_not_equal(child, mine);
    assert_string_not_equal(child, first);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uuid_is_v4_lowercase),
        cmocka_unit_test(test_uuid_unique_and_random),
        cmocka_unit_test(test_uuid_differs_across_fork),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
