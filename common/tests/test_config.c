/* test_config.c - the table-driven environment loader, msgctx and util helpers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/config.h"
#include "common/svc.h"
#include "common/msgctx.h"
#include "common/util.h"

struct demo {
    const char *name;
    long port;
    bool flag;
    const char *secret;
};

static const struct cfg_entry demo_table[] = {
    CFG_ENTRY_STR("T_NAME", "dflt", false, false, struct demo, name, "a name"),
    CFG_ENTRY_INT("T_PORT", "80", 1, 65535, struct demo, port, "a port"),
    CFG_ENTRY_BOOL("T_FLAG", "false", struct demo, flag, "a flag"),
    CFG_ENTRY_STR("T_SECRET", NULL, true, true, struct demo, secret, "a secret"),
};

static void clear_env(void)
{
    unsetenv("T_NAME");
    unsetenv("T_PORT");
    unsetenv("T_FLAG");
    unsetenv("T_SECRET");
}

static void test_defaults_and_overrides(void **state)
{
    struct demo d;
    char err[256];

    (void)state;
    clear_env();
    setenv("T_SECRET", "s3", 1);
    assert_int_equal(cfg_load(demo_table, 4, &d, err, sizeof(err)), 0);
    assert_string_equal(d.name, "dflt");
    assert_int_equal(d.port, 80);
    assert_false(d.flag);
    setenv("T_NAME", "x", 1);
    setenv("T_PORT", "8084", 1);
    setenv("T_FLAG", "yes", 1);
    assert_int_equal(cfg_load(demo_table, 4, &d, err, sizeof(err)), 0);
    assert_string_equal(d.name, "x");
    assert_int_equal(d.port, 8084);
    assert_true(d.flag);
    clear_env();
}

static void test_all_errors_reported_at_once(void **state)
{
    struct demo d;
    char err[256];

    (void)state;
    clear_env();
    setenv("T_PORT", "70000", 1);
    setenv("T_FLAG", "maybe", 1);
    assert_int_equal(cfg_load(demo_table, 4, &d, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "T_PORT: '70000' is out of range 1..65535"));
    assert_non_null(strstr(err, "T_FLAG: 'maybe' is not a boolean"));
    assert_non_null(strstr(err, "T_SECRET: required"));
    setenv("T_PORT", "80x", 1);
    assert_int_equal(cfg_load(demo_table, 4, &d, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "T_PORT: '80x' is not an integer"));
    clear_env();
}

static void test_svc_config(void **state)
{
    static const struct svc_defaults defs = {"catalog-service",
                                             "8084",
                                             "commerce_catalog",
                                             "catalog-service",
                                             "catalog-service/migrations",
                                             NULL};
    struct svc_config cfg;
    char err[512];

    (void)state;
    setenv("JWT_PUBLIC_KEY_FILE", "/x.pem", 1);
    unsetenv("HTTP_PORT");
    assert_int_equal(svc_config_load(&cfg, &defs, err, sizeof(err)), 0);
    assert_int_equal(cfg.http_port, 8084);
    assert_string_equal(cfg.db_name, "commerce_catalog");
    assert_string_equal(cfg.kafka_group_id, "catalog-service");
    setenv("LOG_LEVEL", "loud", 1);
    assert_int_equal(svc_config_load(&cfg, &defs, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "LOG_LEVEL"));
    unsetenv("LOG_LEVEL");
    unsetenv("JWT_PUBLIC_KEY_FILE");
    assert_int_equal(svc_config_load(&cfg, &defs, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "JWT_PUBLIC_KEY_FILE: required"));
}

/* HTTP_THREADS: 0 by default (twice the CPUs, 4…64), a service's own default, the setting. */
static void test_http_threads(void **state)
{
    static const struct svc_defaults plain = {"catalog-service",
                                              "8084",
                                              "commerce_catalog",
                                              "catalog-service",
                                              "catalog-service/migrations",
                                              NULL};
    static const struct svc_defaults own = {
        "auth-service", "8089", "commerce_auth", "auth-service", "auth-service/migrations", "8"};
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned want = (unsigned)(cpus * 2 < 4 ? 4 : cpus * 2 > 64 ? 64 : cpus * 2);
    struct svc_config cfg;
    char err[512];

    (void)state;
    setenv("JWT_PUBLIC_KEY_FILE", "/x.pem", 1);
    unsetenv("HTTP_THREADS");
    assert_int_equal(svc_config_load(&cfg, &plain, err, sizeof(err)), 0);
    assert_int_equal(cfg.http_threads, 0);
    assert_int_equal(svc_http_threads(cfg.http_threads), want);
    assert_true(svc_http_threads(0) >= SVC_HTTP_THREADS_MIN);
    assert_true(svc_http_threads(0) <= SVC_HTTP_THREADS_MAX);
    assert_int_equal(svc_config_load(&cfg, &own, err, sizeof(err)), 0);
    assert_int_equal(svc_http_threads(cfg.http_threads), 8);
    setenv("HTTP_THREADS", "3", 1);
    assert_int_equal(svc_config_load(&cfg, &own, err, sizeof(err)), 0);
    assert_int_equal(svc_http_threads(cfg.http_threads), 3);
    setenv("HTTP_THREADS", "-1", 1);
    assert_int_equal(svc_config_load(&cfg, &plain, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "HTTP_THREADS"));
    unsetenv("HTTP_THREADS");
    unsetenv("JWT_PUBLIC_KEY_FILE");
}

