"""The input of a round, built from the seed alone: the project's wallet journeys
(testkit/journeys.py: joins, purchases, refunds, tiers, AIR's duplicate deliveries, some
wallets leaving), plus late events and bad input at known positions; and reward requests
for the reward topic.

- late: one of the wallet's events arrives a few places later than its eventDate says
  (newer events of the wallet come first);
- re-delivered: AIR delivers one of the wallet's events again, later (same eesEventId),
  sometimes after the wallet left;
- keys: each wallet is produced with one key, its walletId or its card number (as the
  README asks of producers);
- bad input: not JSON, a JSON array, no eventName, no wallet anywhere, an empty body, each
  distinct bytes, spread evenly through the stream.

Reward requests (`Load.rewards`, a stream of their own for the reward topic, drawn from a
random generator of their own so that a seed's notifications stay what they were): several
per customer, for customers among the round's wallets (the local AIR knows them:
`Load.air_wallets`), each customer's in order;
- refused by AIR: an identity no wallet has (404), a trigger AIR does not know (400);
- unreadable: no reward request at all (dead-lettered before AIR is asked);
- re-delivered: the same request (same bytes, same reference) produced again, right after
  it (as a producer's retry) or a little later.

Routes (`Message.route`, drawn from generators of their own, so a seed's requests and events
stay what they were): a third of the wallets (and of the bad inputs) are posted to the
workers' AIR webhook edge, as AIR would, instead of produced to the input topic; of the
grantable reward requests, some come in as the Firehose membership change an mParticle
audience output sends (one profile entering the audience, now and then beside a hashed
copy of its identity and another audience's delete or attribute update, both ignored) and
some through Eagle Eye Connect's generic inbound route (with a `walletTransaction`
reference or without: then derived from the request). Their references are what the edge
derives (mappers/firehose.py, mappers/connect.py). Refused and unreadable requests stay on
the reward topic: the dead letter's bytes must be known in advance.

The large audience (`build(audience=N)`): one Firehose membership change of N profiles
entering one audience, as mParticle sends an audience of real size, for a block of
customers of its own (the local AIR knows them too), and the same request again later (same
id, same bytes: mParticle re-sending after an answer it never got). The edge puts it on
Kafka once and an agent fans it out; each derived reference (user, audience, action
reference) must be granted once, re-delivery or not.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from mappers import connect, firehose
from mappers.rewards import RewardRequest
from mappers.vocabulary import FIREHOSE_IDENTITY_TYPES
from testkit import firehose as firehose_kit
from testkit import journeys

FIRST_WALLET = 800_000_000
LATE_SHARE = 0.08  # of wallets with one event moved later
REDELIVERED_SHARE = 0.08  # of wallets with one event delivered again later
BAD_KINDS = ("not_json", "json_array", "no_event_name", "no_wallet", "empty_body")
_DATE = "2025-03-01T10:00:00.000000"

# The SBA triggers the local AIR knows (`airmp mock-air --trigger`), and one it does not.
REWARD_TRIGGERS = ("WELCOME5000=points:5000", "BONUS250=points:250", "COUPON10=ecoupon:100641679")
UNKNOWN_TRIGGER = "CHAOS-NO-SUCH-TRIGGER"
REWARD = "reward"
REWARD_REDELIVERED = "reward_redelivered"
UNKNOWN_IDENTITY = "unknown_identity"  # AIR: 404
UNKNOWN_TRIGGER_KIND = "unknown_trigger"  # AIR: 400
UNREADABLE_REWARD = "unreadable_reward"
REFUSED_KINDS = (UNKNOWN_IDENTITY, UNKNOWN_TRIGGER_KIND, UNREADABLE_REWARD)
REWARDS_PER_CUSTOMER = (2, 6)
TWO_TRIGGER_SHARE = 0.15  # of requests asking for two triggers at once
REWARD_REDELIVERED_SHARE = 0.06  # of grantable requests produced twice
_REWARD_AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
AUDIENCE = "audience"  # the large membership change
AUDIENCE_REDELIVERED = "audience_redelivered"  # ... sent again, later
FIRST_AUDIENCE_WALLET = 900_000_000  # the large audience's customers: a block of their own
AUDIENCE_TRIGGER = "BONUS250"  # the large audience's action reference
AUDIENCE_ID = 7_700_001
GRANTABLE_KINDS = (REWARD, REWARD_REDELIVERED, AUDIENCE, AUDIENCE_REDELIVERED)

# Routes: produced to Kafka, or posted to one of the workers' HTTP edges.
KAFKA = "kafka"
WEBHOOK = "webhook"  # POST /air/notifications (or /out/mparticle/{connectorId})
FIREHOSE = "firehose"  # POST /mparticle/firehose
CONNECT = "connect"  # POST /in/mparticle/{connectorId}
EDGE_ROUTES = (WEBHOOK, FIREHOSE, CONNECT)
WEBHOOK_SHARE = 1 / 3  # of wallets (and bad inputs) posted to the AIR webhook
FIREHOSE_SHARE = 0.3  # of grantable reward requests sent as Firehose membership changes
CONNECT_SHARE = 0.15  # ... and through Eagle Eye Connect's inbound route
# The settings the workers run with, which the edge-bound requests carry or rely on.
MPARTICLE_IDENTITY_TYPE = "other"  # AIRMP_MPARTICLE_IDENTITY_TYPE
FIREHOSE_IDENTITY = FIREHOSE_IDENTITY_TYPES[MPARTICLE_IDENTITY_TYPE]
CONNECTOR_ID, EXTERNAL_KEY = firehose_kit.CONNECTOR_ID, firehose_kit.EXTERNAL_KEY
_FIREHOSE_IDS = uuid.UUID("9f3c2a1e-7b4d-4e5f-8a6b-1c2d3e4f5a6b")  # request ids from the seed


@dataclass(frozen=True)
class Message:
    key: bytes
    value: bytes
    kind: str  # "journey", "late", "redelivered", one of BAD_KINDS; or a reward kind
    wallet: str = ""  # "" for bad input (and a reward for no wallet)
    reference: str = ""  # a reward request's reference
    route: str = KAFKA  # or one of EDGE_ROUTES: value is then the HTTP body
    references: tuple[str, ...] = ()  # a large membership change's, in its profiles' order

    @property
    def asks(self) -> tuple[str, ...]:
        """The references the message asks AIR for (many for a large membership change)."""
        return self.references or ((self.reference,) if self.reference else ())

    @property
    def lane(self) -> str:
        """What must arrive in order: a wallet's notifications, a customer's requests."""
        return self.wallet or self.key.decode()


@dataclass(frozen=True)
class Load:
    seed: int
    wallets: int
    messages: tuple[Message, ...]  # in production order
    rewards: tuple[Message, ...] = ()  # the reward topic's, in production order
    customers: tuple[int, ...] = ()  # the wallets the rewards are for
    audience: int = 0  # profiles in the large membership change (see the module)

    @property
    def good(self) -> list[bytes]:
        return [m.value for m in self.messages if m.kind not in BAD_KINDS]

    @property
    def bad(self) -> list[bytes]:
        return [m.value for m in self.messages if m.kind in BAD_KINDS]

    @property
    def bad_positions(self) -> list[int]:
        return [i for i, m in enumerate(self.messages) if m.kind in BAD_KINDS]

    def count(self, kind: str) -> int:
        return sum(1 for m in (*self.messages, *self.rewards) if m.kind == kind)

    def routed(self, route: str) -> int:
        return sum(1 for m in (*self.messages, *self.rewards) if m.route == route)

    @property
    def grantable(self) -> list[str]:
        """The references AIR can grant, each once, in production order."""
        found = (r for m in self.rewards if m.kind in GRANTABLE_KINDS for r in m.asks)
        return list(dict.fromkeys(found))

    @property
    def refused(self) -> list[bytes]:
        """The reward-topic messages that must end on the dead-letter topic (stage reward)."""
        return [m.value for m in self.rewards if m.kind in REFUSED_KINDS]

    def air_wallets(self) -> list[dict[str, Any]]:
        """The local AIR's wallets file (`airmp mock-air --wallets`): the customers, and
        the large audience's."""
        return [
            {"walletId": str(n), "identities": [{"type": "CARD", "value": card(n)}], "points": 0}
            for n in (*self.customers, *audience_customers(self.audience))
        ]


