"""`POST /mparticle/firehose`: mParticle's audience output (Firehose over HTTP).

Registration needs no auth. Every other message needs `Authorization: Token <token>` when
AIRMP_MPARTICLE_FIREHOSE_TOKEN is set (401 otherwise), and account settings naming our
connector id and external key (403, and for a membership change `suspend_subscription`:
mParticle stops sending until the customer fixes the connection). A membership change is
put on the audience topic whole (but for its account settings: the external key never
reaches Kafka) in one produce, and answered 200 once Kafka has it, whatever the audience's
size; the fan-out agent (streams/audiences.py) turns it into reward requests. Kafka
unavailable: 429, the only answer mParticle retries. `user_profiles` that is not a list of
objects: 400 with the reason. A DSR or event processing request (this output registers
for neither): 200 with the empty response of its type, as mParticle's Firehose SDK answers
what a module does not implement. Any other type: 400 naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from faust import web

from mappers import firehose
from mappers.vocabulary import FIREHOSE_IDENTITY_TYPES
from streams.edges.base import EdgeView, RequestLog, read_body, retry_later, same_secret
from streams.errors import KafkaUnavailable
from streams.source import H_AUDIENCE_REFERENCES

Answer = tuple[int, Any, Mapping[str, str]]
AUDIENCE_REQUESTS = ("audience_subscription_request", "audience_membership_change_request")
NOTHING_TO_DO = {
    "dsr_processing_request": "dsr_processing_response",
    "event_processing_request": "event_processing_response",
}


class FirehoseView(EdgeView):
    route_name = "firehose"

    async def handle(self, request: web.Request, request_log: RequestLog, **_: str) -> Answer:
        raw = await read_body(request, self.edges.settings)
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
        if kind in NOTHING_TO_DO:
            # Not registered for (registration: audiences only), so nothing to do: answered
            # as mParticle's Firehose SDK answers what a module does not implement.
            request_log.info("firehose %s: answered, nothing to do", kind)
            return 200, firehose.answer(NOTHING_TO_DO[kind], message_id), {}
        if kind not in AUDIENCE_REQUESTS:
            return 400, {"message": f"unknown Firehose message type {str(kind)[:100]!r}"}, {}
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
        return await self.membership(message, raw, request_log)

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
        """Put the request on the audience topic once, answer after Kafka's ack; the
        fan-out agent (streams/audiences.py) makes the reward requests."""
        problem = firehose.shape_problem(message)
        if problem is not None:
            request_log.warning("membership change refused: %s", problem)
            return 400, {"message": problem}, {}
        settings = self.edges.settings
        account = message.get("account")
        account_id = account.get("account_id") if isinstance(account, Mapping) else None
        key = str(account_id if account_id is not None else settings.connector_id).encode()
        value = orjson.dumps(firehose.without_account_settings(message))
        remembered = {audience: list(refs) for audience, refs in self.edges.subscriptions.items()}
        headers = {H_AUDIENCE_REFERENCES: orjson.dumps(remembered)} if remembered else None
        try:
            await self.edges.producer.send(settings.audience_topic, key, value, headers)
        except KafkaUnavailable as exc:
            request_log.warning("membership change not taken: %s", exc)
            return retry_later("Kafka is unavailable; retry")
        profiles = message.get("user_profiles")
        request_log.info(
            "membership change %s taken: %d profiles, %d bytes",
            message.get("id"),
            len(profiles) if isinstance(profiles, list) else 0,
            len(raw),
        )
        return 200, firehose.answer("audience_membership_change_response", message.get("id")), {}
