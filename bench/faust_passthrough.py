"""The Faust ceiling: the least any Faust agent can do per event, as a benchmark baseline.

One agent consumes the AIR topic, parses each event with orjson, maps it trivially (as the
raw aiokafka loop does) and produces it with Faust's producer: a take at a time, acked in
bulk, memory store, no table, no re-key hop. The same app settings as the worker that
matter here (acks=all, linger 5 ms, stream buffer, commit interval). Whatever the worker
does, it pays at least this: the gap between this and the raw aiokafka loop is Faust's
per-event machinery, the gap between the worker and this is ours.

    BENCH_BOOTSTRAP=... BENCH_SOURCE=... BENCH_OUT=... BENCH_APP_ID=... \
        python -m bench.faust_passthrough worker -l warn --without-web
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import faust
import orjson
from faust.types import EventT

from bench.trivial import trivial_map
from config.settings import DEFAULT_MAX_MESSAGE_BYTES, KAFKA_HEADROOM_BYTES
from streams.app import Worker

app = faust.App(
    os.environ.get("BENCH_APP_ID", "bench-faust-passthrough"),
    broker="kafka://" + os.environ.get("BENCH_BOOTSTRAP", "127.0.0.1:9092"),
    store="memory://",
    datadir=os.environ.get("BENCH_DATA_DIR", "var/bench/faust-passthrough"),
    key_serializer="raw",
    value_serializer="raw",
    consumer_auto_offset_reset="earliest",
    web_enabled=False,
    Worker=Worker,
    producer_acks=-1,
    producer_linger_ms=5,
    producer_max_request_size=DEFAULT_MAX_MESSAGE_BYTES + KAFKA_HEADROOM_BYTES,
    consumer_max_fetch_size=DEFAULT_MAX_MESSAGE_BYTES + KAFKA_HEADROOM_BYTES,
    stream_buffer_maxsize=4096,
    broker_commit_every=1000,
    broker_commit_interval=1.0,
)
source = app.topic(os.environ.get("BENCH_SOURCE", "bench-air"), key_type=bytes, value_type=bytes)
OUT = os.environ.get("BENCH_OUT", "bench-faust-out")


@app.agent(source, concurrency=1)
async def passthrough(stream: faust.StreamT) -> None:
    takes: AsyncIterator[list[EventT]] = stream.noack_take(500, within=0.01)  # type: ignore[attr-defined]
    async for events in takes:
        for event in events:
            record: dict[str, Any] = trivial_map(orjson.loads(event.value or b"{}"))
            await app.producer.send(OUT, event.key, orjson.dumps(record), None, None, None)
        for event in events:
            event.ack()


if __name__ == "__main__":
    app.main()
