"""mParticle's own Python SDK (PyPI `mparticle` 0.16.1) as a client of the local endpoint.

The endpoint must accept what the real API accepts, and the SDK is mParticle's word on what
that is: it spells some keys differently from the Events API documentation (`customerid`),
and the real API takes them. The SDK is synchronous (urllib3), so it runs in a thread while
the endpoint serves in the test's loop.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import mparticle
import pytest

from mappers.vocabulary import (
    ACCEPTED_IDENTITY_KEYS,
    IDENTITY_KEYS,
    SDK_IDENTITY_SPELLINGS,
    normalise_identity_key,
)
from testkit.local_mparticle import LocalEndpoint
from tests.sinks.conftest import KEY, SECRET

NS = uuid.UUID("0c7a3f52-1e9b-4d6a-8b2f-5e4d3c2b1a09")
T0 = 1_700_000_000_000


def _id(name: str) -> str:
    return str(uuid.uuid5(NS, name))


def events_api(endpoint: LocalEndpoint, secret: str = SECRET) -> mparticle.EventsApi:
    config = mparticle.Configuration()
    config.host = endpoint.base_url + "/v2"  # the SDK appends /events and /bulkevents
    config.api_key = KEY
    config.api_secret = secret
    return mparticle.EventsApi(config)


def sdk_batch(n: int) -> mparticle.Batch:
    """Batch n as an SDK user builds it: a session with a custom and a commerce event."""
    session = {"session_id": n, "session_uuid": _id(f"session-{n}")}
    start = mparticle.SessionStartEvent(
        timestamp_unixtime_ms=T0 + n, source_message_id=_id(f"{n}/start"), **session
    )
    custom = mparticle.AppEvent(
        event_name="points_earned",
        custom_event_type="transaction",
        timestamp_unixtime_ms=T0 + n + 1,
        source_message_id=_id(f"{n}/custom"),
        custom_attributes={"points": str(10 * n)},
        **session,
    )
    product = mparticle.Product(id="sku-1", name="Coffee", price=3.5, quantity=2)
    action = mparticle.ProductAction(
        "purchase", transaction_id=f"txn-{n}", total_amount=7.0, products=[product]
    )
    commerce = mparticle.CommerceEvent(
        action,
        timestamp_unixtime_ms=T0 + n + 2,
        source_message_id=_id(f"{n}/commerce"),
        currency_code="GBP",
        **session,
    )
    end = mparticle.SessionEndEvent(
        timestamp_unixtime_ms=T0 + n + 3,
        source_message_id=_id(f"{n}/end"),
        session_duration_ms=3,
        **session,
    )
    batch = mparticle.Batch()
    batch.environment = "development"
    batch.source_request_id = _id(f"batch-{n}")
    batch.user_identities = mparticle.UserIdentities(
        customerid=f"wallet-{n}", email=f"member{n}@example.com", other_id_2=f"card-{n}"
    )
    batch.device_info = mparticle.DeviceInformation(platform="web")
    batch.user_attributes = {"tier": "gold", "points_balance": str(100 * n)}
    batch.events = [start, custom, commerce, end]
    return batch


def recorded(n: int) -> dict[str, Any]:
    """What the endpoint records for `sdk_batch(n)`: the SDK's JSON, as it sent it."""
    session = {"session_id": n, "session_uuid": _id(f"session-{n}")}
    return {
        "environment": "development",
        "source_request_id": _id(f"batch-{n}"),
        "user_identities": {
            "customerid": f"wallet-{n}",
            "email": f"member{n}@example.com",
            "other_id_2": f"card-{n}",
        },
        "device_info": {"platform": "web"},
        "user_attributes": {"tier": "gold", "points_balance": str(100 * n)},
        "events": [
            {
                "event_type": "session_start",
                "data": {
                    "timestamp_unixtime_ms": T0 + n,
                    "source_message_id": _id(f"{n}/start"),
                    **session,
                },
            },
            {
                "event_type": "custom_event",
                "data": {
                    "event_name": "points_earned",
                    "custom_event_type": "transaction",
                    "timestamp_unixtime_ms": T0 + n + 1,
                    "source_message_id": _id(f"{n}/custom"),
                    "custom_attributes": {"points": str(10 * n)},
                    **session,
                },
            },
            {
                "event_type": "commerce_event",
                "data": {
                    "timestamp_unixtime_ms": T0 + n + 2,
                    "source_message_id": _id(f"{n}/commerce"),
                    "currency_code": "GBP",
                    "product_action": {
                        "action": "purchase",
                        "transaction_id": f"txn-{n}",
                        "total_amount": 7.0,
                        "products": [
                            {"id": "sku-1", "name": "Coffee", "price": 3.5, "quantity": 2}
                        ],
                    },
                    **session,
                },
            },
            {
                "event_type": "session_end",
                "data": {
                    "timestamp_unixtime_ms": T0 + n + 3,
                    "source_message_id": _id(f"{n}/end"),
                    "session_duration_ms": 3,
                    **session,
                },
            },
        ],
    }


def _requests(endpoint: LocalEndpoint) -> list[tuple[str, int, int]]:
    return [(r.path, r.status, r.batches) for r in endpoint.state.requests]


async def test_upload_events_sends_one_batch_to_v2_events(endpoint: LocalEndpoint) -> None:
    api = events_api(endpoint)
    await asyncio.to_thread(api.upload_events, sdk_batch(1))
    assert endpoint.state.accepted == [recorded(1)]
    assert _requests(endpoint) == [("/v2/events", 202, 1)]


async def test_bulk_upload_events_sends_batches_to_v2_bulkevents(
    endpoint: LocalEndpoint,
) -> None:
    api = events_api(endpoint)
    await asyncio.to_thread(api.bulk_upload_events, [sdk_batch(1), sdk_batch(2)])
    assert endpoint.state.accepted == [recorded(1), recorded(2)]
    assert _requests(endpoint) == [("/v2/bulkevents", 202, 2)]


@pytest.mark.parametrize("bulk", [False, True], ids=["single", "bulk"])
async def test_a_wrong_secret_gets_401_and_nothing_is_recorded(
    endpoint: LocalEndpoint, bulk: bool
) -> None:
    api = events_api(endpoint, secret="not-the-secret")
    with pytest.raises(mparticle.rest.ApiException) as failure:
        if bulk:
            await asyncio.to_thread(api.bulk_upload_events, [sdk_batch(1)])
        else:
            await asyncio.to_thread(api.upload_events, sdk_batch(1))
    assert failure.value.status == 401
    assert endpoint.state.accepted == []
    path = "/v2/bulkevents" if bulk else "/v2/events"
    assert _requests(endpoint) == [(path, 401, 1)]


def test_the_sdk_spellings_we_know_are_exactly_those_it_sends() -> None:
    """Read from the SDK itself: the keys its UserIdentities serialises."""
    sent = set(mparticle.UserIdentities().attribute_map.values())
    assert sent <= ACCEPTED_IDENTITY_KEYS
    assert sent - set(IDENTITY_KEYS) == set(SDK_IDENTITY_SPELLINGS) == {"customerid"}
    assert set(IDENTITY_KEYS) - sent == {"customer_id"}
    assert {normalise_identity_key(k) for k in SDK_IDENTITY_SPELLINGS} == {"customer_id"}
