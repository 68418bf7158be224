"""`POST /mparticle/firehose`: mParticle's audience output (Firehose over HTTP).

Registration needs no auth. Every other message needs `Authorization: Token <token>` when
AIRMP_MPARTICLE_FIREHOSE_TOKEN is set (401 otherwise), and account settings naming our
connector id and external key (403, and for a membership change `suspend_subscription`:
mParticle stops sending until the customer fixes the connection). A membership change is
answered only once every reward request (and dead letter) is in Kafka; Kafka unavailable:
429, the only answer mParticle retries.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import orjson
from faust import web

from mappers import firehose
from mappers.vocabulary import FIREHOSE_IDENTITY_TYPES
from streams import metrics
from streams.dead_letters import Stage, dead_letter_headers, note_dead_letter
from streams.edges.base import EdgeView, RequestLog, retry_later, same_secret
from streams.edges.producer import KafkaUnavailable

Answer = tuple[int, Any, Mapping[str, str]]


class FirehoseFault(StrEnum):
    NO_RAW_IDENTITY = "no_raw_identity"  # hashed, or no identity of the configured type
    NO_ACTION_REFERENCE = "no_action_reference"  # the audience was connected without one


class FirehoseView(EdgeView):
    route_name = "firehose"

    async def handle(self, request: web.Request, request_log: RequestLog, **_: str) -> Answer:
        raw = await request.read()
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return 400, {"message": "the body is not JSON"}, {}
        if not isinstance(message, dict):
            return 400, {"message": "the body is not a Firehose message"}, {}
        kind, message_id = message.get("type"), message.get("id")
        if kind == "module_registration_request":
            return 200, firehose.registration(message_id, self.identity_type), {}
        settings = self.edges.settings
        token = settings.mparticle_firehose_token
        given = request.headers.get("Authorization", "")
        if token.get_secret_value() and not same_secret(given.removeprefix("Token "), token):
            request_log.warning("firehose %s: wrong or missing Authorization token", kind)
            return 401, {"message": "wrong or missing Authorization: Token"}, {}
        if not self.our_account(message):
            request_log.warning("firehose %s: account settings name another connector", kind)
            if kind == "audience_membership_change_request":
                response = firehose.answer(
                    "audience_membership_change_response", message_id, suspend_subscription=True
                )
                return 200, response, {}
            return 403, {"message": "the AIR Connector ID or external Key is not this one"}, {}
        if kind == "audience_subscription_request":
            return self.subscription(message, request_log)
        if kind == "audience_membership_change_request":
            return await self.membership(message, raw, request_log)
        return 400, {"message": f"unknown Firehose message type {kind!r}"}, {}

    @property
    def identity_type(self) -> str:
        return FIREHOSE_IDENTITY_TYPES[self.edges.settings.mparticle_identity_type]

    def our_account(self, message: Mapping[str, Any]) -> bool:
        account = message.get("account")
        found = account.get("account_settings") if isinstance(account, dict) else None
        found = found if isinstance(found, dict) else {}
        settings = self.edges.settings
        connector = str(found.get(firehose.CONNECTOR_ID, ""))
        key = found.get(firehose.EXTERNAL_KEY)
        return (
            bool(settings.connector_id)
            and connector == settings.connector_id
            and (same_secret(key if isinstance(key, str) else None, settings.external_key))
        )

    def subscription(self, message: Mapping[str, Any], request_log: RequestLog) -> Answer:
        settings = message.get("audience_subscription_settings")
        references = firehose.action_references(settings)
        audience = str(message.get("audience_id", ""))
        if message.get("action") == "remove":
            self.edges.subscriptions.pop(audience, None)
        elif not references:
            return 400, {"message": f"{firehose.ACTION_REFERENCES} is required"}, {}
        else:
            self.edges.subscriptions[audience] = references
        request_log.info("audience %s %s: %s", audience, message.get("action"), references)
        response = firehose.answer(
            "audience_subscription_response",
            message.get("id"),
            audience_subscription_settings=settings if isinstance(settings, dict) else {},
        )
        return 200, response, {}

    async def membership(
        self, message: Mapping[str, Any], raw: bytes, request_log: RequestLog
    ) -> Answer:
        asked = firehose.membership(message, self.identity_type, self.edges.subscriptions)
        settings = self.edges.settings
        messages: list[tuple[str, bytes | None, bytes, Mapping[str, bytes] | None]] = [
            (settings.reward_topic, reward.key, reward.to_bytes(), None) for reward in asked.rewards
        ]
        dead: list[tuple[dict[str, bytes], FirehoseFault]] = []
        for index, audience, why in asked.rejected:
            kind = (
                FirehoseFault.NO_ACTION_REFERENCE
                if why.startswith("no action")
                else FirehoseFault.NO_RAW_IDENTITY
            )
            detail = orjson.dumps({"profile": index, "audience_id": audience}).decode()
            reason = f"{kind}: {why}"
            headers = dead_letter_headers(
                {}, kind=kind, reason=reason, stage=Stage.FIREHOSE, detail=detail
            )
            dead.append((headers, kind))
            messages.append((settings.dead_letter_topic, None, raw, headers))
        try:
            await self.edges.producer.send_all(messages)
        except KafkaUnavailable as exc:
            request_log.warning("membership change not taken: %s", exc)
            return retry_later("Kafka is unavailable; retry")
        for headers, kind in dead:
            note_dead_letter(headers, kind=kind)
        for action, count in asked.counts.items():
            metrics.FIREHOSE_ACTIONS.labels(action).inc(count)
        request_log.info(
            "membership change: %d reward requests, %d rejected, %s",
            len(asked.rewards),
            len(asked.rejected),
            dict(asked.counts),
        )
        return 200, firehose.answer("audience_membership_change_response", message.get("id")), {}
