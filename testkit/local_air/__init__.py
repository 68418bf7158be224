"""A local Eagle Eye AIR wallet API (`airmp mock-air`), as strict as the real one, for tests,
the demo and chaos.

- Every API request is signed: X-EES-AUTH-CLIENT-ID and X-EES-AUTH-HASH, the sha256 of the
  request target as received + the raw body bytes + the client secret (other AIR clients
  send JSON spaced differently, so the body is never re-serialised). Wrong or missing: 401.
  A POST without a Content-Length (chunked) is refused with 411.
- It knows wallets and their identities (a JSON file, POST /_mock/wallets) and learns them
  from the AIR notifications it is told about (POST /_mock/notifications): the walletId,
  the identities of enrichmentData, the POINTS account and its balance, the tier, the
  wallet transactions.
- It knows SBA triggers: reference -> points N or an ECOUPON campaign (`REF=points:5000`,
  `REF=ecoupon:100641679`, optionally `@<the SBA's campaignId>`).
- POST /services/trigger: 201 with a wallet transaction shaped like AIR's; 404 for an
  unknown identity; 400 for a bad body or an unknown trigger. A repeated
  walletTransaction.reference is answered exactly as the first time and never rewards twice
  (unless the `regrant_repeats` fault says to behave as an AIR that does not de-duplicate).
- GET /wallet/{walletId}/transaction/{walletTransactionId}: the transaction, or 404.
- Faults, set at start or through POST /_mock/faults: 429 (with Retry-After), 5xx, slow
  answers, dropped connections, and accept-then-drop / accept-then-hold (the grant is
  recorded, then no answer).
- It records its grants (JSON lines, GET /_mock/granted with counts per reference) and, like
  AIR, emits a SERVICE.TRIGGER notification for each grant (testkit.air_notifications) to
  a Kafka topic and/or a webhook URL (X-Auth-Token), in grant order, retried until taken.

The package, one module per part (each imports only those above it):
- `rewards`: the SBA triggers it knows; `wallets`: the wallets and their identities;
- `faults`: faults on demand, the request log, AIR's error bodies;
- `state`: `AirState`, the wallets, triggers and grants; `emission`: the notifications'
  targets (Kafka, webhook) and the `Emitter` that retries them;
- `config`: `AirConfig`, the one config object; `routes`: the aiohttp app (`create_app`);
- `server`: `LocalAir` (tests) and `run_local_air` (`airmp mock-air`).
"""

from __future__ import annotations

from testkit.errors import NotificationRefused
from testkit.local_air.config import DEFAULT_PORT, DEFAULT_TRIGGERS, AirConfig
from testkit.local_air.emission import Emitter, KafkaTarget, Target, WebhookTarget, targets_for
from testkit.local_air.faults import Faults, RequestLog, TriggerAnswer, error_body
from testkit.local_air.rewards import (
    Reward,
    RewardKind,
    load_triggers,
    parse_reward,
    parse_trigger,
    triggers_from,
)
from testkit.local_air.routes import EMITTER_KEY, STATE_KEY, WALLET_TRANSACTION_ROUTE, create_app
from testkit.local_air.server import LocalAir, run_local_air, serve
from testkit.local_air.state import DEFAULT_POINTS_CAMPAIGN, AirState
from testkit.local_air.wallets import Wallet, load_wallets

__all__ = [
    "DEFAULT_POINTS_CAMPAIGN",
    "DEFAULT_PORT",
    "DEFAULT_TRIGGERS",
    "EMITTER_KEY",
    "STATE_KEY",
    "WALLET_TRANSACTION_ROUTE",
    "AirConfig",
    "AirState",
    "Emitter",
    "Faults",
    "KafkaTarget",
    "LocalAir",
    "NotificationRefused",
    "RequestLog",
    "Reward",
    "RewardKind",
    "Target",
    "TriggerAnswer",
    "Wallet",
    "WebhookTarget",
    "create_app",
    "error_body",
    "load_triggers",
    "load_wallets",
    "parse_reward",
    "parse_trigger",
    "run_local_air",
    "serve",
    "targets_for",
    "triggers_from",
]
