/*
 * it_kafka_mock.c - the it_kafka.c suite against librdkafka's mock cluster (rdkafka_mock.h),
 * the broker the test harness falls back to without a JDK: proves kafka.c works there too.
 */
#define IT_KAFKA_MOCK 1
#include "it_kafka.c"
