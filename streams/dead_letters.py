"""Dead letters: the original bytes, untouched, with why and where from in the headers."""

from __future__ import annotations

import logging

import faust
from faust.types import EventT

from streams import metrics
from streams.source import delivery_tag, headers_dict, source_of

log = logging.getLogger("airmp.dead_letters")

H_REASON = "airmp-reason"
H_DETAIL = "airmp-detail"
H_STAGE = "airmp-stage"


def source_headers(event: EventT) -> dict[str, bytes]:
    """Where an event came from: its own headers when it was forwarded, else its message."""
    message = event.message
    headers = headers_dict(message.headers)
    return source_of(headers, message.topic, message.partition, message.offset)


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
        where = delivery_tag(headers)
        log.warning("dead letter (%s) from %s: %s %s", stage, where, reason, detail[:300])
        await self.topic.send(key=event.key, value=event.value, headers=headers)
