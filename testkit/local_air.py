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
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hmac
import itertools
import json
import logging
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, Protocol

import httpx
import orjson
from aiohttp import web
from aiokafka import AIOKafkaProducer

from mappers.reading import Notification, Rejection, parse
from sinks.air import CLIENT_ID_HEADER, HASH_HEADER, TRIGGER_PATH, auth_hash
from sinks.backoff import backoff_delay
from testkit import air_notifications as air
from testkit.kafka import producer
from testkit.loopback import LoopbackServer

log = logging.getLogger(__name__)

DEFAULT_PORT = 8091
DEFAULT_TRIGGERS = ("WELCOME5000=points:5000",)
DEFAULT_POINTS_CAMPAIGN = "100620987"
WALLET_TRANSACTION_ROUTE = "/wallet/{wallet_id}/transaction/{transaction_id}"

# Our ids are numbers in ranges of their own, so they never collide with learnt ones in tests.
_ID_BASES = {
    "wallet_transaction": 600_000_000,
    "account_transaction": 9_100_000_000,
    "account": 4_500_000_000,
    "tier_transaction": 500_000,
    "identity": 190_000_000,
}


# --- triggers ---------------------------------------------------------------------------------


class RewardKind(StrEnum):
    POINTS = "points"
    ECOUPON = "ecoupon"


@dataclass(frozen=True, slots=True)
class Reward:
    """What an SBA trigger gives: `points` points, or an ECOUPON account of `campaign_id`.
    `action_campaign_id` is the SBA's own campaign (its BEHAVIOURAL_ACTION account)."""

    kind: RewardKind
    action_campaign_id: str
    points: int = 0
    campaign_id: str | None = None

    @property
    def spec(self) -> str:
        what = str(self.points) if self.kind is RewardKind.POINTS else self.campaign_id
        return f"{self.kind}:{what}@{self.action_campaign_id}"


def parse_reward(reference: str, spec: str) -> Reward:
    """`points:5000` or `ecoupon:100641679`, optionally `@<SBA campaignId>` (else one
    derived from the reference, stable across runs)."""
    body, _, action = spec.strip().partition("@")
    kind, _, value = body.partition(":")
    action = action.strip() or str(100_900_000 + zlib.crc32(reference.encode()) % 1_000_000)
    try:
        reward_kind = RewardKind(kind.strip().lower())
    except ValueError:
        raise ValueError(
            f"trigger {reference}: {spec!r} is not points:N or ecoupon:CAMPAIGN_ID"
        ) from None
    value = value.strip()
    if reward_kind is RewardKind.POINTS:
        if not value.isdigit() or int(value) <= 0:
            raise ValueError(f"trigger {reference}: points must be a positive whole number")
        return Reward(reward_kind, action, points=int(value))
    if not value:
        raise ValueError(f"trigger {reference}: ecoupon needs a campaign id")
    return Reward(reward_kind, action, campaign_id=value)


def parse_trigger(spec: str) -> tuple[str, Reward]:
    """`WELCOME5000=points:5000` -> ("WELCOME5000", Reward)."""
    reference, sep, reward = spec.partition("=")
    reference = reference.strip()
    if not sep or not reference:
        raise ValueError(f"{spec!r} is not REFERENCE=points:N or REFERENCE=ecoupon:CAMPAIGN_ID")
    return reference, parse_reward(reference, reward)


def triggers_from(triggers: Mapping[str, str | Reward] | Iterable[str]) -> dict[str, Reward]:
    """A mapping reference -> spec or Reward, or specs `REF=points:N`."""
    if isinstance(triggers, Mapping):
        return {
            str(ref): value if isinstance(value, Reward) else parse_reward(str(ref), str(value))
            for ref, value in triggers.items()
        }
    return dict(parse_trigger(spec) for spec in triggers)


def load_triggers(path: str | Path) -> dict[str, Reward]:
    """A JSON object {"REFERENCE": "points:5000", "OTHER": "ecoupon:100641679@100641681"}."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(f"{path}: triggers must be a JSON object of reference -> spec")
    return triggers_from(data)


# --- wallets ----------------------------------------------------------------------------------


@dataclass
class Wallet:
    """What the local AIR knows of one wallet."""

    wallet_id: str
    identities: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> AIR identity
    points_accounts: dict[str, dict[str, Any]] = field(default_factory=dict)  # accountId -> account
    tier: dict[str, Any] | None = None  # its tierMembershipEntity
    transactions: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> transaction

    def points_balance(self) -> int | float | None:
        if not self.points_accounts:
            return None
        return sum(_balance(a, "current") for a in self.points_accounts.values())

    def summary(self) -> dict[str, Any]:
        return {
            "walletId": self.wallet_id,
            "identities": [
                {"type": i.get("type"), "value": i.get("value")} for i in self.identities.values()
            ],
            "points": self.points_balance(),
            "tierId": (self.tier or {}).get("tierId"),
            "transactions": sorted(self.transactions),
        }


def _balance(account: dict[str, Any], name: str) -> int | float:
    value = (account.get("balances") or {}).get(name)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _identity_key(identity: dict[str, Any]) -> str:
    identity_id = identity.get("identityId")
    return str(identity_id) if identity_id else f"{identity.get('type')}:{identity.get('value')}"


def _usable(identity: dict[str, Any]) -> bool:
    value = identity.get("value")
    return (
        isinstance(value, str)
        and bool(value)
        and isinstance(identity.get("type"), str)
        and identity.get("status") != "DELETED"
        and not value.startswith("DELETED_")
    )


def load_wallets(path: str | Path) -> list[dict[str, Any]]:
    """A JSON array of wallet specs (see `AirState.add_wallet`)."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, list) or not all(isinstance(w, dict) for w in data):
        raise ValueError(f"{path}: wallets must be a JSON array of objects")
    return data


