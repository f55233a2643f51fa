#!/usr/bin/env python3
"""cloudevents_roundtrip.py - our Kafka events against the official CloudEvents SDK (PyPI
`cloudevents`, tests/sdk/requirements.txt), driven by tests/e2e_cloudevents.c.

usage:
  cloudevents_roundtrip.py produce TOPIC BINARY_SKU STRUCTURED_SKU PRICE QUANTITY
      The SDK writes one product.sku.created in binary content mode (the value is data, the
      attributes ce_* headers) and one in structured mode (content-type
      application/cloudevents+json, the value the envelope), as catalog-service would
      announce the two SKUs; prints each event's id.
  cloudevents_roundtrip.py read TOPIC SKU PRICE QUANTITY
      Reads the product.sku.created catalog-service published for SKU (key = SKU id), picks
      the content mode by content-type as the Kafka protocol binding says (section 3), parses
      it with the SDK and checks that data is the payload.

Kafka: KAFKA_BOOTSTRAP and, when set, KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_MECHANISM,
KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD (the harness's admin login). Bounded by
ROUNDTRIP_TIMEOUT_S (default 60). Exit status 0 when every check held, 1 otherwise (why on
stderr), 2 on bad usage.
"""
import json
import os
import sys
import time
import uuid

from cloudevents.core.bindings import kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from confluent_kafka import Consumer, Producer

TYPE = "product.sku.created"
SCHEMA = "urn:commerce:event:product.sku.created:v1"
SOURCE = "/catalog-service"  # consumers accept a type only from its producer
STRUCTURED = "application/cloudevents"


def fail(msg):
    print(f"cloudevents_roundtrip: {msg}", file=sys.stderr)
    sys.exit(1)


def kafka_conf():
    conf = {"bootstrap.servers": os.environ["KAFKA_BOOTSTRAP"]}
    proto = os.environ.get("KAFKA_SECURITY_PROTOCOL", "")
    if proto and proto.upper() != "PLAINTEXT":
        conf.update({
            "security.protocol": proto,
            "sasl.mechanism": os.environ.get("KAFKA_SASL_MECHANISM") or "SCRAM-SHA-512",
            "sasl.username": os.environ["KAFKA_SASL_USERNAME"],
            "sasl.password": os.environ["KAFKA_SASL_PASSWORD"],
        })
    return conf


def sku_event(sku, price, quantity, mode):
    data = {"skuId": sku, "productId": sku, "productCode": f"SDK-{mode}-{sku}",
            "price": price, "optionValues": [], "initialQuantity": quantity}
    return CloudEvent(attributes={
        "id": str(uuid.uuid4()), "source": SOURCE, "type": TYPE, "subject": str(sku),
        "datacontenttype": "application/json", "dataschema": SCHEMA,
        "correlationid": f"sdk-{mode}-{sku}",
    }, data=data)


def produce(topic, binary_sku, structured_sku, price, quantity, deadline):
    producer = Producer({**kafka_conf(), "acks": "all", "message.timeout.ms": 15000})
    errors = []

    def delivered(err, _msg):
        if err is not None:
            errors.append(str(err))

    for sku, mode, to_message in ((binary_sku, "binary", kafka.to_binary),
                                  (structured_sku, "structured", kafka.to_structured)):
        event = sku_event(sku, price, quantity, mode)
        msg = to_message(event, JSONFormat(), key_mapper=lambda _e, k=str(sku): k)
        ct = msg.headers.get("content-type", b"").decode()
        if (mode == "structured") != ct.startswith(STRUCTURED):
            fail(f"the SDK's {mode} message has content-type '{ct}'")
        producer.produce(topic, key=msg.key, value=msg.value,
                         headers=list(msg.headers.items()), on_delivery=delivered)
        print(f"produced {mode} {TYPE} id={event.get_id()} sku={sku} content-type={ct}")
    left = producer.flush(max(1.0, deadline - time.monotonic()))
    if left or errors:
        fail(f"delivery failed: {left} undelivered, errors {errors}")


def read(topic, sku, price, quantity, deadline):
    consumer = Consumer({**kafka_conf(), "group.id": f"sdk-roundtrip-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    found = None
    try:
        while found is None and time.monotonic() < deadline:
            m = consumer.poll(1.0)
            if m is None or m.error():
                continue
            if m.key() == str(sku).encode():
                found = m
    finally:
        consumer.close()
    if found is None:
        fail(f"no message with key {sku} on {topic} in time")

    headers = {name: value for name, value in (found.headers() or [])}
    message = kafka.KafkaMessage(headers=headers, key=found.key(), value=found.value())
    ct = headers.get("content-type", b"").decode()
    # the binding's rule: a CloudEvents media type in content-type means structured mode
    if ct.lower().startswith(STRUCTURED):
        mode, event = "structured", kafka.from_structured(message, JSONFormat(), CloudEvent)
    else:
        mode, event = "binary", kafka.from_binary(message, JSONFormat(), CloudEvent)
    print(f"read {event.get_type()} id={event.get_id()} content-type={ct} mode={mode}")
    if mode != "structured":
        fail(f"our event is not in structured mode (content-type '{ct}')")

    envelope = json.loads(found.value())
    data = event.get_data()
    checks = [
        (event.get_type() == TYPE, f"type {event.get_type()!r}"),
        (event.get_id() == envelope.get("id"), f"id {event.get_id()!r}"),
        (event.get_source() == envelope.get("source"), f"source {event.get_source()!r}"),
        (event.get_dataschema() == SCHEMA, f"dataschema {event.get_dataschema()!r}"),
        (isinstance(data, dict), f"data is a {type(data).__name__}, not the payload object"),
        (data == envelope.get("data"), f"data {data!r} is not the payload {envelope.get('data')!r}"),
        (isinstance(data, dict) and "specversion" not in data, "data holds the envelope"),
        (isinstance(data, dict) and data.get("skuId") == sku
         and data.get("price") == price and data.get("initialQuantity") == quantity,
         f"data {data!r} is not SKU {sku} at {price} with {quantity} units"),
    ]
    for ok, what in checks:
        if not ok:
            fail(what)
    print(f"sdk data == payload: {json.dumps(data, sort_keys=True)}")


def main(argv):
    deadline = time.monotonic() + float(os.environ.get("ROUNDTRIP_TIMEOUT_S", "60"))
    try:
        if len(argv) == 7 and argv[1] == "produce":
            produce(argv[2], int(argv[3]), int(argv[4]), int(argv[5]), int(argv[6]), deadline)
        elif len(argv) == 6 and argv[1] == "read":
            read(argv[2], int(argv[3]), int(argv[4]), int(argv[5]), deadline)
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except SystemExit:
        raise
    except Exception as e:  # an SDK or client error fails the check with its reason
        fail(f"{type(e).__name__}: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
