/*
 * e2e_security_bus.c - issue 12, "an authenticated, authorised event bus", through the broker
 * itself (the harness's Apache Kafka: SASL_PLAINTEXT with SCRAM-SHA-512, StandardAuthorizer,
 * scripts/infra.sh): the ACLs are made by the tool operators use (`commercectl kafka acls`,
 * for the default topics), then clients connect as different principals:
 *
 *   - with order-service's credentials, producing to payment-events fails with a topic
 *     authorisation error, while payment-service's credentials may write there;
 *   - the same order-service credentials write order-events (the positive control: the
 *     refusal above is the ACL, not a broken login or a missing topic);
 *   - a client without credentials (PLAINTEXT) gets no metadata within a bounded time;
 *   - order-service's name with a wrong password is refused (an authentication error).
 *
 * Skipped without SASL (INFRA_KAFKA=mock or an external broker): there is nothing to enforce.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "common/util.h"
#include "testsup.h"

#define DELIVERY_MS 15000 /* message.timeout.ms of the test producers */
#define CONNECT_MS 5000   /* how long an unauthenticated client is given to get metadata */
#define BOUND_MS 20000    /* what "a bounded time" means here, with ASan and a busy machine */

/* What a client saw: the delivery report of its one message, and the errors librdkafka
 * reported on the side (authentication, transport). */
struct seen {
    rd_kafka_resp_err_t delivery;
    atomic_int auth_errors;
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    ((struct seen *)opaque)->delivery = msg->err;
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    (void)reason;
    if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION)
        atomic_fetch_add(&((struct seen *)opaque)->auth_errors, 1);
}

/* The password of @service's principal (infra.sh writes one file per principal). */
static void password_of(const char *service, char *out, size_t outlen)
{
    char path[700];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s.password", ts_env("KAFKA_SASL_USERS_DIR"), service);
    fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(out, (int)outlen, fp));
    fclose(fp);
    out[strcspn(out, "\r\n")] = '\0';
    assert_true(out[0] != '\0');
}

/* A producer logging in as @user / @password (NULL @user: no SASL at all). */
static rd_kafka_t *client_new(const char *user, const char *password, struct seen *seen)
{
    struct kafka_auth auth = {.security_protocol = "SASL_PLAINTEXT",
                              .sasl_mechanism = "SCRAM-SHA-512",
                              .sasl_username = user,
                              .sasl_password = password};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512], timeout[16];
    rd_kafka_t *rk;

    snprintf(timeout, sizeof(timeout), "%d", DELIVERY_MS);
    assert_int_equal(
        rd_kafka_conf_set(conf, "bootstrap.servers", ts_env("KAFKA_BOOTSTRAP"), err, sizeof(err)),
        RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(conf, "message.timeout.ms", timeout, err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err)), RD_KAFKA_CONF_OK);
    if (user)
        assert_int_equal(kafka_auth_apply(conf, &auth, err, sizeof(err)), 0);
    rd_kafka_conf_set_opaque(conf, seen);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk)
        fail_msg("producer: %s", err);
    return rk; /* conf now owned by rk */
}

/* Produces one message to @topic as @user and waits for its delivery report; its error. */
static rd_kafka_resp_err_t produce_as(const char *user, const char *password, const char *topic)
{
    struct seen seen = {.delivery = RD_KAFKA_RESP_ERR__IN_PROGRESS};
    rd_kafka_t *rk = client_new(user, password, &seen);
    char key[UTIL_UUID_LEN];
    int64_t t0 = util_now_mono_ms();

    util_uuid(key);
    assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                                       RD_KAFKA_V_KEY(key, strlen(key)),
                                       RD_KAFKA_V_VALUE("{\"probe\":true}", 14),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_flush(rk, DELIVERY_MS + 5000);
    rd_kafka_destroy(rk);
    assert_true(util_now_mono_ms() - t0 < BOUND_MS);
    return seen.delivery;
}

static int setup(void **state)
{
    char cmd[1400];

    (void)state;
    if (!ts_kafka_auth())
        return 0;
    /* the operators' tool, as the admin: the default topics and the two principals' ACLs */
    snprintf(cmd, sizeof(cmd),
             "'%s/bin/commercectl' kafka acls --service order-service --service payment-service "
             "--create-topics >>'%s/logs/e2e_security_bus-acls.log' 2>&1",
             ts_env("BUILD_DIR"), ts_env("TEST_STATE_DIR"));
    if (system(cmd) != 0) {
        fprintf(stderr, "e2e_security_bus: %s failed\n", cmd);
        return -1;
    }
    return 0;
}

#define SKIP_WITHOUT_SASL()                                                                        \
    do {                                                                                           \
        if (!ts_kafka_auth()) {                                                                    \
            print_message("no SASL broker (KAFKA_KIND=%s): skipped\n",                             \
                          getenv("KAFKA_KIND") ? getenv("KAFKA_KIND") : "?");                      \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static void test_order_service_cannot_write_payment_events(void **state)
{
    char order_pw[256], payment_pw[256];

    (void)state;
    SKIP_WITHOUT_SASL();
    password_of("order-service", order_pw, sizeof(order_pw));
    password_of("payment-service", payment_pw, sizeof(payment_pw));
    assert_int_equal(produce_as("order-service", order_pw, "payment-events"),
                     RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    /* the topic exists and takes writes from its producer */
    assert_int_equal(produce_as("payment-service", payment_pw, "payment-events"),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void test_order_service_writes_order_events(void **state)
{
    char order_pw[256];

    (void)state;
    SKIP_WITHOUT_SASL();
    password_of("order-service", order_pw, sizeof(order_pw));
    assert_int_equal(produce_as("order-service", order_pw, "order-events"),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void test_unauthenticated_client_cannot_connect(void **state)
{
    struct seen seen = {.delivery = RD_KAFKA_RESP_ERR__IN_PROGRESS};
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err;
    rd_kafka_t *rk;
    int64_t t0;

    (void)state;
    SKIP_WITHOUT_SASL();
    rk = client_new(NULL, NULL, &seen);
    t0 = util_now_mono_ms();
    err = rd_kafka_metadata(rk, 1, NULL, &md, CONNECT_MS);
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    assert_int_not_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_true(util_now_mono_ms() - t0 < BOUND_MS);
    /* and it cannot write either */
    assert_int_not_equal(produce_as(NULL, NULL, "order-events"), RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void test_wrong_password_is_refused(void **state)
{
    struct seen seen = {.delivery = RD_KAFKA_RESP_ERR__IN_PROGRESS};
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err;
    rd_kafka_t *rk;
    int64_t t0;

    (void)state;
    SKIP_WITHOUT_SASL();
    rk = client_new("order-service", "not-the-password", &seen);
    t0 = util_now_mono_ms();
    err = rd_kafka_metadata(rk, 1, NULL, &md, CONNECT_MS);
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_poll(rk, 0); /* serve the error callback */
    rd_kafka_destroy(rk);
    assert_int_not_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_true(util_now_mono_ms() - t0 < BOUND_MS);
    assert_true(atomic_load(&seen.auth_errors) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_service_cannot_write_payment_events),
        cmocka_unit_test(test_order_service_writes_order_events),
        cmocka_unit_test(test_unauthenticated_client_cannot_connect),
        cmocka_unit_test(test_wrong_password_is_refused),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
