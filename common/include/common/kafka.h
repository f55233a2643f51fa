/*
 * kafka.h - librdkafka wrapped once, one header per concern, included together here:
 *   kafka_producer.h  the idempotent producer with its delivery-report poller
 *   kafka_consumer.h  the consumer thread and its failure policy (retries, DLQ, offsets), with
 *                     payload checking plugged in as a hook (messaging knows no contracts)
 *   kafka_admin.h     topic and ACL creation (the ACL rule itself: kafka_acl.h)
 *   kafka_auth.h      how every client logs in (SASL/SCRAM or PLAINTEXT)
 * Ownership rules of librdkafka are kept in common/src/kafka_*.c and nowhere else: every polled
 * message is destroyed; a conf belongs to the rd_kafka_t once rd_kafka_new() succeeded; headers
 * handed to rd_kafka_producev() belong to librdkafka once it succeeded.
 */
#ifndef COMMON_KAFKA_H
#define COMMON_KAFKA_H

#include "common/kafka_admin.h"
#include "common/kafka_auth.h"
#include "common/kafka_consumer.h"
#include "common/kafka_producer.h"

#endif
