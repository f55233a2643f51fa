/* test_kafka_acl.c - the services' Kafka principals and the ACL rule (common/kafka_acl.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/event.h"
#include "common/kafka_acl.h"

#define MAX 64

static bool has(const struct kafka_acl *acls, int n, enum kafka_acl_resource res,
                enum kafka_acl_op op, const char *name)
{
    for (int i = 0; i < n; i++) {
        if (acls[i].resource == res && acls[i].op == op && strcmp(acls[i].name, name) == 0)
            return true;
    }
    return false;
}

static void topics_default(void)
{
    char err[256];

    unsetenv("TOPIC_ORDER_PLACED");
    assert_int_equal(event_topics_load(err, sizeof(err)), 0);
}

static void test_order_service(void **state)
{
    struct kafka_acl acls[MAX];
    int n;

    (void)state;
    topics_default();
    n = kafka_acl_list("order-service", NULL, acls, MAX);
    assert_true(n > 0);
    /* writes what it produces and the dead letters of what it consumes */
    assert_true(has(acls, n, KAFKA_ACL_TOPIC, KAFKA_ACL_WRITE, "order-events"));
    assert_true(has(acls, n, KAFKA_ACL_TOPIC, KAFKA_ACL_WRITE, "payment-events.dlq"));
    assert_true(has(acls, n, KAFKA_ACL_TOPIC, KAFKA_ACL_WRITE, "stock-events.dlq"));
    assert_true(has(acls, n, KAFKA_ACL_TOPIC, KAFKA_ACL_WRITE, "product-events.dlq"));
    /* never another producer's topic, never its own topic's dead letters */
    assert_false(has(acls, n, KAFKA_ACL_TOPIC, KAFKA_ACL_WRITE, "payment-events"));
    assert_false(has(acls, n, KAFKA_ACL_TOPIC, KAFKA_ACL_WRITE, "stock-events"));
    assert_false(has(acls, n, KAFKA_ACL_TOPIC, KAFKA_ACL_WRITE, "order-events.dlq"));
    /* reads what it consumes, not what it produces */
    assert_true(has(acls, n, KAFKA_ACL_TOPIC, KAFKA_ACL_READ, "payment-events"));
    assert_true(has(acls, n, KAFKA_ACL_TOPIC, KAFKA_ACL_READ, "stock-events"));
    assert_false(has(acls, n, KAFKA_ACL_TOPIC, KAFKA_ACL_READ, "order-events"));
    assert_true(has(acls, n, KAFKA_ACL_TOPIC, KAFKA_ACL_DESCRIBE, "payment-events"));
    /* its group (the default: its name) and the idempotent producer */
    assert_true(has(acls, n, KAFKA_ACL_GROUP, KAFKA_ACL_READ, "order-service"));
    assert_true(
        has(acls, n, KAFKA_ACL_CLUSTER, KAFKA_ACL_IDEMPOTENT_WRITE, KAFKA_ACL_CLUSTER_NAME));
}

static void test_catalog_service_consumes_nothing(void **state)
{
    struct kafka_acl acls[MAX];
    int n;

    (void)state;
    topics_default();
    n = kafka_acl_list("catalog-service", "ignored", acls, MAX);
    assert_true(n > 0);
    assert_true(has(acls, n, KAFKA_ACL_TOPIC, KAFKA_ACL_WRITE, "product-events"));
    for (int i = 0; i < n; i++) {
        assert_int_not_equal(acls[i].op, KAFKA_ACL_READ);
        assert_int_not_equal(acls[i].resource, KAFKA_ACL_GROUP);
    }
}

static void test_topic_map_and_group(void **state)
{
    struct kafka_acl acls[MAX];
    char topics[MAX][KAFKA_ACL_NAME_MAX], err[256];
    int n;

    (void)state;
    setenv("TOPIC_ORDER_PLACED", "run1-orders", 1);
    assert_int_equal(event_topics_load(err, sizeof(err)), 0);
    n = kafka_acl_list("payment-service", "run1-group", acls, MAX);
    assert_true(n > 0);
    assert_true(has(acls, n, KAFKA_ACL_TOPIC, KAFKA_ACL_READ, "run1-orders"));
    assert_true(has(acls, n, KAFKA_ACL_TOPIC, KAFKA_ACL_WRITE, "run1-orders.dlq"));
    assert_true(has(acls, n, KAFKA_ACL_GROUP, KAFKA_ACL_READ, "run1-group"));
    assert_false(has(acls, n, KAFKA_ACL_GROUP, KAFKA_ACL_READ, "payment-service"));
    /* the topics the admin creates for it: each once */
    n = kafka_acl_topics("payment-service", topics, MAX);
    assert_int_equal(n, 5); /* payment-events, run1-orders(+.dlq), order-events(+.dlq) */
    topics_default();
}

static void test_unknown_service_and_small_buffer(void **state)
{
    struct kafka_acl acls[MAX];

    (void)state;
    topics_default();
    assert_int_equal(kafka_acl_list("user-service", NULL, acls, MAX), -ENOENT);
    assert_null(kafka_acl_consumed("auth-service"));
    assert_int_equal(kafka_acl_list("order-service", NULL, acls, 3), -ENOBUFS);
}

/* The principals are the services event_types.h names, each once, in name order: user- and
 * auth-service use no Kafka. */
static void test_services_from_the_event_types(void **state)
{
    static const char *const want[] = {"catalog-service", "inventory-service", "order-service",
                                       "payment-service", NULL};
    const char *const *got = kafka_acl_services();

    (void)state;
    for (size_t i = 0; want[i]; i++) {
        assert_non_null(got[i]);
        assert_string_equal(got[i], want[i]);
        assert_non_null(kafka_acl_consumed(got[i]));
    }
    assert_null(got[4]);
    assert_int_equal(kafka_acl_consumed("catalog-service")[0], EVENT_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_service),
        cmocka_unit_test(test_catalog_service_consumes_nothing),
        cmocka_unit_test(test_topic_map_and_group),
        cmocka_unit_test(test_unknown_service_and_small_buffer),
        cmocka_unit_test(test_services_from_the_event_types),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
