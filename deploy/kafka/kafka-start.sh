#!/bin/bash
# kafka-start.sh - the entrypoint of docker-compose.yml's kafka container (apache/kafka image):
# one KRaft node that authenticates every client (SASL_PLAINTEXT, SCRAM-SHA-512) and authorises
# it (StandardAuthorizer; no ACL = denied; User:admin the only super user), like the broker of
# scripts/infra.sh. On the first start it formats the storage with the SCRAM credentials of
# admin and of each service (the passwords of .env, `make env`); the services' ACLs are made by
# the one-shot kafka-acls container (`commercectl kafka acls`). It also writes
# /tmp/admin.properties, the admin's client settings for Kafka's tools (health check, kafka-init).
#
# Environment: CLUSTER_ID, KAFKA_PASSWORD_ADMIN, KAFKA_PASSWORD_CATALOG, KAFKA_PASSWORD_INVENTORY,
# KAFKA_PASSWORD_ORDER, KAFKA_PASSWORD_PAYMENT, KAFKA_AUTO_CREATE_TOPICS_ENABLE (false),
# KAFKA_LOG_DIRS (/var/lib/kafka/data), KAFKA_HOST_ADVERTISED (127.0.0.1:9094: the listener
# for tools on the host); for a cluster (docker-compose.cluster.yml): KAFKA_NODE_ID (1),
# KAFKA_ADVERTISED_HOST (kafka: this node's name in the network), KAFKA_QUORUM_VOTERS
# (1@kafka:9093), KAFKA_REPLICATION (1: default.replication.factor and the offsets and
# transaction state topics') and KAFKA_MIN_ISR (1: min.insync.replicas).
set -eu

: "${CLUSTER_ID:?}" "${KAFKA_PASSWORD_ADMIN:?}"
LOG_DIRS=${KAFKA_LOG_DIRS:-/var/lib/kafka/data}
CONFIG=/tmp/server.properties
KAFKA=/opt/kafka

umask 077
cat >"$CONFIG" <<PROPS
process.roles=broker,controller
node.id=${KAFKA_NODE_ID:-1}
controller.quorum.voters=${KAFKA_QUORUM_VOTERS:-1@kafka:9093}
listeners=SASL_PLAINTEXT://:9092,CONTROLLER://:9093,HOST://:9094
advertised.listeners=SASL_PLAINTEXT://${KAFKA_ADVERTISED_HOST:-kafka}:9092,HOST://${KAFKA_HOST_ADVERTISED:-127.0.0.1:9094}
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT,HOST:SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$KAFKA_PASSWORD_ADMIN";
listener.name.host.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$KAFKA_PASSWORD_ADMIN" user_admin="$KAFKA_PASSWORD_ADMIN";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin
allow.everyone.if.no.acl.found=false
log.dirs=$LOG_DIRS
auto.create.topics.enable=${KAFKA_AUTO_CREATE_TOPICS_ENABLE:-false}
num.partitions=3
default.replication.factor=${KAFKA_REPLICATION:-1}
min.insync.replicas=${KAFKA_MIN_ISR:-1}
offsets.topic.replication.factor=${KAFKA_REPLICATION:-1}
transaction.state.log.replication.factor=${KAFKA_REPLICATION:-1}
transaction.state.log.min.isr=${KAFKA_MIN_ISR:-1}
group.initial.rebalance.delay.ms=0
PROPS

cat >/tmp/admin.properties <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$KAFKA_PASSWORD_ADMIN";
PROPS

if [ ! -f "$LOG_DIRS/meta.properties" ]; then
    scram=()
    for entry in admin:ADMIN catalog-service:CATALOG inventory-service:INVENTORY \
            order-service:ORDER payment-service:PAYMENT; do
        var="KAFKA_PASSWORD_${entry#*:}"
        scram+=(--add-scram "SCRAM-SHA-512=[name=${entry%%:*},password=${!var:?$var is not set (make env)}]")
    done
    "$KAFKA/bin/kafka-storage.sh" format -t "$CLUSTER_ID" -c "$CONFIG" "${scram[@]}"
fi
exec "$KAFKA/bin/kafka-server-start.sh" "$CONFIG"
