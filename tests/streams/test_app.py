"""The worker's app (streams/app.py) where it differs from Faust's."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, cast

from mode import Service

from config import load_settings
from streams import app as worker_app
from streams.offsets import App as LedgerApp


def _app(cls: type[LedgerApp]) -> LedgerApp:
    settings = load_settings(kafka_bootstrap_servers="127.0.0.1:9", store="memory://")
    return cls("app-test", **worker_app.app_options(settings))


def _first_step(coro: Coroutine[Any, Any, Any]) -> tuple[bool, Any]:
    """Run a coroutine one step: (finished, its result) or (False, what it waits on)."""
    try:
        waits_on = coro.send(None)
    except StopIteration as done:
        return True, done.value
    coro.close()
    return False, waits_on


async def test_the_running_producer_is_handed_out_without_a_trip_round_the_loop() -> None:
    app = _app(worker_app.App)
    cast(Service, app.producer)._started.set()  # as once the worker has started it
    assert _first_step(app.maybe_start_producer()) == (True, app.producer)


async def test_faust_would_yield_to_the_loop_on_every_send() -> None:
    # Why streams.app.App overrides it: Faust's stampede wrapper sleeps before anything.
    app = _app(LedgerApp)
    cast(Service, app.producer)._started.set()
    finished, _ = _first_step(app.maybe_start_producer())
    assert not finished


def test_create_app_makes_the_worker_app() -> None:
    settings = load_settings(kafka_bootstrap_servers="127.0.0.1:9", store="memory://")
    assert type(worker_app.create_app(settings)) is worker_app.App


def test_the_group_waits_for_a_revocation_that_gives_deliveries_their_grace() -> None:
    def timeouts(grace: float) -> tuple[float, float]:
        settings = load_settings(
            kafka_bootstrap_servers="127.0.0.1:9", store="memory://", delivery_grace_seconds=grace
        )
        options = worker_app.app_options(settings)
        return options["broker_rebalance_timeout"], options["broker_request_timeout"]

    assert timeouts(10) == (60.0, 90.0)  # Faust's defaults
    assert timeouts(120) == (150.0, 180.0)


def test_the_old_name_of_the_grace_setting_still_works(monkeypatch: Any) -> None:
    monkeypatch.setenv("AIRMP_SINK_SHUTDOWN_GRACE_SECONDS", "42")
    assert load_settings().delivery_grace_seconds == 42.0
    monkeypatch.setenv("AIRMP_DELIVERY_GRACE_SECONDS", "7")
    assert load_settings().delivery_grace_seconds == 7.0


def test_an_edges_only_worker_keeps_no_state_and_a_group_of_its_own() -> None:
    # A declared table is a changelog read back at start and a subscription in the group;
    # a Faust app always joins its group: edges pods would rebalance the workers.
    def made(**overrides: Any) -> Any:
        settings = load_settings(
            kafka_bootstrap_servers="127.0.0.1:9", store="memory://", app_id="shop", **overrides
        )
        return worker_app.create_app(settings)

    workers = made()
    assert (workers.conf.id, sorted(workers.tables)) == (
        "shop",
        ["audience-requests", "sink-accepted", "wallet-state"],
    )
    edges = made(agents_enabled=False)
    assert (edges.conf.id, list(edges.tables), list(edges.agents)) == ("shop-edges", [], [])


def test_the_standby_count_is_a_setting_passed_to_faust() -> None:
    def standbys(**overrides: Any) -> object:
        settings = load_settings(
            kafka_bootstrap_servers="127.0.0.1:9", store="memory://", **overrides
        )
        return worker_app.create_app(settings).conf.table_standby_replicas

    assert (standbys(), standbys(table_standby_replicas=0)) == (1, 0)
