"""Mapping: AIR notifications/s through the mapping engine, against orjson.loads alone.

Both run in this process over the same bytes, round after round (a fresh `Mapper` each
round, so every round replays the same journeys from their start); each round gives a
ratio measured under the same conditions, and the report takes medians.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

import mappers
from bench.common import Sizes, median, notifications, say


@dataclass
class MappingResult:
    events: int
    map_rates: list[float] = field(default_factory=list)
    loads_rates: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    records: int = 0
    hotspots: list[tuple[str, float, float]] = field(default_factory=list)  # name, tot, cum %

    @property
    def map_rate(self) -> float:
        return median(self.map_rates)

    @property
    def loads_rate(self) -> float:
        return median(self.loads_rates)

    @property
    def ratio(self) -> float:
        return median(self.ratios)

    def as_json(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "records": self.records,
            "map_rates": self.map_rates,
            "loads_rates": self.loads_rates,
            "ratios": self.ratios,
            "map_rate": self.map_rate,
            "loads_rate": self.loads_rate,
            "ratio": self.ratio,
            "hotspots": self.hotspots,
        }


def _map_all(events: list[bytes]) -> int:
    mapper = mappers.Mapper(mappers.MappingOptions())
    records = 0
    for raw in events:
        if mapper.map_bytes(raw).record is not None:
            records += 1
    return records


def _loads_all(events: list[bytes]) -> None:
    loads = orjson.loads
    for raw in events:
        loads(raw)


def _hotspots(events: list[bytes], top: int = 8) -> list[tuple[str, float, float]]:
    """cProfile of one mapping round: the functions with the most own time (share of the
    round) and their cumulative share."""
    profiler = cProfile.Profile()
    profiler.runcall(_map_all, events)
    stats = pstats.Stats(profiler, stream=io.StringIO())
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for (path, line, name), (_cc, _nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        short = path.replace(str(mappers.__file__).rsplit("/", 2)[0] + "/", "")
        rows.append((f"{short}:{line}({name})", tt / total, ct / total))
    rows.sort(key=lambda r: r[1], reverse=True)
    return rows[:top]


def sandbox_notifications(count: int) -> list[bytes] | None:
    """The real AIR sandbox notifications of `AIR_SAMPLES_DIR` (~13 KB each, as AIR sends
    them; the project's fixtures are ~1 KB), each copy with its own eesEventId so dedup does
    not short-cut it. None when the variable is unset: they are read, never copied here."""
    folder = os.environ.get("AIR_SAMPLES_DIR")
    if not folder:
        return None
    docs = [orjson.loads(p.read_bytes()) for p in sorted(Path(folder).glob("*.json"))]
    docs += [orjson.loads(p.read_bytes()) for p in sorted(Path(folder).glob("spend-flow/*.json"))]
    out = []
    for i in range(count):
        doc = docs[i % len(docs)]
        doc["headers"]["eesEventId"] = f"bench-{i}"
        out.append(orjson.dumps(doc))
    return out


def run(
    sizes: Sizes, profile: bool = True, events: list[bytes] | None = None, label: str = "fixtures"
) -> MappingResult:
    if events is None:
        say(f"mapping ({label}): generating {sizes.mapping_events:,} notifications")
        events = notifications(sizes.mapping_events)
    else:
        say(f"mapping ({label}): {len(events):,} notifications")
    result = MappingResult(len(events))
    result.records = _map_all(events)  # warm-up (imports, caches), not timed
    for round_ in range(sizes.mapping_rounds):
        started = time.perf_counter()
        _loads_all(events)
        loads_s = time.perf_counter() - started
        started = time.perf_counter()
        _map_all(events)
        map_s = time.perf_counter() - started
        result.loads_rates.append(len(events) / loads_s)
        result.map_rates.append(len(events) / map_s)
        result.ratios.append(loads_s / map_s)
        say(
            f"  round {round_ + 1}/{sizes.mapping_rounds}: map {len(events) / map_s:,.0f}/s, "
            f"orjson.loads {len(events) / loads_s:,.0f}/s, ratio {loads_s / map_s:.2f}"
        )
    if profile:
        result.hotspots = _hotspots(events[: min(len(events), 5000)])
        say("  cProfile of one mapping round, most own time first (own %, cumulative %):")
        for name, own, cumulative in result.hotspots:
            say(f"    {own:6.1%} {cumulative:6.1%}  {name}")
    return result
