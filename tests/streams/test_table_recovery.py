"""A table's changelog read back into the memory store, in process: what a table writes for
a key is decoded by its changelog topic, as Faust's recovery does, and applied to the store;
the agents' own key must then find it (faust-streaming/faust#310: Faust decoded our raw
keys as JSON, so b"700210005" came back as the int 700210005)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from faust.types import TP, Message

from config import load_settings
from streams.app import app_options, json_table
from streams.offsets import App

STATE = {"version": 1, "identities": {"CARD": ["6301000700210005", 1740853800000000]}}


def _table(name: str) -> Any:
    # A broker nobody answers on: nothing here talks to Kafka.
    settings = load_settings(
        kafka_bootstrap_servers="127.0.0.1:9", store="memory://", app_id="recovery"
    )
    return json_table(App(settings.app_id, **app_options(settings)), name, settings)


async def _restore(table: Any, offset: int, key: bytes, value: dict[str, Any] | None) -> bytes:
    """Write `key` as the table does, read it back as Faust's recovery does; the bytes sent."""
    topic = table.changelog_topic
    # Table.on_key_set and on_key_del: the table's serializers, "raw" for a deletion's None.
    key_bytes, _ = topic.prepare_key(key, table.key_serializer)
    serializer = table.value_serializer if value is not None else "raw"
    value_bytes, _ = topic.prepare_value(value, serializer)
    tp = TP(topic.get_topic_name(), 0)
    message = Message(
        tp.topic, tp.partition, offset, 0.0, 0, [], key_bytes, value_bytes, None, tp=tp
    )
    # Recovery: the conductor decodes the message with the changelog topic, and the buffer
    # of such events is applied to the store.
    event = await topic.decode(message, propagate=True)
    table.apply_changelog_batch([event])
    return bytes(value_bytes) if value_bytes is not None else b""


@pytest.mark.parametrize("name", ["wallet-state", "rewards-granted"])
async def test_a_restored_key_is_found_by_the_key_that_wrote_it(name: str) -> None:
    table = _table(name)

    written = await _restore(table, 0, b"700210005", STATE)

    # The bytes on the changelog are raw keys and JSON values, as before the fix.
    assert orjson.loads(written) == STATE
    assert list(table.data.keys()) == [b"700210005"]
    assert table.get(b"700210005") == STATE


async def test_a_restored_deletion_forgets_the_key() -> None:
    table = _table("wallet-state")
    await _restore(table, 0, b"700210005", STATE)
    await _restore(table, 1, b"700210004", STATE)

    await _restore(table, 2, b"700210005", None)

    assert list(table.data.keys()) == [b"700210004"]
    assert table.get(b"700210005") is None
