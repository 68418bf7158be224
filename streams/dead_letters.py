"""The dead-letter topic: the original bytes, untouched, with why and where from in headers.

One exception to "untouched": a configured secret (any value `streams.logs.secrets_of`
returns) found in a dead letter's key, value or headers is masked, and counted and logged. A
dead letter is read by people (`airmp dead-letters show`) and kept for days; a secret
must never be there, whatever an input carried. And a part: the fan-out agent dead-letters
one profile of an mParticle membership change, not the whole request (`value=`).

Headers: `airmp-kind` (the low-cardinality kind: a `RejectReason`, `RefusalReason`, `Fault`
or `RewardFault` value, the metric's label), `airmp-reason` (a readable line that starts
with the kind), `airmp-detail` (more, such as mParticle's or AIR's answer), `airmp-stage`
(a `Stage`), and the source headers of `streams.source` (which AIR input message, or which
message of the stage's own topic). `airmp dead-letters` reads them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from enum import StrEnum

from faust.types import ChannelT, EventT

from config import Settings
from streams import metrics
from streams.source import H_TOPIC, delivery_tag, headers_dict, source_of

log = logging.getLogger("airmp.dead_letters")

H_KIND = "airmp-kind"
H_REASON = "airmp-reason"
H_DETAIL = "airmp-detail"
H_STAGE = "airmp-stage"
DETAIL_CHARS = 4096


class Stage(StrEnum):
    """Where an input was given up on; `airmp dead-letters redrive` sends it back there."""

    INGEST = "ingest"  # the ingest agent, on the AIR input topic
    WALLET = "wallet"  # the wallet agent, on the by-wallet topic
    SINK = "sink"  # the sink agent, on the records topic
    REWARD = "reward"  # the reward agent, on the reward topic
    FIREHOSE = "firehose"  # the audience output edge: a profile that cannot be rewarded


# The topic each stage reads, by its `Settings` field: where `airmp dead-letters redrive`
# sends the stage's letters back (ops/dead_letters/letters.py). Wallet letters go to the AIR
# input topic, not to the by-wallet copy, which only the ingest agent writes. None: not
# re-driven (mParticle sends a firehose profile again once it carries a raw identity). A new
# stage names its topic here.
STAGE_TOPICS: dict[Stage, str | None] = {
    Stage.INGEST: "input_topic",
    Stage.WALLET: "input_topic",
    Stage.SINK: "records_topic",
    Stage.REWARD: "reward_topic",
    Stage.FIREHOSE: None,
}


def stage_topic(stage: str, settings: Settings) -> str | None:
    """The topic `stage` reads, from `STAGE_TOPICS`; None for one not re-driven, or one
    this version does not know (a letter of a newer or older worker)."""
    try:
        field = STAGE_TOPICS[Stage(stage)]
    except ValueError:
        return None
    return None if field is None else str(getattr(settings, field))


class Fault(StrEnum):
    """Dead-letter kinds of the stream app itself (the mapper and the sink have their own)."""

    PROCESSING_ERROR = "processing_error"  # a handler raised: a bug; the event is kept
    NOT_A_RECORD = "not_a_record"  # the records topic held something that is no record


def source_headers(event: EventT) -> dict[str, bytes]:
    """Where an event came from: its own headers when it was forwarded, else its message."""
    message = event.message
    headers = headers_dict(message.headers)
    return source_of(headers, message.topic, message.partition, message.offset)


MASK = b"**********"


class DeadLetterTopic:
    """Writes dead letters: the event's key and value as they came, reason in the headers,
    configured secrets masked."""

    def __init__(self, topic: ChannelT, secrets: Sequence[str] = ()) -> None:
        self.topic = topic
        # Longest first: a secret that contains another is masked whole.
        self._secrets = sorted({s.encode() for s in secrets if s}, key=len, reverse=True)

    async def send(
        self,
        event: EventT,
        *,
        kind: StrEnum,
        reason: str,
        stage: Stage,
        detail: str = "",
        value: bytes | None = None,
    ) -> None:
        """`kind` is the low-cardinality metric label; `reason` the readable line; `value`,
        when given, the part of the event that is bad (else the event's own value)."""
        headers = dead_letter_headers(
            source_headers(event), kind=kind, reason=reason, stage=stage, detail=detail
        )
        body = bytes(event.value or b"") if value is None else value
        key = bytes(event.key) if event.key is not None else None
        key, body, headers = self.masked(key, body, headers)
        note_dead_letter(headers, kind=kind)
        await self.topic.send(key=key, value=body, headers=headers)

    def masked(
        self, key: bytes | None, value: bytes, headers: dict[str, bytes]
    ) -> tuple[bytes | None, bytes, dict[str, bytes]]:
        """`key`, `value` and `headers` with every configured secret masked."""
        found = [0]

        def mask(part: bytes) -> bytes:
            for secret in self._secrets:
                if secret in part:
                    found[0] += 1
                    part = part.replace(secret, MASK)
            return part

        key = mask(key) if key is not None else None
        value = mask(value)
        headers = {name: mask(part) for name, part in headers.items()}
        if found[0]:
            metrics.DEAD_LETTER_SECRETS_MASKED.inc(found[0])
            log.warning("a configured secret was masked in a dead letter (%d places)", found[0])
        return key, value, headers


def dead_letter_headers(
    source: dict[str, bytes], *, kind: StrEnum, reason: str, stage: Stage, detail: str = ""
) -> dict[str, bytes]:
    """A dead letter's headers (source, kind, reason, stage, detail): for the agents'
    `DeadLetterTopic` and the edges, which produce their own."""
    headers = {
        **source,
        H_KIND: str(kind).encode(),
        H_REASON: reason.encode(),
        H_STAGE: stage.encode(),
    }
    if detail:
        headers[H_DETAIL] = detail[:DETAIL_CHARS].encode()
    return headers


def note_dead_letter(headers: dict[str, bytes], *, kind: StrEnum) -> None:
    """Count (`kind` is the metric label) and log a dead letter."""
    metrics.DEAD_LETTERS.labels(str(kind)).inc()
    where = delivery_tag(headers) if H_TOPIC in headers else "an edge"
    text = {k: v.decode(errors="replace") for k, v in headers.items()}
    detail = text.get(H_DETAIL, "")[:300]
    log.warning("dead letter (%s) from %s: %s %s", text[H_STAGE], where, text[H_REASON], detail)