def audience_customers(size: int) -> range:
    return range(FIRST_AUDIENCE_WALLET, FIRST_AUDIENCE_WALLET + size)


def card(wallet: int) -> str:
    """The wallet's card number, as testkit.journeys writes it: its AIR identity."""
    return f"6301{wallet:012d}"


def build(
    seed: int,
    wallets: int,
    min_events: int = 0,
    bad_inputs: int = 10,
    rewards: int = 0,
    audience: int = 0,
) -> Load:
    """At least `wallets` wallets and `min_events` notifications (more wallets if needed);
    about `rewards` grantable reward requests (none for 0), and among them a membership
    change of `audience` profiles (none for 0), sent twice."""
    rng = random.Random(f"chaos-load/{seed}")
    queues: list[list[Message]] = []
    total = 0
    while len(queues) < wallets or total < min_events:
        queue = _wallet(FIRST_WALLET + len(queues), rng, seed)
        queues.append(queue)
        total += len(queue)
    made = len(queues)
    stream = journeys.interleave(queues, rng)
    bad = [_bad_input(k) for k in range(bad_inputs)]
    out: list[Message] = []
    every = len(stream) / (len(bad) + 1)
    positions = {round(every * (k + 1)): m for k, m in enumerate(bad)}
    for i, message in enumerate(stream):
        if i in positions:
            out.append(positions[i])
        out.append(message)
    out = _webhook_routes(seed, made, out)
    if rewards <= 0:
        return Load(seed=seed, wallets=made, messages=tuple(out))
    customers, stream_of_rewards = _rewards(seed, made, rewards)
    if audience > 0:
        stream_of_rewards = _with_audience(seed, audience, stream_of_rewards)
    return Load(seed, made, tuple(out), tuple(stream_of_rewards), tuple(customers), audience)


