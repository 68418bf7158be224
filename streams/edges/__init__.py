"""The HTTP edges on the worker's web port: mParticle's audience output, Eagle Eye
Connect's generic inbound route and AIR's webhook, each into Kafka (see each module)."""

from __future__ import annotations

from typing import Any, cast

import faust
from faust.web.drivers.aiohttp import Web as AiohttpWeb
from mode.types.signals import BaseSignalT

from config import Settings
from streams.edges.base import Edges, EdgeView
from streams.edges.connect import ConnectView
from streams.edges.firehose import FirehoseView
from streams.edges.producer import EdgeProducer
from streams.edges.server import EdgeWeb
from streams.edges.webhook import WebhookView

ROUTES: list[tuple[str, type[EdgeView]]] = [
    ("/mparticle/firehose", FirehoseView),
    ("/in/mparticle/{connector_id}", ConnectView),
    ("/air/notifications", WebhookView),
    ("/out/mparticle/{connector_id}", WebhookView),
]


def install_edges(app: faust.App, settings: Settings) -> Edges:
    """The routes on `app`'s web server, and the edge producer started with the worker."""
    edges = Edges(settings, EdgeProducer(settings))
    if isinstance(app.web, EdgeWeb):
        app.web.header_timeout = settings.edge_header_timeout_seconds
    for n, (path, view) in enumerate(ROUTES):
        app.page(path, name=f"edge_{n}_{view.route_name}")(
            type(view.__name__, (view,), {"edges": edges})
        )
    # With the web server, which answers from the worker's start (before the tables are
    # recovered and Faust's tasks run): the edges take requests as soon as Kafka does.
    cast(AiohttpWeb, app.web).web_app.on_startup.append(_starting(edges))

    @app.on_before_shutdown.connect
    async def stop_producer(sender: Any, /, *_: Any, signal: BaseSignalT[Any], **__: Any) -> None:
        await edges.producer.stop()

    return edges


def _starting(edges: Edges) -> Any:
    async def on_startup(_: object) -> None:
        edges.producer.start_soon()

    return on_startup


__all__ = ["Edges", "install_edges"]
