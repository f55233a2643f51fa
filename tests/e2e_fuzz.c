/*
 * e2e_fuzz.c - every OpenAPI document (docs/openapi/<service>.yaml) fuzzed against the six
 * running services by a generator nobody here wrote: schemathesis, from PyPI, pinned by
 * scripts/fuzz-requirements.txt and installed by scripts/deps.sh into .deps/.
 *
 * The stack is tests/support/saga.h's (fresh databases and topics). Before any fuzzing (the
 * auth document's run hammers POST /api/auth/login, which login throttling then answers with
 * 429) the setup signs up one user per run as USER, creates a product with stock and places
 * an order, so the list and read routes answer real data that the response schemas check.
 *
 * One test per document: scripts/fuzz.sh runs every phase of schemathesis on every operation
 * of it with a fixed seed and a bounded number of examples (FUZZ_MAX_EXAMPLES, default 50),
 * as ADMIN (every route is reachable: USER routes take any role), and for the documents with
 * USER routes a second time as a USER (403 on ADMIN routes, the caller's own resources). The
 * checks (scripts/fuzz.sh lists them and the ones left out, and why): no 5xx, every status
 * code, content type, header and body as documented, schema-violating requests refused,
 * authentication not ignored. A run passes when every operation was tested and no check
 * failed; its summary line is printed, and its whole output when it failed.
 *
 * Bounded in time: each run stops after FUZZ_RUN_TIMEOUT_S, all of them together get
 * FUZZ_BUDGET_S (a run that would start past it fails instead).
 *
 * Without schemathesis (scripts/deps.sh could not reach PyPI) the tests are skipped with a
 * message, except on CI (CI set), where they fail.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "saga.h"
#include "testsup.h"

#define STEP_MS 60000          /* one saga step under ASan on a busy machine */
#define FUZZ_RUN_TIMEOUT_S 150 /* one document, one principal */
#define FUZZ_BUDGET_S 420      /* all runs together (the harness kills the binary at 600 s) */
#define PRICE 5000
#define STOCK 50

enum who { AS_ADMIN, AS_USER };

struct fixture {
    struct saga_stack st;
    struct saga_user user[3]; /* one per USER run (user.yaml's run deactivates its user) */
    int nusers;
    bool skip;      /* schemathesis missing and not on CI */
    time_t started; /* the first run's start, for FUZZ_BUDGET_S */
};

static struct fixture *fx;

/* Whether .deps/ has the schemathesis that scripts/fuzz-requirements.txt pins. */
static bool schemathesis_installed(void)
{
    char venv[400] = "", bin[512];
    bool ok = ts_pinned_venv("scripts/fuzz-requirements.txt", "schemathesis", venv, sizeof(venv));

    snprintf(bin, sizeof(bin), "%s/bin/schemathesis", venv);
    return ok && access(bin, X_OK) == 0;
}

static int setup(void **state)
{
    struct saga_opts opts = {.prefix = "e2e_fuzz", .payment_deadline_s = 3600};
    struct fixture *f = calloc(1, sizeof(*f));
    struct saga_line line;
    long long cat, sku;
    char name[64], id[64];

    if (!f)
        return -1;
    *state = fx = f;
    if (!schemathesis_installed()) {
        const char *ci = getenv("CI");
        if (ci && *ci) {
            fprintf(stderr, "e2e_fuzz: schemathesis is not installed (.deps/schemathesis-*; "
                            "scripts/deps.sh installs it from PyPI) and CI is set\n");
            return -1;
        }
        printf("SKIP: schemathesis is not installed (scripts/deps.sh could not reach PyPI?); "
               "the OpenAPI fuzz tests do not run\n");
        f->skip = true;
        return 0;
    }
    if (saga_stack_start_with_user(&f->st, &opts, "fuzz", &f->user[0], &cat) < 0)
        return -1;
    f->nusers = 1;
    for (; f->nusers < 3; f->nusers++)
        if (saga_user_new(&f->st, "fuzz", &f->user[f->nusers]) < 0)
            return -1;
    ts_unique("Fuzz", name, sizeof(name));
    if (saga_product_new(&f->st, cat, name, PRICE, STOCK, &sku) < 0 ||
        saga_stock_wait(&f->st, sku, STEP_MS) < 0)
        return -1;
    /* an order for each USER run's user: its list and read routes answer a real order */
    line = (struct saga_line){sku, 1};
    for (int i = 0; i < f->nusers; i++)
        if (saga_order_place(&f->st, &f->user[i], &line, 1, NULL, NULL, STEP_MS, id, sizeof(id)) !=
            201)
            return -1;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int rc = 0;

    if (!f)
        return 0;
    if (!f->skip)
        rc = saga_stack_stop(&f->st);
    free(f);
    fx = NULL;
    return rc == 0 ? 0 : -1;
}