def _webhook_routes(seed: int, wallets: int, messages: list[Message]) -> list[Message]:
    """A third of the wallets, whole, and of the bad inputs, to the AIR webhook: one path
    per wallet, so that its order is the order it is sent in."""
    rng = random.Random(f"chaos-webhook/{seed}")
    posted = {str(FIRST_WALLET + k) for k in range(wallets) if rng.random() < WEBHOOK_SHARE}
    bad = {m.key for m in messages if m.kind in BAD_KINDS and rng.random() < WEBHOOK_SHARE}
    return [
        replace(m, route=WEBHOOK) if m.wallet in posted or m.key in bad else m for m in messages
    ]


def _wallet(number: int, rng: random.Random, seed: int) -> list[Message]:
    wallet = str(number)
    events = journeys.wallet_journey(number, rng, seed)
    key = wallet.encode() if rng.random() < 0.5 else card(number).encode()
    messages = [Message(key, e, "journey", wallet) for e in events]
    left = orjson.loads(events[-1])["headers"]["eventName"] == journeys.LEAVE[0]
    end = len(messages) - 1 if left else len(messages)  # a late event stays before LEAVE
    chance = rng.random()
    if chance < LATE_SHARE:
        index = rng.randrange(1, end - 2)
        late = messages.pop(index)
        target = min(index + rng.randint(2, 6), end - 1)
        messages.insert(target, Message(key, late.value, "late", wallet))
    elif chance < LATE_SHARE + REDELIVERED_SHARE:
        index = rng.randrange(0, len(messages) - 2)
        target = rng.randint(index + 2, len(messages))  # may be after the wallet left
        messages.insert(target, Message(key, messages[index].value, "redelivered", wallet))
    return messages


