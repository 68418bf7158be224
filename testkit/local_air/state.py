"""The local AIR's state: wallets, triggers, grants; synchronous, so one request's
check-and-grant is atomic."""

from __future__ import annotations

import copy
import hmac
import itertools
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from mappers.reading import Notification
from sinks.air import CLIENT_ID_HEADER, HASH_HEADER, auth_hash
from testkit import air_notifications as air
from testkit.local_air.faults import Faults, RequestLog, TriggerAnswer, error_body
from testkit.local_air.rewards import Reward, RewardKind
from testkit.local_air.wallets import Wallet, balance, identity_key, usable

log = logging.getLogger(__name__)

DEFAULT_POINTS_CAMPAIGN = "100620987"
# Our ids are numbers in ranges of their own, so they never collide with learnt ones in tests.
_ID_BASES = {
    "wallet_transaction": 600_000_000,
    "account_transaction": 9_100_000_000,
    "account": 4_500_000_000,
    "tier_transaction": 500_000,
    "identity": 190_000_000,
}


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
            if not isinstance(raw, dict) or not usable(raw):
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
            wallet.identities[identity_key(identity)] = identity
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
        enrichment = [i for i in n.identities() if usable(i)]
        if enrichment:  # the wallet's identities as they are now: all of them
            wallet.identities = {identity_key(i): copy.deepcopy(i) for i in enrichment}
        for kind, op, value in n.ops:
            if kind == "walletIdentityEntity":
                if op == "DELETE":
                    wallet.identities.pop(identity_key(value), None)
                elif op in ("CREATE", "UPDATE") and usable(value):
                    wallet.identities[identity_key(value)] = copy.deepcopy(value)
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
        current, lifetime = balance(known, "current"), balance(known, "lifetime")
        after = copy.deepcopy(known)
        balances = dict(after.get("balances") or {})
        usable = balance(known, "usable") if "usable" in balances else current
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
