#!/usr/bin/env bash
# create-topics.sh - creates the event topics and their dead-letter twins (3 partitions each)
# on $KAFKA_BOOTSTRAP; production keeps auto topic creation off (docs/event-contracts.md).
#
# usage: KAFKA_BOOTSTRAP=host:port scripts/create-topics.sh
#        scripts/create-topics.sh --list      print the topic names, one a line
#
# Uses Kafka's own admin tool (org.apache.kafka.tools.TopicCommand, in kafka-tools since 3.7)
# from the jars of scripts/deps.sh. Without them (mock broker, no JDK) it only says so: the mock
# broker is started with these topics (scripts/infra.sh), and the services create missing
# topics with kafka_create_topics() at start in dev mode.
#
# Environment: KAFKA_KIND (mock: nothing to do), KAFKA_LIBS (default .deps/kafka-3.7.2/libs),
#              TOPIC_PARTITIONS (default 3), TOPIC_REPLICATION (default: min(3, KAFKA_NODES)),
#              KAFKA_NODES (the cluster size, scripts/infra.sh's env file; default 1): with a
#              replication factor of 3 or more each topic gets min.insync.replicas=2 (a write
#              with acks=all survives one broker's death and needs two copies),
#              KAFKA_SECURITY_PROTOCOL / KAFKA_SASL_MECHANISM / KAFKA_SASL_USERNAME /
#              KAFKA_SASL_PASSWORD: the login (on a broker with ACLs: the admin, who may create
#              topics; scripts/infra.sh's env file sets the four).

# -h / --help: the header above, nothing else done
case ${1:-} in -h | --help) exec bash "$(dirname "${BASH_SOURCE[0]}")/help.sh" "${BASH_SOURCE[0]}" ;; esac
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOPICS=(order-events stock-events payment-events product-events)

list_topics() {
    local t
    for t in "${TOPICS[@]}"; do
        printf '%s\n%s.dlq\n' "$t" "$t"
    done
}

if [ "${1:-}" = --list ]; then
    list_topics
    exit 0
fi
[ $# -eq 0 ] || { echo "usage: KAFKA_BOOTSTRAP=host:port $0 [--list]" >&2; exit 2; }

: "${KAFKA_BOOTSTRAP:?KAFKA_BOOTSTRAP must be set (host:port)}"
LIBS=${KAFKA_LIBS:-$ROOT/.deps/kafka-3.7.2/libs}
PARTITIONS=${TOPIC_PARTITIONS:-3}
NODES=${KAFKA_NODES:-1}
[[ $NODES =~ ^[1-9]$ ]] || { echo "create-topics: KAFKA_NODES='$NODES': want 1 to 9" >&2; exit 2; }
REPLICATION=${TOPIC_REPLICATION:-$((NODES < 3 ? NODES : 3))}
TOPIC_CONFIG=()
[ "$REPLICATION" -lt 3 ] || TOPIC_CONFIG=(--config min.insync.replicas=2)

if [ "${KAFKA_KIND:-}" = mock ]; then
    echo "create-topics: mock broker: the topics were created when it started"
    exit 0
fi
if ! command -v java >/dev/null 2>&1 || ! ls "$LIBS"/kafka-tools-*.jar >/dev/null 2>&1; then
    echo "create-topics: no java or no Kafka tools jar in $LIBS: not creating topics here;"
    echo "create-topics: the services create missing topics at start (kafka_create_topics)"
    exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/log4j.properties" <<'L4J'
log4j.rootLogger=ERROR, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=%p %m (%c)%n
L4J
# the login, as Kafka's tools take it (--command-config)
: >"$tmp/client.properties"
case ${KAFKA_SECURITY_PROTOCOL:-PLAINTEXT} in
SASL_*)
    case ${KAFKA_SASL_MECHANISM:-SCRAM-SHA-512} in
    PLAIN) module=org.apache.kafka.common.security.plain.PlainLoginModule ;;
    *) module=org.apache.kafka.common.security.scram.ScramLoginModule ;;
    esac
    (umask 077; cat >"$tmp/client.properties" <<PROPS
security.protocol=$KAFKA_SECURITY_PROTOCOL
sasl.mechanism=${KAFKA_SASL_MECHANISM:-SCRAM-SHA-512}
sasl.jaas.config=$module required username="${KAFKA_SASL_USERNAME:?KAFKA_SASL_USERNAME must be set with SASL}" password="${KAFKA_SASL_PASSWORD:?KAFKA_SASL_PASSWORD must be set with SASL}";
PROPS
    )
    ;;
esac

while read -r topic; do
    if ! java -Xmx256m -cp "$LIBS/*" -Dlog4j.configuration="file:$tmp/log4j.properties" \
            org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BOOTSTRAP" \
            --command-config "$tmp/client.properties" --create --if-not-exists --topic "$topic" --partitions "$PARTITIONS" \
            --replication-factor "$REPLICATION" "${TOPIC_CONFIG[@]}" >"$tmp/out" 2>&1; then
        cat "$tmp/out" >&2
        echo "create-topics: error: failed to create '$topic' on $KAFKA_BOOTSTRAP" >&2
        exit 1
    fi
    echo "create-topics: $topic ($PARTITIONS partitions, replication factor $REPLICATION${TOPIC_CONFIG[1]:+, ${TOPIC_CONFIG[1]}})"
done < <(list_topics)