def _bad_input(k: int) -> Message:
    kind = BAD_KINDS[k % len(BAD_KINDS)]
    event_id = f"chaos-bad-{k}"
    value: bytes
    if kind == "not_json":
        # A notification cut short: distinct bytes per k, as the verdict compares bytes.
        value = b'{"headers": {"eventName": "POSCONNECT.WALLET.SETTLE", "eesEventId": "%b"' % (
            event_id.encode()
        )
    elif kind == "json_array":
        value = orjson.dumps([{"headers": {"eventName": "SERVICE.WALLET.CREATE", "n": k}}])
    elif kind == "no_event_name":
        value = orjson.dumps({"headers": {"eesEventId": event_id, "eventDate": _DATE}})
    elif kind == "no_wallet":
        headers = {"eventName": "TIER.MEMBERSHIP.MOVE", "eesEventId": event_id, "eventDate": _DATE}
        value = orjson.dumps({"headers": headers, "atomicOperations": [], "enrichmentData": []})
    elif k < len(BAD_KINDS):
        value = b""
    else:
        # Only one empty body can be told apart by its bytes; later ones are whitespace.
        value = b" " * (k // len(BAD_KINDS))
    return Message(f"bad-{k}".encode(), value, kind)


def _rewards(seed: int, wallets: int, wanted: int) -> tuple[list[int], list[Message]]:
    """The customers and the reward topic's stream (see the module)."""
    rng = random.Random(f"chaos-rewards/{seed}")
    low, high = REWARDS_PER_CUSTOMER
    count = max(2, min(wallets, round(wanted * 2 / (low + high))))
    customers = sorted(rng.sample(range(FIRST_WALLET, FIRST_WALLET + wallets), count))
    known = [spec.partition("=")[0] for spec in REWARD_TRIGGERS]
    queues: list[list[Message]] = []
    n = 0
    for customer in customers:
        queue: list[Message] = []
        for _ in range(rng.randint(low, high)):
            extra = rng.sample(known, 2) if rng.random() < TWO_TRIGGER_SHARE else []
            triggers = tuple(extra) or (rng.choice(known),)
            queue.append(_reward(seed, n, card(customer), triggers, REWARD, str(customer), rng))
            n += 1
        queues.append(queue)
    stream = _edge_routes(seed, journeys.interleave(queues, rng))
    picked = rng.sample(range(len(stream)), round(len(stream) * REWARD_REDELIVERED_SHARE))
    for index in sorted(picked, reverse=True):  # from the end: earlier indexes stay valid
        first = stream[index]
        again = replace(first, kind=REWARD_REDELIVERED)  # an edge's: mParticle sending again
        later = index + 1 if rng.random() < 0.5 else min(index + rng.randint(2, 50), len(stream))
        stream.insert(later, again)
    refused: list[Message] = []
    for k in range(max(2, wanted // 60)):
        stranger = f"6399{k:012d}"  # no wallet has it: AIR answers 404
        triggers = (rng.choice(known),)
        refused.append(_reward(seed, n, stranger, triggers, UNKNOWN_IDENTITY, "", rng))
        n += 1
        customer = rng.choice(customers)  # a trigger AIR does not know: 400
        refused.append(
            _reward(seed, n, card(customer), (UNKNOWN_TRIGGER,), UNKNOWN_TRIGGER_KIND, "", rng)
        )
        n += 1
    refused += [_unreadable(k) for k in range(2)]
    rng.shuffle(refused)
    every = len(stream) / (len(refused) + 1)
    positions = {round(every * (k + 1)): m for k, m in enumerate(refused)}
    out: list[Message] = []
    for i, message in enumerate(stream):
        if i in positions:
            out.append(positions[i])
        out.append(message)
    return customers, out


def _reward(
    seed: int,
    n: int,
    identity: str,
    triggers: tuple[str, ...],
    kind: str,
    wallet: str,
    rng: random.Random,
) -> Message:
    """A request as an mParticle audience would cause it: its reference from the cause."""
    # One audience per request: a reward is once per user, audience and action reference.
    request = RewardRequest.for_audience(
        identity,
        triggers[0],
        request_id=f"chaos-{seed}-{n}",
        audience_id=f"chaos-audience-{rng.randint(1, 8)}{n:06d}",
        at=_REWARD_AT + timedelta(seconds=n),
    )
    request = request.model_copy(update={"triggers": triggers})  # several, on the topic
    return Message(request.key, request.to_bytes(), kind, wallet, request.reference)


def _edge_routes(seed: int, stream: list[Message]) -> list[Message]:
    """Some grantable requests as the Firehose membership change or the Connect call that
    causes them (see the module)."""
    rng = random.Random(f"chaos-reward-edges/{seed}")
    derived: set[str] = set()  # Connect references derived from the request
    out: list[Message] = []
    for message in stream:
        chance = rng.random()
        single = len(RewardRequest.from_bytes(message.value).triggers) == 1
        if chance < FIREHOSE_SHARE and single:  # the edge asks one reward per reference
            out.append(_via_firehose(message, rng))
        elif chance < FIREHOSE_SHARE + CONNECT_SHARE:
            out.append(_via_connect(message, rng, derived))
        else:
            out.append(message)
    return out


def _with_audience(seed: int, size: int, stream: list[Message]) -> list[Message]:
    """`stream` with the large membership change a quarter in and again three quarters in
    (its own lane: the second is posted once the first got its 200)."""
    rng = random.Random(f"chaos-audience/{seed}")
    profiles = []
    for n in audience_customers(size):
        identity = card(n)
        identities = [firehose_kit.identity(FIREHOSE_IDENTITY, identity)]
        if rng.random() < 0.3:  # hashed copies beside the raw one, as mParticle sends
            hashed = hashlib.sha256(identity.encode()).hexdigest()
            identities.insert(0, firehose_kit.identity(FIREHOSE_IDENTITY, hashed, "sha256"))
        audiences = [firehose_kit.audience(AUDIENCE_ID, "add", AUDIENCE_TRIGGER)]
        profiles.append(firehose_kit.profile(identities, audiences))
    request_id = str(uuid.uuid5(_FIREHOSE_IDS, f"audience-{seed}"))
    body = firehose_kit.membership_request(
        profiles, request_id=request_id, connector_id=CONNECTOR_ID, key=EXTERNAL_KEY
    )
    asked = firehose.membership(body, FIREHOSE_IDENTITY, {})
    if len(asked.rewards) != size or asked.rejected:
        raise AssertionError(f"the large audience asks for {len(asked.rewards)} rewards")
    first = Message(
        f"audience-{AUDIENCE_ID}".encode(),
        orjson.dumps(body),
        AUDIENCE,
        route=FIREHOSE,
        references=tuple(r.reference for r in asked.rewards),
    )
    out = list(stream)
    out.insert(len(out) * 3 // 4, replace(first, kind=AUDIENCE_REDELIVERED))
    out.insert(len(out) // 4, first)
    return out


def _via_firehose(message: Message, rng: random.Random) -> Message:
    """The membership change whose reward request is `message`'s (its reference derived
    from the user, the audience and the action reference, as the edge does)."""
    request = RewardRequest.from_bytes(message.value)
    cause = request.cause
    audience = int(str(cause.audience_id).rsplit("-", 1)[1])
    request_id = str(uuid.uuid5(_FIREHOSE_IDS, str(cause.request_id)))
    identity = request.identity_value
    identities = [firehose_kit.identity(FIREHOSE_IDENTITY, identity)]
    if rng.random() < 0.3:  # mParticle sends hashed copies too; the raw one finds the wallet
        hashed = hashlib.sha256(identity.encode()).hexdigest()
        identities.insert(0, firehose_kit.identity(FIREHOSE_IDENTITY, hashed, "sha256"))
    audiences = [firehose_kit.audience(audience, "add", ", ".join(request.triggers))]
    if rng.random() < 0.3:  # counted, no reward
        action = rng.choice(["delete", "attribute_update"])
        audiences.insert(rng.randint(0, 1), firehose_kit.audience(audience + 100, action, None))
    body = firehose_kit.membership_request(
        [firehose_kit.profile(identities, audiences)], request_id=request_id,
        connector_id=CONNECTOR_ID, key=EXTERNAL_KEY,
    )  # fmt: skip
    asked = firehose.membership(body, FIREHOSE_IDENTITY, {})
    if len(asked.rewards) != 1 or asked.rejected:
        raise AssertionError(f"a Firehose request for one reward asks for {asked}")
    reference = asked.rewards[0].reference
    return replace(message, value=orjson.dumps(body), reference=reference, route=FIREHOSE)


def _via_connect(message: Message, rng: random.Random, derived: set[str]) -> Message:
    """The Connect inbound call asking for `message`'s reward: with a reference of its own,
    or without (derived from identity and triggers: one a customer already has would make
    two requests one reward, so it gets one of its own then)."""
    request = RewardRequest.from_bytes(message.value)
    body: dict[str, Any] = {
        "identityValue": request.identity_value,
        "triggers": [{"reference": t} for t in request.triggers],
    }
    value = orjson.dumps({"type": "services/trigger", "body": body})
    reference = connect.reward_request(value, CONNECTOR_ID).reference
    if rng.random() < 0.5 or reference in derived:
        body["walletTransaction"] = {"reference": f"connect-{request.cause.request_id}"}
        value = orjson.dumps({"type": "services/trigger", "body": body})
        reference = connect.reward_request(value, CONNECTOR_ID).reference
    else:
        derived.add(reference)
    return replace(message, value=value, reference=reference, route=CONNECT)


def _unreadable(k: int) -> Message:
    """On the reward topic, but no reward request: distinct bytes per k."""
    value = (
        orjson.dumps({"identity_value": f"chaos-unreadable-{k}", "triggers": []})
        if k % 2 == 0
        else b"reward please %d" % k
    )
    return Message(f"bad-reward-{k}".encode(), value, UNREADABLE_REWARD)