# --- faults and logs --------------------------------------------------------------------------


@dataclass
class Faults:
    """Fault injection on the API routes (not /_mock); each `*_next` counter applies to that
    many coming requests."""

    rate_limit_next: int = 0
    retry_after: float | None = 1.0  # seconds sent in Retry-After; None sends no header
    server_error_next: int = 0
    server_error_status: int = 503
    drop_next: int = 0  # drop the connection before doing anything
    delay_seconds: float = 0.0  # before doing anything
    # Grant (and record, and emit), then drop the connection without answering: the client
    # does not know that it was rewarded.
    drop_after_accept_next: int = 0
    # Grant, then hold the answer this long: a client that times out meanwhile was rewarded.
    delay_after_accept_seconds: float = 0.0
    # Behave as an AIR that does not de-duplicate references: a repeat rewards again.
    regrant_repeats: bool = False

    def update(self, changes: Mapping[str, Any]) -> None:
        """All the changes, or none of them (ValueError names the first one refused)."""
        defaults = Faults()
        for name, value in changes.items():
            if name not in self.__dataclass_fields__:
                raise ValueError(f"unknown fault {name!r}")
            default = getattr(defaults, name)
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, int):
                ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
            else:  # float, or retry_after's None
                ok = (value is None and name == "retry_after") or (
                    isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
                )
            if not ok:
                raise ValueError(f"fault {name}: {value!r} is not allowed")
        for name, value in changes.items():
            setattr(self, name, value)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RequestLog:
    method: str
    path: str
    status: int = 0  # -1: no answer (dropped)
    reference: str | None = None  # walletTransaction.reference of a trigger
    repeat: bool = False  # answered as the first request with that reference
    granted: bool = False
    dropped_after_accept: bool = False
    arrival: float = 0.0  # time.time()
    client_port: int | None = None  # the connection it came on: shows keep-alive


@dataclass(frozen=True, slots=True)
class TriggerAnswer:
    status: int
    body: bytes
    reference: str | None = None
    granted: bool = False
    repeat: bool = False


_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORISED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    411: "LENGTH_REQUIRED",
    429: "TOO_MANY_REQUESTS",
}


def error_body(status: int, message: str, code: str | None = None) -> bytes:
    """AIR's error answer: {"errorCode", "errorMessage"}."""
    return orjson.dumps(
        {"errorCode": code or _CODES.get(status, "SERVER_ERROR"), "errorMessage": message}
    )


def _error(status: int, message: str, code: str | None = None, **headers: str) -> web.Response:
    return web.Response(
        status=status,
        body=error_body(status, message, code),
        content_type="application/json",
        headers=headers or None,
    )


# --- state ------------------------------------------------------------------------------------


