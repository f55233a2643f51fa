/*
 * it_kafka_pool_w1.c - the it_kafka.c suite on consumers with one worker (CONSUMER_WORKERS=1:
 * the handlers run on the polling thread), beside it_kafka.c's run on the default pool.
 */
#define IT_KAFKA_WORKERS 1
#include "it_kafka.c"
