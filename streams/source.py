"""Where a message came from: the source headers and the delivery tag, in one place.

The ingest agent forwards a notification to the by-wallet topic with headers naming its
AIR input message; dead letters carry the same headers. The delivery tag names that input
message (`air-notifications[2]@41`): the mapper re-maps a tag it has seen (a re-run after
a crash) but drops another delivery of the same eesEventId (AIR's duplicate). The worker
and `airmp replay` must build it identically, or a replay would count as a duplicate.

`airmp dead-letters redrive` puts a dead letter back on the AIR input topic with its source
headers, so the re-driven message is the same delivery to the mapper (its tag is the
original's): mapped again, not dropped as another delivery of a seen eesEventId. It adds
`airmp-redriven-from` (the dead letter's own position), which is carried along the same
way, so a message that is dead-lettered again says it was re-driven.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

H_TOPIC = "airmp-source-topic"
H_PARTITION = "airmp-source-partition"
H_OFFSET = "airmp-source-offset"
SOURCE_HEADERS = (H_TOPIC, H_PARTITION, H_OFFSET)
H_REDRIVEN = "airmp-redriven-from"  # `topic[partition]@offset` of the dead letter re-driven
# On the audience topic: the Firehose edge's remembered action references (JSON, audience
# id -> references) for audiences that arrive without their settings; the fan-out agent may
# run on another worker than the edge that remembered them.
H_AUDIENCE_REFERENCES = "airmp-audience-references"


def headers_dict(raw: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> dict[str, bytes]:
    """Faust's (a mapping or pairs) and aiokafka's (pairs) headers as one dict."""
    if not raw:
        return {}
    items = raw.items() if isinstance(raw, Mapping) else raw
    return {str(k): bytes(v) for k, v in items if v is not None}


def source_of(
    headers: Mapping[str, bytes], topic: str, partition: int, offset: int
) -> dict[str, bytes]:
    """The source headers: those a forwarded message carries, else its own position; and
    the re-drive mark when it has one."""
    if H_TOPIC in headers:
        found = {k: headers[k] for k in SOURCE_HEADERS if k in headers}
    else:
        found = {
            H_TOPIC: topic.encode(),
            H_PARTITION: str(partition).encode(),
            H_OFFSET: str(offset).encode(),
        }
    if H_REDRIVEN in headers:
        found[H_REDRIVEN] = headers[H_REDRIVEN]
    return found


def delivery_tag(source: Mapping[str, bytes]) -> str:
    """`topic[partition]@offset` of the AIR input message named by source headers."""
    topic, partition, offset = (
        source.get(k, b"?").decode(errors="replace") for k in SOURCE_HEADERS
    )
    return f"{topic}[{partition}]@{offset}"