struct own_config {
    struct svc_config svc;
    long extra;
};

static const struct cfg_entry own_table[] = {
    CFG_ENTRY_INT("T_EXTRA", "5", 1, 10, struct own_config, extra, "a service's own setting"),
};

static void test_svc_config_own_reports_both_tables(void **state)
{
    static const struct svc_defaults defs = {"order-service",
                                             "8085",
                                             "commerce_order",
                                             "order-service",
                                             "order-service/migrations",
                                             NULL};
    struct own_config cfg;
    char err[512];

    (void)state;
    setenv("JWT_PUBLIC_KEY_FILE", "/x.pem", 1);
    unsetenv("T_EXTRA");
    assert_int_equal(svc_config_load_own(&cfg.svc, &defs, own_table, 1, &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.extra, 5);
    assert_int_equal(cfg.svc.http_port, 8085);
    /* a common and an own problem: both named in one message */
    setenv("DB_PORT", "0", 1);
    setenv("T_EXTRA", "11", 1);
    assert_int_equal(svc_config_load_own(&cfg.svc, &defs, own_table, 1, &cfg, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "DB_PORT"));
    assert_non_null(strstr(err, "T_EXTRA: '11' is out of range 1..10"));
    unsetenv("DB_PORT");
    unsetenv("T_EXTRA");
    unsetenv("JWT_PUBLIC_KEY_FILE");
}

static void kafka_env_clear(void)
{
    unsetenv("KAFKA_SECURITY_PROTOCOL");
    unsetenv("KAFKA_SASL_MECHANISM");
    unsetenv("KAFKA_SASL_USERNAME");
    unsetenv("KAFKA_SASL_PASSWORD");
    unsetenv("KAFKA_SASL_PASSWORD_FILE");
}

static void test_kafka_auth_defaults_to_plaintext(void **state)
{
    struct cfg_kafka_auth k;
    char err[512];

    (void)state;
    kafka_env_clear();
    assert_int_equal(cfg_kafka_auth_load(&k, err, sizeof(err)), 0);
    assert_string_equal(k.auth.security_protocol, "PLAINTEXT");
    assert_false(kafka_auth_sasl(&k.auth));
    /* a login without SASL would connect unauthenticated: refused */
    setenv("KAFKA_SASL_USERNAME", "order-service", 1);
    assert_int_equal(cfg_kafka_auth_load(&k, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "KAFKA_SECURITY_PROTOCOL is PLAINTEXT"));
    kafka_env_clear();
}

static void test_kafka_auth_sasl_needs_user_and_password(void **state)
{
    struct cfg_kafka_auth k;
    char err[512];

    (void)state;
    kafka_env_clear();
    setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT", 1);
    setenv("KAFKA_SASL_MECHANISM", "GSSAPI", 1);
    /* every problem at once */
    assert_int_equal(cfg_kafka_auth_load(&k, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "KAFKA_SASL_MECHANISM: 'GSSAPI'"));
    assert_non_null(strstr(err, "KAFKA_SASL_USERNAME: required"));
    assert_non_null(strstr(err, "KAFKA_SASL_PASSWORD: required"));
    unsetenv("KAFKA_SASL_MECHANISM");
    setenv("KAFKA_SASL_USERNAME", "order-service", 1);
    setenv("KAFKA_SASL_PASSWORD", "pw", 1);
    assert_int_equal(cfg_kafka_auth_load(&k, err, sizeof(err)), 0);
    assert_true(kafka_auth_sasl(&k.auth));
    assert_string_equal(k.auth.sasl_mechanism, "SCRAM-SHA-512");
    assert_string_equal(k.auth.sasl_username, "order-service");
    assert_string_equal(k.auth.sasl_password, "pw");
    setenv("KAFKA_SASL_PASSWORD_FILE", "/nonexistent", 1);
    assert_int_equal(cfg_kafka_auth_load(&k, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "set one"));
    setenv("KAFKA_SECURITY_PROTOCOL", "SSL", 1);
    assert_int_equal(cfg_kafka_auth_load(&k, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "KAFKA_SECURITY_PROTOCOL: 'SSL'"));
    kafka_env_clear();
}

static void test_kafka_auth_password_file(void **state)
{
    char path[] = "/tmp/test_config_pw_XXXXXX";
    struct cfg_kafka_auth k;
    char err[512];
    int fd;

    (void)state;
    kafka_env_clear();
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "s3cret\nignored\n", 15), 15);
    close(fd);
    setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL", 1);
    setenv("KAFKA_SASL_USERNAME", "payment-service", 1);
    setenv("KAFKA_SASL_PASSWORD_FILE", path, 1);
    assert_int_equal(cfg_kafka_auth_load(&k, err, sizeof(err)), 0);
    assert_string_equal(k.auth.sasl_password, "s3cret");
    /* an empty file is no password */
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(cfg_kafka_auth_load(&k, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "KAFKA_SASL_PASSWORD_FILE"));
    unlink(path);
    assert_int_equal(cfg_kafka_auth_load(&k, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "No such file"));
    kafka_env_clear();
}

