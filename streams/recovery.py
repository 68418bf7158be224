"""Table recovery from the changelog: tables that read it back with their own schema, and
where the recovery started reading, as a metric.

`Table` (faust-streaming/faust#310): Faust 0.15.3 ignores a table's schema serializers, so
a memory:// worker (or any store that keeps decoded keys) restored a wallet's state under a
key nobody looks up. Its docstring has the detail.

After a restart with the rocksdb store, a worker reads only the tail of the wallet-state
changelog: the store remembers how far it had read. `airmp_table_recovery_start_offset`
shows it per changelog partition (-1: from the beginning, a fresh store), so an operator
can see what a restart cost, and a test can check it without reading Faust's log table.
Faust has no hook for it: `_build_offsets` is where its Recovery service decides.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import faust
from faust.tables.manager import TableManager as FaustTableManager
from faust.tables.recovery import Recovery as FaustRecovery
from faust.types import TP, AppT, SchemaT

from streams import metrics


class Table(faust.Table):
    """A table whose changelog is written and read with its schema's serializers.

    Faust 0.15.3 takes a table's serializers from `key_type`/`value_type` only ("json" for
    none) and passes them to the changelog topic, where they overwrite the schema's
    (faust-streaming/faust#310, open). Our tables have a schema (raw keys, orjson values)
    and bytes keys: "json" wrote a key as it is (bytes are not serialized) but decoded it as
    JSON, so the memory store recovered b"700210005" as the int 700210005 and the restarted
    worker found no state for the wallet. rocksdb:// stores the changelog's raw bytes and
    was not affected. The bytes written are the same either way (raw keys, JSON values), so
    existing changelogs and rocksdb stores read the same.
    """

    def __init__(self, app: AppT, *, schema: SchemaT | None = None, **kwargs: Any) -> None:
        super().__init__(app, schema=schema, **kwargs)
        # Before the changelog topic exists: it is made, with these, on first use.
        if schema is not None:
            self.key_serializer = schema.key_serializer or self.key_serializer
            self.value_serializer = schema.value_serializer or self.value_serializer


class Recovery(FaustRecovery):
    async def _build_offsets(
        self, consumer: Any, tps: set[TP], destination: Counter[TP], title: str
    ) -> None:
        await super()._build_offsets(consumer, tps, destination, title)
        if title == "active":
            for tp in tps:
                metrics.RECOVERY_START.labels(tp.topic, str(tp.partition)).set(destination[tp])


class TableManager(FaustTableManager):
    @property
    def recovery(self) -> FaustRecovery:
        if self._recovery is None:
            self._recovery = Recovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery
