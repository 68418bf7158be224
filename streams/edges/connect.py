"""`POST /in/mparticle/{connectorId}`: Eagle Eye Connect's generic inbound contract.

Header `X-Auth-Token: <external key>`; body `{"type": "services/trigger", "body": {...}}`.
Missing token: 401. Unknown connector or key: 403. Invalid body: 400 with Connect's
validation errors. Accepted (once the reward request is in Kafka): 200 `{"status": "OK"}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faust import web
from pydantic import ValidationError

from mappers import connect
from streams.edges.base import EdgeView, RequestLog, read_body, retry_later, same_secret
from streams.errors import KafkaUnavailable

Answer = tuple[int, Any, Mapping[str, str]]


class ConnectView(EdgeView):
    route_name = "connect"

    async def handle(self, request: web.Request, request_log: RequestLog, **params: str) -> Answer:
        settings = self.edges.settings
        token = request.headers.get("X-Auth-Token")
        if not token:
            return 401, {"message": "Missing authentication token"}, {}
        connector = params.get("connector_id", "")
        if connector != settings.connector_id or not same_secret(token, settings.external_key):
            request_log.warning("inbound call with an unknown connector id or key")
            return 403, {"message": "Unknown external key"}, {}
        try:
            reward = connect.reward_request(
                await read_body(request, self.edges.settings), connector
            )
        except ValidationError as exc:
            errors = connect.validation_errors(exc)
            return 400, {"message": "Validation error", "errors": errors}, {}
        except ValueError as exc:
            return (
                400,
                {"message": "Validation error", "errors": [{"path": "body", "message": str(exc)}]},
                {},
            )
        try:
            await self.edges.producer.send(settings.reward_topic, reward.key, reward.to_bytes())
        except KafkaUnavailable as exc:
            request_log.warning("inbound reward request not taken: %s", exc)
            return retry_later("Kafka is unavailable; retry")
        request_log.info("inbound reward request %s", reward.reference)
        return 200, {"status": "OK"}, {}