class AirState:
    """Wallets, triggers, grants; synchronous, so one request's check-and-grant is atomic."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        triggers: Mapping[str, Reward] | None = None,
        faults: Faults | None = None,
        record: Path | None = None,
        clock: Callable[[], datetime] | None = None,
        event_ids: Callable[[], str] | None = None,
    ) -> None:
        if not client_id or not client_secret:
            raise ValueError("the local AIR needs a client id and a client secret")
        self._client_id = client_id.encode()
        self._secret = client_secret.encode()
        self.client_id = client_id
        self.triggers: dict[str, Reward] = dict(triggers or {})
        self.faults = faults or Faults()
        self.wallets: dict[str, Wallet] = {}
        self._by_identity: dict[str, str] = {}  # identity value -> walletId
        self._indexed: dict[str, set[str]] = {}  # walletId -> its values in _by_identity
        self.answers: dict[str, TriggerAnswer] = {}  # reference -> its first 201
        self.grants: list[dict[str, Any]] = []
        self.granted: Counter[str] = Counter()  # reference -> rewards given
        self.trigger_requests: Counter[str] = Counter()  # reference -> requests that reached it
        self.repeats: Counter[str] = Counter()  # reference -> answered as the first time
        self.requests: list[RequestLog] = []
        self.emitted: list[dict[str, Any]] = []  # the SERVICE.TRIGGER notifications, in order
        self.on_emit: Callable[[str, bytes], None] | None = None  # (walletId, notification)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._event_ids = event_ids or (lambda: str(uuid.uuid4()))
        self._counters = {name: itertools.count(base + 1) for name, base in _ID_BASES.items()}
        self._record_file: IO[bytes] | None = record.open("ab") if record else None

    def __repr__(self) -> str:
        return f"AirState(client_id={self.client_id!r}, wallets={len(self.wallets)})"

    def _id(self, kind: str) -> str:
        return str(next(self._counters[kind]))

    # --- authentication -----------------------------------------------------------------------

    def auth_problem(
        self, target: bytes, body: bytes, client_id: str | None, sig: str | None
    ) -> str:
        """Why a request is not signed right, or "" when it is."""
        if not client_id or not sig:
            return f"{CLIENT_ID_HEADER} and {HASH_HEADER} are required"
        if not hmac.compare_digest(client_id.encode(), self._client_id):
            return "unknown client id"
        expected = auth_hash(target, body, self._secret)
        if not hmac.compare_digest(sig.strip().lower().encode(), expected.encode()):
            return "the request hash does not match"
        return ""

    # --- wallets ------------------------------------------------------------------------------

    def add_wallet(self, spec: Mapping[str, Any]) -> Wallet:
        """{"walletId": "216419576",
            "identities": [{"type": "CARD", "value": "2222222222222231"}, ...],
            "points": 0 | {"accountId": ..., "campaignId": ..., "current": 0, "lifetime": 0},
            "tier": {a tierMembershipEntity: tierMembershipId, tierId, balances, ...}}
        Only walletId and identities are required; the rest is optional."""
        wallet_id = spec.get("walletId")
        if not isinstance(wallet_id, str | int) or isinstance(wallet_id, bool) or not wallet_id:
            raise ValueError("a wallet needs a walletId")
        wallet = self.wallets.get(str(wallet_id)) or Wallet(str(wallet_id))
        identities = spec.get("identities")
        if not isinstance(identities, list) or not identities:
            raise ValueError(f"wallet {wallet_id}: identities must be a non-empty list")
        when = air.entity_date(self._clock())
        wallet.identities = {}
        for raw in identities:
            if not isinstance(raw, dict) or not _usable(raw):
                raise ValueError(f"wallet {wallet_id}: an identity needs a type and a value")
            identity = {
                "identityId": str(raw.get("identityId") or self._id("identity")),
                "walletId": wallet.wallet_id,
                "type": raw["type"],
                "friendlyName": None,
                "value": raw["value"],
                "safeValue": None,
                "secret": None,
                "dates": {"start": when, "end": None},
                "meta": [],
                "state": "DEFAULT",
                "status": "ACTIVE",
                "dateCreated": when,
                "lastUpdated": when,
                "mobileWallet": None,
            }
            wallet.identities[_identity_key(identity)] = identity
        points = spec.get("points")
        if points is not None:
            if isinstance(points, bool) or not isinstance(points, int | dict):
                raise ValueError(f"wallet {wallet_id}: points must be a number or an object")
            details = points if isinstance(points, dict) else {"current": points}
            current = details.get("current", 0)
            if isinstance(current, bool) or not isinstance(current, int):
                raise ValueError(f"wallet {wallet_id}: points.current must be a whole number")
            account = air.points_account(
                str(details.get("accountId") or self._id("account")),
                wallet.wallet_id,
                str(details.get("campaignId") or DEFAULT_POINTS_CAMPAIGN),
                current,
                int(details.get("lifetime", current)),
                self._clock(),
            )
            wallet.points_accounts = {account["accountId"]: account}
        tier = spec.get("tier")
        if tier is not None:
            if not isinstance(tier, dict) or not tier.get("tierId"):
                raise ValueError(f"wallet {wallet_id}: tier must be a tierMembershipEntity")
            wallet.tier = copy.deepcopy(tier)
        self.wallets[wallet.wallet_id] = wallet
        self._reindex(wallet.wallet_id)
        return wallet

    def learn(self, n: Notification) -> str | None:
        """What a notification says about its wallet; returns the walletId (None: none)."""
        wallet_id = n.wallet_id
        if wallet_id is None:
            return None
        if any(kind == "walletEntity" and op == "DELETE" for kind, op, _ in n.ops):
            self.wallets.pop(wallet_id, None)
            self._reindex(wallet_id)
            return wallet_id
        wallet = self.wallets.setdefault(wallet_id, Wallet(wallet_id))
        enrichment = [i for i in n.identities() if _usable(i)]
        if enrichment:  # the wallet's identities as they are now: all of them
            wallet.identities = {_identity_key(i): copy.deepcopy(i) for i in enrichment}
        for kind, op, value in n.ops:
            if kind == "walletIdentityEntity":
                if op == "DELETE":
                    wallet.identities.pop(_identity_key(value), None)
                elif op in ("CREATE", "UPDATE") and _usable(value):
                    wallet.identities[_identity_key(value)] = copy.deepcopy(value)
            elif kind == "walletAccountTransactionEntity":
                self._learn_account(wallet, value.get("account"))
            elif kind == "walletAccountEntity" and op != "DELETE":
                self._learn_account(wallet, value)
            elif kind == "tierMembershipEntity" and op != "DELETE":
                wallet.tier = copy.deepcopy(value)
            elif kind == "walletTransactionEntity" and op != "DELETE":
                self._learn_transaction(wallet, value)
        if n.event_name == air.EVENT_NAME:  # its wallet transaction is only in the response
            body = (n.doc.get("response") or {}).get("body")
            if isinstance(body, dict):
                self._learn_transaction(wallet, body)
        self._reindex(wallet_id)
        return wallet_id

    def _learn_account(self, wallet: Wallet, account: Any) -> None:
        if not isinstance(account, dict) or account.get("type") != air.POINTS_TYPE:
            return
        owner, account_id = account.get("walletId"), account.get("accountId")
        if account_id and (owner is None or str(owner) == wallet.wallet_id):
            wallet.points_accounts[str(account_id)] = copy.deepcopy(account)

    def _learn_transaction(self, wallet: Wallet, transaction: dict[str, Any]) -> None:
        transaction_id, owner = transaction.get("walletTransactionId"), transaction.get("walletId")
        if transaction_id and (owner is None or str(owner) == wallet.wallet_id):
            wallet.transactions[str(transaction_id)] = copy.deepcopy(transaction)

    def _reindex(self, wallet_id: str) -> None:
        """Index one wallet's identity values again (it changed or is gone): O(its
        identities), so loading 10,000 wallets is not 10,000 passes over all of them."""
        for value in self._indexed.pop(wallet_id, set()):
            if self._by_identity.get(value) == wallet_id:
                del self._by_identity[value]
        wallet = self.wallets.get(wallet_id)
        if wallet is None:
            return
        values = {identity["value"] for identity in wallet.identities.values()}
        self._by_identity.update(dict.fromkeys(values, wallet_id))
        self._indexed[wallet_id] = values

    def find(self, identity_value: str) -> tuple[Wallet, dict[str, Any]] | None:
        wallet_id = self._by_identity.get(identity_value)
        if wallet_id is None:
            return None
        wallet = self.wallets[wallet_id]
        for identity in wallet.identities.values():
            if identity.get("value") == identity_value:
                return wallet, identity
        return None

    def transaction(self, wallet_id: str, transaction_id: str) -> dict[str, Any] | None:
        wallet = self.wallets.get(wallet_id)
        return wallet.transactions.get(transaction_id) if wallet else None

    # --- rewards ------------------------------------------------------------------------------

    def trigger(self, body: bytes) -> TriggerAnswer:
        """POST /services/trigger after authentication and faults. A reference already
        granted is answered with its first 201, whatever the rest of this body says."""
        try:
            payload: Any = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return TriggerAnswer(400, error_body(400, f"the body is not JSON: {exc}"))
        problem, identity_value, reference, triggers = _trigger_request(payload)
        if problem:
            return TriggerAnswer(400, error_body(400, problem), reference)
        assert identity_value is not None and reference is not None
        self.trigger_requests[reference] += 1
        first = self.answers.get(reference)
        if first is not None and not self.faults.regrant_repeats:
            self.repeats[reference] += 1
            return TriggerAnswer(first.status, first.body, reference, repeat=True)
        found = self.find(identity_value)
        if found is None:
            message = f"no wallet has the identity {identity_value}"
            return TriggerAnswer(404, error_body(404, message, "WALLET_NOT_FOUND"), reference)
        unknown = [t for t in triggers if t not in self.triggers]
        if unknown:
            message = f"unknown trigger reference: {', '.join(unknown)}"
            return TriggerAnswer(400, error_body(400, message, "INVALID_TRIGGER"), reference)
        wallet, identity = found
        transaction = self._grant(wallet, identity, reference, triggers, body)
        answer = TriggerAnswer(201, orjson.dumps(transaction), reference, granted=True)
        self.answers.setdefault(reference, answer)
        return answer

    def _grant(
        self,
        wallet: Wallet,
        identity: dict[str, Any],
        reference: str,
        triggers: list[str],
        body: bytes,
    ) -> dict[str, Any]:
        now = self._clock()
        accounts: list[dict[str, Any]] = []
        points_given = 0
        coupons: list[str] = []
        for trigger in triggers:
            reward = self.triggers[trigger]
            accounts += self._reward_accounts(wallet, reward, now)
            if reward.kind is RewardKind.POINTS:
                points_given += reward.points
            elif reward.campaign_id is not None:
                coupons.append(reward.campaign_id)
        transaction = air.wallet_transaction(
            self._id("wallet_transaction"),
            wallet.wallet_id,
            reference,
            identity.get("identityId"),
            accounts,
            now,
        )
        wallet.transactions[transaction["walletTransactionId"]] = transaction
        notification = air.service_trigger(
            transaction,
            identities=list(wallet.identities.values()),
            request_body=body.decode(errors="replace"),
            event_id=self._event_ids(),
            when=now,
            client_id=self.client_id,
            tier=wallet.tier,
            tier_transaction_id=self._id("tier_transaction") if wallet.tier else None,
        )
        self.granted[reference] += 1
        self._record(
            {
                "reference": reference,
                "walletId": wallet.wallet_id,
                "identityValue": identity.get("value"),
                "triggers": triggers,
                "walletTransactionId": transaction["walletTransactionId"],
                "points": points_given,
                "coupons": coupons,
                "pointsBalance": wallet.points_balance(),
                "eesEventId": notification["headers"]["eesEventId"],
                "grantedAt": air.entity_date(now),
            }
        )
        self.emitted.append(notification)
        if self.on_emit is not None:
            self.on_emit(wallet.wallet_id, air.dumps(notification))
        return transaction

    def _reward_accounts(
        self, wallet: Wallet, reward: Reward, now: datetime
    ) -> list[dict[str, Any]]:
        """One trigger's account-transactions: the behavioural action's CREATE and REDEEM,
        then the POINTS CREDIT or the ECOUPON CREATE."""
        value = reward.points if reward.kind is RewardKind.POINTS else 0
        action_id = self._id("account")
        empty = {"available": 0, "refundable": 0}
        accounts = []
        for event, status, amount in (("CREATE", "ACTIVE", 0), ("REDEEM", "USED", value)):
            account = air.action_account(
                action_id, wallet.wallet_id, reward.action_campaign_id, status, now
            )
            accounts.append(
                air.account_transaction(
                    self._id("account_transaction"), account, event, amount, empty, empty, now
                )
            )
        if reward.kind is RewardKind.POINTS:
            accounts.append(self._credit(wallet, reward.points, now))
        else:
            assert reward.campaign_id is not None
            coupon = air.coupon_account(
                self._id("account"), wallet.wallet_id, reward.campaign_id, now
            )
            accounts.append(
                air.account_transaction(
                    self._id("account_transaction"), coupon, "CREATE", 0, empty, empty, now
                )
            )
        return accounts

    def _record(self, grant: dict[str, Any]) -> None:
        self.grants.append(grant)
        if self._record_file is not None:
            self._record_file.write(orjson.dumps(grant) + b"\n")
            self._record_file.flush()

    def _credit(self, wallet: Wallet, points: int, now: datetime) -> dict[str, Any]:
        """Credit the wallet's (first) POINTS account; one is opened if it has none."""
        if not wallet.points_accounts:
            account = air.points_account(
                self._id("account"), wallet.wallet_id, DEFAULT_POINTS_CAMPAIGN, 0, 0, now
            )
            wallet.points_accounts[account["accountId"]] = account
        account_id, known = next(iter(wallet.points_accounts.items()))
        current, lifetime = _balance(known, "current"), _balance(known, "lifetime")
        after = copy.deepcopy(known)
        balances = dict(after.get("balances") or {})
        usable = _balance(known, "usable") if "usable" in balances else current
        balances.update(
            current=current + points, usable=usable + points, lifetime=lifetime + points
        )
        after["balances"] = balances
        after["lastUpdated"] = air.entity_date(now)
        wallet.points_accounts[account_id] = after
        return air.account_transaction(
            self._id("account_transaction"),
            after,
            "CREDIT",
            points,
            {"current": current, "lifetime": lifetime},
            {"current": current + points, "lifetime": lifetime + points},
            now,
        )

    # --- records ------------------------------------------------------------------------------

    def granted_json(self) -> dict[str, Any]:
        return {
            "grants": self.grants,
            "granted": dict(self.granted),
            "requests": dict(self.trigger_requests),
            "repeats": dict(self.repeats),
        }

    def reset(self) -> None:
        """Faults, logs and the record of grants; wallets, their balances and the answers
        to references already granted stay (AIR does not forget them either)."""
        self.faults = Faults()
        self.grants.clear()
        self.granted.clear()
        self.trigger_requests.clear()
        self.repeats.clear()
        self.requests.clear()
        self.emitted.clear()

    def close(self) -> None:
        if self._record_file is not None:
            self._record_file.close()
            self._record_file = None


