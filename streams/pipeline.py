"""The pipeline object: everything an agent, a timer or a view needs, passed explicitly.

`create_app` builds one per app and hands it to the module-level agents, timers and views
(streams/agents.py, sink_agent.py, timers.py, views.py). Tests build one around in-memory
channels instead of topics (tests/streams/test_agents.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import faust
from faust.types import ChannelT, TableT

import mappers
from config import Settings
from sinks import AirClient, ReferenceLookups
from streams.dead_letters import DeadLetterTopic
from streams.edges.base import Edges


@dataclass(frozen=True, slots=True)
class Topics:
    """Kafka topics in the worker; in-memory channels in the agent tests."""

    input: ChannelT  # AIR notifications, any key
    by_wallet: ChannelT  # the same, re-keyed by walletId (internal)
    records: ChannelT  # mParticle-ready records, keyed by walletId
    dead_letters: ChannelT
    rewards: ChannelT  # reward requests, keyed by identity value
    audiences: ChannelT  # mParticle membership changes, keyed by mParticle account


@dataclass(slots=True)
class Health:
    """What readiness depends on beside the app itself; agents and timers set it."""

    # Why each stopped delivering path stopped (a 401/403, a status it cannot fix), by
    # component ("sink", "rewards": streams/delivery.py `Path`); absent while it delivers.
    stopped: dict[str, str] = field(default_factory=dict)
    broker_unreachable: str | None = None  # the last broker check's failure


@dataclass(frozen=True, slots=True)
class Air:
    """The AIR side, when AIR credentials are set: the client, SPEND.VOID's look-ups, and
    the references AIR granted (keyed by identity value, as the reward topic)."""

    client: AirClient
    lookups: ReferenceLookups
    granted: TableT[bytes, dict[str, object] | None]


Table = TableT[bytes, dict[str, object] | None]


def kept(table: Table | None) -> Table:
    """A table the agents keep: there on every worker that runs agents (only an
    edges-only worker has none, and it runs no agent)."""
    if table is None:
        raise RuntimeError("an agent ran on a worker without its tables (edges only?)")
    return table


@dataclass(slots=True)
class Pipeline:
    app: faust.App
    settings: Settings
    options: mappers.MappingOptions
    topics: Topics
    # None on an edges-only worker (no agents, no state: streams/app.py pipeline).
    wallet_state: TableT[bytes, dict[str, object] | None] | None
    audience_requests: TableT[bytes, dict[str, object] | None] | None  # request ids
    dead_letters: DeadLetterTopic
    air: Air | None = None
    edges: Edges | None = None  # the HTTP edges, when this worker serves them
    sink_accepted: TableT[bytes, dict[str, object] | None] | None = None  # with the sink
    health: Health = field(default_factory=Health)
