#!/bin/bash
# create-topics.sh - the one-shot kafka-init container of docker-compose.yml: creates the event
# topics and their dead-letter twins (docs/event-contracts.md; the same list as scripts/create-topics.sh),
# idempotently, with Kafka's own tool from the apache/kafka image, logged in as the broker's
# admin (SCRAM-SHA-512, the password of .env). Auto topic creation is off.
# Environment: KAFKA_BOOTSTRAP (kafka:9092), TOPIC_PARTITIONS (3), TOPIC_REPLICATION (1),
#              KAFKA_PASSWORD_ADMIN (the admin's password, .env).
set -eu

BOOTSTRAP=${KAFKA_BOOTSTRAP:-kafka:9092}
PARTITIONS=${TOPIC_PARTITIONS:-3}
REPLICATION=${TOPIC_REPLICATION:-1}
TOOL=/opt/kafka/bin/kafka-topics.sh
ADMIN=/tmp/admin.properties

umask 077
cat >"$ADMIN" <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${KAFKA_PASSWORD_ADMIN:?}";
PROPS

for base in order-events stock-events payment-events product-events; do
    for topic in "$base" "$base.dlq"; do
        "$TOOL" --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN" --create \
            --if-not-exists --topic "$topic" --partitions "$PARTITIONS" \
            --replication-factor "$REPLICATION"
    done
done
"$TOOL" --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN" --list