def _trigger_request(payload: Any) -> tuple[str, str | None, str | None, list[str]]:
    """(problem, identityValue, reference, trigger references) of a trigger body."""
    if not isinstance(payload, dict):
        return "the body must be a JSON object", None, None, []
    transaction = payload.get("walletTransaction")
    reference = transaction.get("reference") if isinstance(transaction, dict) else None
    if not isinstance(reference, str) or not reference:
        return "walletTransaction.reference is required", None, None, []
    identity = payload.get("identityValue")
    if not isinstance(identity, str) or not identity:
        return "identityValue is required", None, reference, []
    triggers = payload.get("triggers")
    if not isinstance(triggers, list) or not triggers:
        return "triggers must be a non-empty list", None, reference, []
    references = [t.get("reference") if isinstance(t, dict) else None for t in triggers]
    if not all(isinstance(r, str) and r for r in references):
        return "every trigger needs a reference", None, reference, []
    return "", identity, reference, [r for r in references if isinstance(r, str)]


# --- emission ---------------------------------------------------------------------------------


class Refused(Exception):
    """A target refused a notification for good (a 4xx from a webhook): not retried."""


class Target(Protocol):
    name: str

    async def send(self, key: bytes, value: bytes) -> None:
        """Deliver, or raise: `Refused` drops the notification, anything else is retried."""

    async def close(self) -> None: ...