static void test_msgctx_chain(void **state)
{
    struct msgctx req, child, ev;

    (void)state;
    msgctx_init_request(&req, NULL, NULL);
    assert_true(util_is_uuid(req.message_id));
    assert_string_equal(req.correlation_id, req.message_id);
    msgctx_child(&req, &child);
    assert_string_equal(child.correlation_id, req.correlation_id);
    assert_string_equal(child.causation_id, req.message_id);
    assert_string_not_equal(child.message_id, req.message_id);
    /* same trace, new span */
    assert_memory_equal(child.traceparent, req.traceparent, 35);
    assert_string_not_equal(child.traceparent, req.traceparent);

    msgctx_init_request(&req, "bad id with spaces", "garbage");
    assert_string_equal(req.correlation_id, req.message_id);
    assert_int_equal(strlen(req.traceparent), 55);

    msgctx_init_event(&ev, "e-1", "order-9", "e-0", NULL);
    assert_string_equal(ev.message_id, "e-1");
    assert_string_equal(ev.correlation_id, "order-9");
    assert_string_equal(ev.causation_id, "e-0");

    assert_null(msgctx_current());
    msgctx_set_current(&ev);
    assert_ptr_equal(msgctx_current(), &ev);
    msgctx_set_current(NULL);
}

static void test_backoff_bounds(void **state)
{
    (void)state;
    for (int attempt = 0; attempt < 20; attempt++) {
        int64_t ceiling = 100;
        for (int i = 0; i < attempt && ceiling < 5000; i++)
            ceiling *= 2;
        if (ceiling > 5000)
            ceiling = 5000;
        for (int k = 0; k < 50; k++) {
            int64_t d = util_backoff_ms(attempt, 100, 5000);
            assert_true(d >= 50 && d <= ceiling);
        }
    }
}

static void test_rfc3339(void **state)
{
    char buf[32];

    (void)state;
    util_rfc3339(1700000000123LL, buf, sizeof(buf));
    assert_string_equal(buf, "2023-11-14T22:13:20.123Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_overrides),
        cmocka_unit_test(test_all_errors_reported_at_once),
        cmocka_unit_test(test_svc_config),
        cmocka_unit_test(test_svc_config_own_reports_both_tables),
        cmocka_unit_test(test_kafka_auth_defaults_to_plaintext),
        cmocka_unit_test(test_kafka_auth_sasl_needs_user_and_password),
        cmocka_unit_test(test_kafka_auth_password_file),
        cmocka_unit_test(test_msgctx_chain),
        cmocka_unit_test(test_backoff_bounds),
        cmocka_unit_test(test_http_threads),
        cmocka_unit_test(test_rfc3339),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
