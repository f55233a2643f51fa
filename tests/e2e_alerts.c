/*
 * e2e_alerts.c - issue 14, the alert rules (deploy/prometheus/alerts.yml) checked by
 * Prometheus's own tool, without a server:
 *
 *   - `promtool check config deploy/prometheus.yml` accepts the configuration and the rule
 *     files it loads;
 *   - `promtool test rules deploy/prometheus/alerts.test.yml` passes: for every alert, series
 *     that fire it (with its severity, summary and description) and series that must not;
 *   - every alert of alerts.yml has a test there, and every commerce_* metric a rule reads is
 *     one the code exports (a "commerce_*" string literal in common/src or a service's src).
 *
 * That a real Prometheus fires the dead-letter alert after a poison message is
 * tests/e2e_prometheus.c's part. promtool comes with Debian's package "prometheus"
 * (scripts/deps.sh installs it); without it the tests are skipped, except on CI (CI set),
 * where they fail. Run from the checkout's root (scripts/test.sh does).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <sys/wait.h>

#include <cmocka.h>

#include "testsup.h"

#define CONFIG "deploy/prometheus.yml"
#define RULES "deploy/prometheus/alerts.yml"
#define RULE_TESTS "deploy/prometheus/alerts.test.yml"

/* Runs @cmd with bash, its output into TEST_STATE_DIR/e2e_alerts-@name.log; the exit status
 * (-1 when it did not run). The log is printed when the status is not 0. */
static int sh(const char *name, const char *cmd)
{
    char log[512], *line = NULL;
    int st;

    snprintf(log, sizeof(log), "%s/e2e_alerts-%s.log", ts_env("TEST_STATE_DIR"), name);
    if (asprintf(&line, "bash -c '%s' >'%s' 2>&1", cmd, log) < 0)
        return -1;
    st = system(line);
    free(line);
    st = (st != -1 && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
    if (st != 0) {
        fprintf(stderr, "e2e_alerts: %s: exit %d\n", cmd, st);
        ts_print_log_tail(log);
    }
    return st;
}

/* Skips the test when promtool is missing, unless CI is set (then it fails). */
static void need_promtool(void)
{
    const char *ci = getenv("CI");

    if (system("command -v promtool >/dev/null 2>&1") == 0)
        return;
    if (ci && *ci)
        fail_msg("promtool is not installed (Debian package 'prometheus', scripts/deps.sh) and "
                 "CI is set");
    printf("SKIP: promtool is not installed (Debian package 'prometheus'): the alert rules "
           "are not checked\n");
    skip();
}

static void test_config_and_rules_are_valid(void **state)
{
    (void)state;
    need_promtool();
    /* resolves rule_files relative to the configuration, as Prometheus does */
    assert_int_equal(sh("check", "promtool check config " CONFIG), 0);
}

static void test_rule_unit_tests_pass(void **state)
{
    (void)state;
    need_promtool();
    assert_int_equal(sh("test", "promtool test rules " RULE_TESTS), 0);
}

/* Both need no promtool: plain text against plain text. */
static void test_every_alert_has_a_unit_test(void **state)
{
    (void)state;
    /* the alert names (at least the seven kinds of issue 14), each named in a test */
    assert_int_equal(sh("names", "n=0; for a in $(sed -n \"s/^ *- alert: *//p\" " RULES "); do "
                                 "n=$((n + 1)); grep -q \"alertname: $a\\$\" " RULE_TESTS
                                 " || { echo \"no test for $a\"; exit 1; }; done; "
                                 "[ $n -ge 7 ] || { echo \"only $n alerts\"; exit 1; }"),
                     0);
}

static void test_rules_read_exported_metrics(void **state)
{
    (void)state;
    assert_int_equal(sh("metrics", "missing=$(comm -23 "
                                   "<(grep -oE \"commerce_[a-z0-9_]+\" " RULES " | sort -u) "
                                   "<(grep -rhoE \"\\\"commerce_[a-z0-9_]+\\\"\" common/src "
                                   "*-service/src --include=*.c --include=*.h | tr -d \"\\\"\" "
                                   "| sort -u)); "
                                   "[ -z \"$missing\" ] || { echo \"not exported: $missing\"; "
                                   "exit 1; }"),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_and_rules_are_valid),
        cmocka_unit_test(test_rule_unit_tests_pass),
        cmocka_unit_test(test_every_alert_has_a_unit_test),
        cmocka_unit_test(test_rules_read_exported_metrics),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
