"""Where the table recovery started reading its changelog, as a metric.

After a restart with the rocksdb store, a worker reads only the tail of the wallet-state
changelog: the store remembers how far it had read. `airmp_table_recovery_start_offset`
shows it per changelog partition (-1: from the beginning, a fresh store), so an operator
can see what a restart cost, and a test can check it without reading Faust's log table.
Faust has no hook for it: `_build_offsets` is where its Recovery service decides.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from faust.tables.manager import TableManager as FaustTableManager
from faust.tables.recovery import Recovery as FaustRecovery
from faust.types import TP

from streams import metrics


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
