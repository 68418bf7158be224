"""Dead letters: the original bytes, untouched, with why and where from in the headers."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import faust
from faust.types import EventT

from streams import metrics

log = logging.getLogger("airmp.dead_letters")

H_REASON = "airmp-reason"
H_DETAIL = "airmp-detail"
H_STAGE = "airmp-stage"
H_TOPIC = "airmp-source-topic"
H_PARTITION = "airmp-source-partition"
H_OFFSET = "airmp-source-offset"
_SOURCE = (H_TOPIC, H_PARTITION, H_OFFSET)


def source_headers(event: EventT) -> dict[str, bytes]:
    """Where an event came from: its own headers when it was forwarded, else its message."""
    headers = headers_of(event)
    if H_TOPIC in headers:
        return {k: headers[k] for k in _SOURCE if k in headers}
    message = event.message
    return {
        H_TOPIC: message.topic.encode(),
        H_PARTITION: str(message.partition).encode(),
        H_OFFSET: str(message.offset).encode(),
    }


def headers_of(event: EventT) -> dict[str, bytes]:
    raw: Mapping[str, bytes] | Sequence[tuple[str, bytes]] | None = event.message.headers
    if not raw:
        return {}
    items = raw.items() if isinstance(raw, Mapping) else raw
    return {str(k): bytes(v) for k, v in items if v is not None}


class DeadLetters:
    def __init__(self, topic: faust.TopicT) -> None:
        self.topic = topic

    async def send(
        self, event: EventT, kind: str, reason: str, stage: str, detail: str = ""
    ) -> None:
        """`kind` is the low-cardinality metric label; `reason` the readable line."""
        metrics.DEAD_LETTERS.labels(kind).inc()
        headers = {**source_headers(event), H_REASON: reason.encode(), H_STAGE: stage.encode()}
        if detail:
            headers[H_DETAIL] = detail[:4096].encode()
        where = "{}[{}]@{}".format(*(headers.get(k, b"?").decode() for k in _SOURCE))
        log.warning("dead letter (%s) from %s: %s %s", stage, where, reason, detail[:300])
        await self.topic.send(key=event.key, value=event.value, headers=headers)