/* The last line of the file at @path starting with "fuzz: " (scripts/fuzz.sh's summary) on
 * stdout. */
static void print_summary(const char *path)
{
    char line[1024], last[1024] = "";
    FILE *fp = fopen(path, "r");

    if (!fp)
        return;
    while (fgets(line, sizeof(line), fp))
        if (strncmp(line, "fuzz: ", 6) == 0)
            snprintf(last, sizeof(last), "%s", line);
    fclose(fp);
    printf("%s", last[0] ? last : "fuzz: no summary line\n");
    fflush(stdout);
}

/* Runs scripts/fuzz.sh on docs/openapi/@doc.yaml against @svc as @who; its exit status (0:
 * passed). */
static int fuzz(const char *doc, const struct ts_service *svc, enum who who, int user)
{
    const char *token = who == AS_ADMIN ? fx->st.admin_token : fx->user[user].token;
    char path[128], log[600], work[512], env_work[560], env_token[SAGA_TOKEN_MAX + 16];
    char env_timeout[64];
    long left;
    int rc;

    if (fx->skip)
        skip();
    if (!fx->started)
        fx->started = time(NULL);
    left = FUZZ_BUDGET_S - (long)(time(NULL) - fx->started);
    if (left < 30) {
        printf("fuzz %s: the suite's budget of %d s is spent\n", doc, FUZZ_BUDGET_S);
        return 124;
    }

    snprintf(path, sizeof(path), "docs/openapi/%s.yaml", doc);
    snprintf(work, sizeof(work), "%s/fuzz-%s-%s", ts_env("TEST_STATE_DIR"), doc,
             who == AS_ADMIN ? "admin" : "user");
    snprintf(log, sizeof(log), "%s.log", work);
    snprintf(env_token, sizeof(env_token), "FUZZ_TOKEN=%s", token);
    snprintf(env_timeout, sizeof(env_timeout), "FUZZ_TIMEOUT_S=%ld",
             left < FUZZ_RUN_TIMEOUT_S ? left : (long)FUZZ_RUN_TIMEOUT_S);
    snprintf(env_work, sizeof(env_work), "FUZZ_WORKDIR=%s", work);
    const char *args[] = {path, svc->url, NULL};
    const char *env[] = {env_token, "FUZZ_SERVICE_TOKEN=" SAGA_SERVICE_TOKEN, env_timeout, env_work,
                         NULL};

    unlink(log);
    rc = ts_script("fuzz.sh", args, env, log);
    if (rc != 0) {
        printf("---- schemathesis on %s as %s ----\n", path, who == AS_ADMIN ? "ADMIN" : "USER");
        ts_print_file(log);
        printf("---- end ----\n");
    } else {
        print_summary(log);
    }
    if (rc == 124)
        printf("fuzz %s: the run hit its time limit\n", path);
    return rc;
}

static void test_fuzz_auth(void **state)
{
    (void)state;
    assert_int_equal(fuzz("auth", &fx->st.auth, AS_ADMIN, 0), 0);
}

static void test_fuzz_catalog(void **state)
{
    (void)state;
    assert_int_equal(fuzz("catalog", &fx->st.catalog, AS_ADMIN, 0), 0);
}

static void test_fuzz_inventory(void **state)
{
    (void)state;
    assert_int_equal(fuzz("inventory", &fx->st.inventory, AS_ADMIN, 0), 0);
}

static void test_fuzz_order(void **state)
{
    (void)state;
    /* both runs, whatever the first one found */
    int admin = fuzz("order", &fx->st.order, AS_ADMIN, 0);
    int user = fuzz("order", &fx->st.order, AS_USER, 0);

    assert_int_equal(admin, 0);
    assert_int_equal(user, 0);
}

static void test_fuzz_payment(void **state)
{
    (void)state;
    /* both runs, whatever the first one found */
    int admin = fuzz("payment", &fx->st.payment, AS_ADMIN, 0);
    int user = fuzz("payment", &fx->st.payment, AS_USER, 1);

    assert_int_equal(admin, 0);
    assert_int_equal(user, 0);
}

/* last: its USER run may deactivate its user (DELETE /api/users/me) */
static void test_fuzz_user(void **state)
{
    (void)state;
    /* both runs, whatever the first one found */
    int admin = fuzz("user", &fx->st.user, AS_ADMIN, 0);
    int user = fuzz("user", &fx->st.user, AS_USER, 2);

    assert_int_equal(admin, 0);
    assert_int_equal(user, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fuzz_catalog), cmocka_unit_test(test_fuzz_inventory),
        cmocka_unit_test(test_fuzz_order),   cmocka_unit_test(test_fuzz_payment),
        cmocka_unit_test(test_fuzz_user),    cmocka_unit_test(test_fuzz_auth),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
