/*
 * kafka_auth.h - how a Kafka client authenticates (librdkafka wrapped once; see kafka.h).
 *
 * Every client common/ makes (producer, consumer, admin, ops reader) takes a struct kafka_auth:
 * NULL or a PLAINTEXT one connects unauthenticated (librdkafka's mock cluster, a dev broker
 * without SASL); SASL_PLAINTEXT / SASL_SSL log in with @sasl_mechanism (SCRAM-SHA-512 unless
 * set) as @sasl_username. The services fill it from KAFKA_SECURITY_PROTOCOL and KAFKA_SASL_*
 * (struct cfg_kafka_auth in config.h). The strings are borrowed: they must outlive the client.
 */
#ifndef COMMON_KAFKA_AUTH_H
#define COMMON_KAFKA_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#define KAFKA_AUTH_DEFAULT_MECHANISM "SCRAM-SHA-512"

struct kafka_auth {
    const char *security_protocol; /* "PLAINTEXT" (also NULL), "SASL_PLAINTEXT", "SASL_SSL" */
    const char *sasl_mechanism;    /* "SCRAM-SHA-512" (also NULL), "SCRAM-SHA-256", "PLAIN" */
    const char *sasl_username;
    const char *sasl_password;
};

/* True when @auth logs in with SASL (false for NULL and PLAINTEXT). */
bool kafka_auth_sasl(const struct kafka_auth *auth);

struct rd_kafka_conf_s; /* librdkafka's rd_kafka_conf_t */

/* Sets security.protocol and the sasl.* settings of @auth on @conf (nothing for NULL).
 * 0, or -EINVAL with librdkafka's reason in @errbuf. */
int kafka_auth_apply(struct rd_kafka_conf_s *conf, const struct kafka_auth *auth, char *errbuf,
                     size_t errlen);

#endif