class KafkaTarget:
    """Produce to a topic, keyed by walletId, acks=all (testkit.kafka's producer)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.name = f"kafka:{topic}"
        self._bootstrap, self._topic = bootstrap, topic
        self._producer: AIOKafkaProducer | None = None

    async def send(self, key: bytes, value: bytes) -> None:
        if self._producer is None:
            candidate = producer(self._bootstrap, enable_idempotence=True)
            try:
                await candidate.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await candidate.stop()
                raise
            self._producer = candidate
        await self._producer.send_and_wait(self._topic, key=key, value=value)

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


class WebhookTarget:
    """POST each notification to a URL (the AIR webhook edge), with an X-Auth-Token."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 10.0) -> None:
        self.name = url
        self._url = url
        headers = {"Content-Type": "application/json"}
        if token:
            headers["X-Auth-Token"] = token
        self._client = httpx.AsyncClient(timeout=timeout, headers=headers)

    def __repr__(self) -> str:
        return f"WebhookTarget({self._url!r})"

    async def send(self, key: bytes, value: bytes) -> None:
        response = await self._client.post(self._url, content=value)
        status = response.status_code
        if 200 <= status < 300:
            return
        if 400 <= status < 500 and status not in (408, 429):
            raise Refused(f"{self._url} answered {status}: {response.text[:300]}")
        raise RuntimeError(f"{self._url} answered {status}")

    async def close(self) -> None:
        await self._client.aclose()


class Emitter:
    """Delivers notifications to every target, one at a time in grant order (so a wallet's
    notifications stay in order), each retried with capped backoff until it is taken."""

    def __init__(self, targets: Sequence[Target], *, base: float = 0.2, cap: float = 5.0) -> None:
        self.targets = list(targets)
        self._queue: asyncio.Queue[tuple[bytes, bytes]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._base, self._cap = base, cap
        self.delivered = 0
        self.refused: list[str] = []

    def put(self, wallet_id: str, notification: bytes) -> None:
        if self.targets:
            self._queue.put_nowait((wallet_id.encode(), notification))

    async def start(self) -> None:
        if self.targets and self._task is None:
            self._task = asyncio.create_task(self._run(), name="local-air-emitter")

    async def drain(self) -> None:
        """Until every notification put so far is delivered (or refused)."""
        await self._queue.join()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for target in self.targets:
            with contextlib.suppress(Exception):
                await target.close()

    async def _run(self) -> None:
        while True:
            key, value = await self._queue.get()
            try:
                for target in self.targets:
                    await self._deliver(target, key, value)
                self.delivered += 1
            finally:
                self._queue.task_done()

    async def _deliver(self, target: Target, key: bytes, value: bytes) -> None:
        for attempt in itertools.count(1):
            try:
                await target.send(key, value)
                return
            except Refused as refused:
                log.error("local AIR: %s refused a notification: %s", target.name, refused)
                self.refused.append(str(refused))
                return
            except Exception as exc:
                delay = backoff_delay(attempt, base=self._base, cap=self._cap)
                log.warning(
                    "local AIR: emitting to %s failed (%s); retry in %.2fs",
                    target.name,
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)


# --- HTTP -------------------------------------------------------------------------------------

STATE_KEY = web.AppKey("air_state", AirState)
EMITTER_KEY = web.AppKey("air_emitter", Emitter)


def _abort(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()
    raise asyncio.CancelledError  # nothing more to write to a dead connection


async def _guard(request: web.Request, body: bytes, entry: RequestLog) -> web.Response | None:
    """The faults and checks every API request meets first; None: go on. A refusal is
    logged in `entry` with its status."""
    refused = await _refusal(request, body, entry)
    if refused is not None:
        entry.status = refused.status
    return refused


async def _refusal(request: web.Request, body: bytes, entry: RequestLog) -> web.Response | None:
    state = request.app[STATE_KEY]
    faults = state.faults
    if faults.delay_seconds > 0:
        await asyncio.sleep(faults.delay_seconds)
    if faults.drop_next > 0:
        faults.drop_next -= 1
        entry.status = -1
        _abort(request)
    if request.method == "POST" and request.content_length is None:
        return _error(411, "a Content-Length is required (no chunked bodies)")
    problem = state.auth_problem(
        request.raw_path.encode(),
        body,
        request.headers.get(CLIENT_ID_HEADER),
        request.headers.get(HASH_HEADER),
    )
    if problem:
        return _error(401, f"authentication failed: {problem}")
    if faults.rate_limit_next > 0:
        faults.rate_limit_next -= 1
        headers = {}
        if faults.retry_after is not None:
            headers["Retry-After"] = f"{faults.retry_after:g}"
        return _error(429, "rate limit exceeded", **headers)
    if faults.server_error_next > 0:
        faults.server_error_next -= 1
        return _error(faults.server_error_status, "injected server error")
    return None


def _log(request: web.Request) -> RequestLog:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    port = peer[1] if isinstance(peer, tuple) and len(peer) >= 2 else None
    entry = RequestLog(request.method, request.path, arrival=time.time(), client_port=port)
    request.app[STATE_KEY].requests.append(entry)
    return entry


async def _trigger(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    entry = _log(request)
    body = await request.read()
    refused = await _guard(request, body, entry)
    if refused is not None:
        return refused
    answer = state.trigger(body)
    entry.status, entry.reference = answer.status, answer.reference
    entry.granted, entry.repeat = answer.granted, answer.repeat
    faults = state.faults
    if answer.granted and faults.drop_after_accept_next > 0:
        faults.drop_after_accept_next -= 1
        entry.status, entry.dropped_after_accept = -1, True
        _abort(request)
    if answer.granted and faults.delay_after_accept_seconds > 0:
        await asyncio.sleep(faults.delay_after_accept_seconds)
    return web.Response(status=answer.status, body=answer.body, content_type="application/json")


async def _wallet_transaction(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    entry = _log(request)
    body = await request.read()
    refused = await _guard(request, body, entry)
    if refused is not None:
        return refused
    wallet_id = request.match_info["wallet_id"]
    transaction_id = request.match_info["transaction_id"]
    found = state.transaction(wallet_id, transaction_id)
    if found is None:
        entry.status = 404
        message = f"wallet {wallet_id} has no transaction {transaction_id}"
        return _error(404, message, "WALLET_TRANSACTION_NOT_FOUND")
    entry.status = 200
    return web.Response(status=200, body=orjson.dumps(found), content_type="application/json")


@web.middleware
async def _json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """aiohttp's own 404/405 as AIR-shaped JSON errors."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.reason)


def _since(request: web.Request, items: list[Any]) -> list[Any] | web.Response:
    try:
        since = int(request.query.get("since", "0"))
    except ValueError as exc:
        return _error(400, str(exc))
    if since < 0:
        return _error(400, "since must not be negative")
    return items[since:]


async def _mock_faults(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    try:
        changes = await request.json()
        if not isinstance(changes, dict):
            raise ValueError("faults must be a JSON object")
        state.faults.update(changes)
    except ValueError as exc:
        return _error(400, str(exc))
    return web.json_response(state.faults.as_json())


async def _mock_reset(request: web.Request) -> web.Response:
    request.app[STATE_KEY].reset()
    return web.json_response({"reset": True})


async def _mock_notifications(request: web.Request) -> web.Response:
    """One AIR notification (a JSON object) or an array of them, learnt in order."""
    state = request.app[STATE_KEY]
    raw = await request.read()
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _error(400, f"not JSON: {exc}")
    documents = payload if isinstance(payload, list) else [payload]
    parsed = [parse(orjson.dumps(d)) for d in documents]
    for number, notification in enumerate(parsed):
        if isinstance(notification, Rejection):
            return _error(400, f"notification {number}: {notification.reason}")
    learnt = [state.learn(n) for n in parsed if isinstance(n, Notification)]
    return web.json_response({"learnt": len(parsed), "wallets": [w for w in learnt if w]})


async def _mock_add_wallets(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    try:
        payload = await request.json()
        specs = payload if isinstance(payload, list) else [payload]
        if not all(isinstance(s, dict) for s in specs):
            raise ValueError("wallets must be JSON objects")
        wallets = [state.add_wallet(spec) for spec in specs]
    except ValueError as exc:
        return _error(400, str(exc))
    return web.json_response({"wallets": [w.summary() for w in wallets]})


async def _mock_wallets(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    return web.json_response({"wallets": [w.summary() for w in state.wallets.values()]})


async def _mock_add_triggers(request: web.Request) -> web.Response:
    """{"REFERENCE": "points:5000", ...}: added to (or replacing) the known triggers."""
    state = request.app[STATE_KEY]
    try:
        payload = await request.json()
        if not isinstance(payload, dict) or not all(isinstance(v, str) for v in payload.values()):
            raise ValueError("triggers must be a JSON object of reference -> spec")
        state.triggers.update(triggers_from(payload))
    except ValueError as exc:
        return _error(400, str(exc))
    return web.json_response({ref: reward.spec for ref, reward in state.triggers.items()})


async def _mock_triggers(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    return web.json_response({ref: reward.spec for ref, reward in state.triggers.items()})


async def _mock_granted(request: web.Request) -> web.Response:
    """{"grants": [the JSONL records], "granted": {reference: rewards},
    "requests": {reference: trigger requests that got past signature and faults},
    "repeats": {reference: requests answered as the first}}."""
    return web.json_response(request.app[STATE_KEY].granted_json())


async def _mock_requests(request: web.Request) -> web.Response:
    found = _since(request, request.app[STATE_KEY].requests)
    if isinstance(found, web.Response):
        return found
    return web.json_response({"requests": [asdict(r) for r in found]})


async def _mock_emitted(request: web.Request) -> web.Response:
    found = _since(request, request.app[STATE_KEY].emitted)
    if isinstance(found, web.Response):
        return found
    return web.json_response({"notifications": found})


async def _mock_health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _add_routes(app: web.Application, prefix: str) -> None:
    """AIR's routes under the API prefix; the _mock routes at the root."""
    app.router.add_post(prefix + TRIGGER_PATH, _trigger)
    app.router.add_get(prefix + WALLET_TRANSACTION_ROUTE, _wallet_transaction)
    for path, handler in (
        ("/_mock/faults", _mock_faults),
        ("/_mock/reset", _mock_reset),
        ("/_mock/notifications", _mock_notifications),
        ("/_mock/wallets", _mock_add_wallets),
        ("/_mock/triggers", _mock_add_triggers),
    ):
        app.router.add_post(path, handler)
    for path, handler in (
        ("/_mock/wallets", _mock_wallets),
        ("/_mock/triggers", _mock_triggers),
        ("/_mock/granted", _mock_granted),
        ("/_mock/requests", _mock_requests),
        ("/_mock/emitted", _mock_emitted),
        ("/_mock/health", _mock_health),
    ):
        app.router.add_get(path, handler)


def create_app(
    client_id: str,
    client_secret: str,
    *,
    triggers: Mapping[str, str | Reward] | Iterable[str] = (),
    triggers_file: str | Path | None = None,
    wallets: Iterable[Mapping[str, Any]] = (),
    wallets_file: str | Path | None = None,
    record: str | Path | None = None,
    faults: Faults | None = None,
    targets: Sequence[Target] = (),
    prefix: str = "",
    clock: Callable[[], datetime] | None = None,
    event_ids: Callable[[], str] | None = None,
) -> web.Application:
    """The local AIR as an aiohttp app. `prefix`: an API prefix such as "/2.0" (the _mock
    routes stay at the root); `record`: a JSON-lines file of grants; `targets`: where its
    SERVICE.TRIGGER notifications go."""
    known = load_triggers(triggers_file) if triggers_file else {}
    known.update(triggers_from(triggers))
    state = AirState(
        client_id,
        client_secret,
        triggers=known,
        faults=faults,
        record=Path(record) if record else None,
        clock=clock,
        event_ids=event_ids,
    )
    try:
        for spec in [*(load_wallets(wallets_file) if wallets_file else []), *wallets]:
            state.add_wallet(spec)
    except BaseException:
        state.close()
        raise
    emitter = Emitter(targets)
    state.on_emit = emitter.put
    app = web.Application(middlewares=[_json_errors])
    app[STATE_KEY] = state
    app[EMITTER_KEY] = emitter
    _add_routes(app, "/" + prefix.strip("/") if prefix.strip("/") else "")

    async def _start(_: web.Application) -> None:
        await emitter.start()

    async def _close(_: web.Application) -> None:
        await emitter.stop()
        state.close()

    app.on_startup.append(_start)
    app.on_cleanup.append(_close)
    return app


def targets_for(
    *,
    emit_bootstrap: str | None = None,
    emit_topic: str | None = None,
    emit_url: str | None = None,
    emit_token: str | None = None,
) -> list[Target]:
    """The emission targets the options name: a Kafka topic and/or a webhook URL."""
    if bool(emit_bootstrap) != bool(emit_topic):
        raise ValueError("emitting to Kafka needs both a bootstrap server and a topic")
    found: list[Target] = []
    if emit_bootstrap and emit_topic:
        found.append(KafkaTarget(emit_bootstrap, emit_topic))
    if emit_url:
        found.append(WebhookTarget(emit_url, emit_token))
    return found


class LocalAir(LoopbackServer):
    """The local AIR on 127.0.0.1 and a free port: `async with LocalAir(...) as air_`."""

    def __init__(
        self,
        client_id: str = "local-air-client",
        client_secret: str = "local-air-secret",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        **options: Any,
    ) -> None:
        """`options`: those of `create_app`."""
        super().__init__(create_app(client_id, client_secret, **options), host, port)
        self._prefix = str(options.get("prefix", "")).strip("/")

    def __repr__(self) -> str:
        return f"LocalAir({self.base_url!r})"

    @property
    def state(self) -> AirState:
        return self.app[STATE_KEY]

    @property
    def faults(self) -> Faults:
        return self.state.faults

    @property
    def emitter(self) -> Emitter:
        return self.app[EMITTER_KEY]

    @property
    def base_url(self) -> str:
        """The wallet domain a client is given (the API prefix included)."""
        return self.root_url + (f"/{self._prefix}" if self._prefix else "")

    async def drain(self) -> None:
        """Until every notification emitted so far reached its targets."""
        await self.emitter.drain()

    async def start(self) -> str:
        """Listen; the wallet domain (`base_url`) clients use."""
        await super().start()
        return self.base_url


async def run_local_air(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    client_id: str,
    client_secret: str,
    wallets_file: str | Path | None = None,
    triggers: Mapping[str, str | Reward] | Iterable[str] = DEFAULT_TRIGGERS,
    triggers_file: str | Path | None = None,
    record: str | Path | None = None,
    emit_bootstrap: str | None = None,
    emit_topic: str | None = None,
    emit_url: str | None = None,
    emit_token: str | None = None,
    prefix: str = "",
    faults: Faults | None = None,
) -> None:
    """Serve until cancelled (`airmp mock-air` runs this with asyncio.run)."""
    targets = targets_for(
        emit_bootstrap=emit_bootstrap,
        emit_topic=emit_topic,
        emit_url=emit_url,
        emit_token=emit_token,
    )
    local = LocalAir(
        client_id,
        client_secret,
        host=host,
        port=port,
        wallets_file=wallets_file,
        triggers=triggers,
        triggers_file=triggers_file,
        record=record,
        targets=targets,
        prefix=prefix,
        faults=faults,
    )
    url = await local.start()
    emits = ", ".join(t.name for t in targets) or "nowhere"
    # Port 0 picks a free port: this line says which; the secret is never printed.
    print(f"mock AIR listening on {url} (notifications to {emits})", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await local.stop()
