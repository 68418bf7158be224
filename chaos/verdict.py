"""The verdict of a chaos round, from data only (no I/O), so it can be tested exactly.

- expected batches E: the records `airmp map` prints for the same input (their `batch`);
- accepted A: the batches the local mParticle endpoint accepted, repeats included, in order;
- lost L: expected `source_request_id`s never accepted, plus known bad inputs that never
  reached the dead-letter topic (an input that vanished is lost wherever it should have gone);
- duplicate: an accepted batch carrying an event (`source_message_id`) that an earlier
  accepted batch carried; D counts them, S those whose `source_request_id` is the earlier
  batch's and whose events are identical (a re-send mParticle de-duplicates; its
  user_attributes may be newer, see docs/mapping-decisions.md);
- unexpected dead letters U: dead-letter messages whose bytes are none of the known bad
  inputs, nor one of the refused reward requests dead-lettered at stage `reward`;
- rewards: per reference AIR can grant, how often the local AIR granted it (its
  `GET /_mock/granted`): R once, T twice or more (every reference granted more than once,
  expected or not), M missing (never granted). A refused reward request (404, 400,
  unreadable) that never reached the dead-letter topic at stage `reward` is lost (in L), as
  a bad input is; a reference granted that was not to be granted fails the round too.

A round passes when L == 0, U == 0, D == S, T == 0, M == 0 and nothing unexpected was
granted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Batch = Mapping[str, Any]
DeadLetter = tuple[bytes, str]  # a dead-letter message's value and its airmp-stage header
REWARD_STAGE = "reward"


@dataclass(frozen=True)
class Duplicate:
    index: int  # the batch's position among the accepted
    source_request_id: str | None
    earlier: tuple[int, ...]  # the accepted batches that first carried its repeated events
    same: bool  # same source_request_id and identical events as each of those


@dataclass(frozen=True)
class Rewards:
    """The reward side: references by how often the local AIR granted them."""

    expected: int = 0  # references AIR can grant
    once: int = 0  # expected ones granted exactly once
    twice: tuple[str, ...] = ()  # granted more than once (expected or not), sorted
    missing: tuple[str, ...] = ()  # expected, never granted, in expected order
    unexpected: tuple[str, ...] = ()  # granted, but none AIR should grant, sorted

    @property
    def ok(self) -> bool:
        return not self.twice and not self.missing and not self.unexpected


def judge_rewards(expected: Sequence[str], granted: Mapping[str, int]) -> Rewards:
    """`expected`: the references AIR can grant; `granted`: `/_mock/granted`'s counts."""
    wanted = list(dict.fromkeys(expected))
    known = set(wanted)
    return Rewards(
        expected=len(wanted),
        once=sum(1 for r in wanted if granted.get(r, 0) == 1),
        twice=tuple(sorted(r for r, n in granted.items() if n > 1)),
        missing=tuple(r for r in wanted if granted.get(r, 0) == 0),
        unexpected=tuple(sorted(r for r, n in granted.items() if n > 0 and r not in known)),
    )


@dataclass(frozen=True)
class Verdict:
    events_in: int
    expected: int
    accepted: int
    lost: tuple[str, ...]  # expected source_request_ids never accepted, in expected order
    missing_dead_letters: tuple[int, ...]  # indexes of known bad inputs never dead-lettered
    duplicates: tuple[Duplicate, ...]
    unexpected_dead_letters: tuple[bytes, ...]
    # Not part of the pass/fail rule, shown as notes: accepted batches `airmp map` never
    # produced, and expected ones whose first accepted copy carries other events.
    unexpected_batches: tuple[int, ...] = ()
    differing: tuple[str, ...] = ()
    rewards: Rewards = Rewards()
    missing_refusals: tuple[int, ...] = ()  # indexes of refused rewards never dead-lettered

    @property
    def lost_count(self) -> int:
        return len(self.lost) + len(self.missing_dead_letters) + len(self.missing_refusals)

    @property
    def same_id_count(self) -> int:
        return sum(1 for d in self.duplicates if d.same)

    @property
    def ok(self) -> bool:
        return (
            self.lost_count == 0
            and not self.unexpected_dead_letters
            and len(self.duplicates) == self.same_id_count
            and self.rewards.ok
        )

    def line(self) -> str:
        return line(
            self.events_in,
            self.expected,
            self.accepted,
            self.lost_count,
            len(self.duplicates),
            self.same_id_count,
            len(self.unexpected_dead_letters),
            (self.rewards.once, len(self.rewards.twice), len(self.rewards.missing)),
        )


def line(
    n: int, e: int, a: int, lost: int, d: int, s: int, u: int, rewards: tuple[int, int, int]
) -> str:
    """`rewards`: granted once, granted twice or more, missing."""
    once, twice, missing = rewards
    return (
        f"chaos: {n} AIR events in, {e} batches expected, {a} accepted, "
        f"lost {lost}, duplicates {d} (same id {s}), unexpected dead letters {u}, "
        f"rewards {once} granted once, {twice} twice, {missing} missing"
    )


def totals_line(verdicts: Sequence[Verdict]) -> str:
    """The same line over several rounds: every count summed."""
    return line(
        sum(v.events_in for v in verdicts),
        sum(v.expected for v in verdicts),
        sum(v.accepted for v in verdicts),
        sum(v.lost_count for v in verdicts),
        sum(len(v.duplicates) for v in verdicts),
        sum(v.same_id_count for v in verdicts),
        sum(len(v.unexpected_dead_letters) for v in verdicts),
        (
            sum(v.rewards.once for v in verdicts),
            sum(len(v.rewards.twice) for v in verdicts),
            sum(len(v.rewards.missing) for v in verdicts),
        ),
    )


def message_ids(batch: Batch) -> list[str]:
    return [
        e["data"]["source_message_id"]
        for e in batch.get("events") or []
        if isinstance(e, Mapping)
        and isinstance(e.get("data"), Mapping)
        and isinstance(e["data"].get("source_message_id"), str)
    ]


def event_identity(event: Mapping[str, Any]) -> tuple[Any, ...]:
    """What must not change when a batch is sent again: type, name, id and timestamps
    (attributes taken from wallet state may)."""
    data = event.get("data")
    if not isinstance(data, Mapping):
        data = {}
    stamps = tuple(sorted((k, str(v)) for k, v in data.items() if "timestamp" in k))
    return (event.get("event_type"), data.get("event_name"), data.get("source_message_id"), stamps)


def events_identity(batch: Batch) -> list[tuple[Any, ...]]:
    return [event_identity(e) for e in batch.get("events") or [] if isinstance(e, Mapping)]


def _duplicates(accepted: Sequence[Batch]) -> tuple[list[Duplicate], dict[Any, int]]:
    """Each accepted batch carrying an event an earlier one carried, and the index of the
    first accepted copy of each source_request_id."""
    first_carrier: dict[str, int] = {}
    duplicates: list[Duplicate] = []
    first_copy: dict[Any, int] = {}
    for index, batch in enumerate(accepted):
        ids = message_ids(batch)
        earlier = tuple(sorted({first_carrier[m] for m in ids if m in first_carrier}))
        if earlier:
            srid = batch.get("source_request_id")
            same = all(
                accepted[j].get("source_request_id") == srid
                and events_identity(accepted[j]) == events_identity(batch)
                for j in earlier
            )
            duplicates.append(Duplicate(index, srid, earlier, same))
        for m in ids:
            first_carrier.setdefault(m, index)
        first_copy.setdefault(batch.get("source_request_id"), index)
    return duplicates, first_copy


def judge(
    events_in: int,
    expected: Iterable[Batch],
    accepted: Sequence[Batch],
    dead_letters: Iterable[DeadLetter],
    known_bad: Sequence[bytes],
    refused: Sequence[bytes] = (),
    rewards: Rewards = Rewards(),
) -> Verdict:
    """`expected`: the `batch` of each record `airmp map` printed, in its order;
    `dead_letters`: (value, stage) of each message on the dead-letter topic; `known_bad`:
    the inputs that must go there (at any stage); `refused`: the reward requests that must
    go there at stage `reward`; `rewards`: `judge_rewards`'s."""
    expected_batches = list(expected)
    expected_by_id = {b.get("source_request_id"): b for b in expected_batches}
    accepted_ids = {b.get("source_request_id") for b in accepted}
    lost = tuple(
        str(b.get("source_request_id"))
        for b in expected_batches
        if b.get("source_request_id") not in accepted_ids
    )

    duplicates, first_copy = _duplicates(accepted)
    on_dlq = list(dead_letters)
    bad, refusals = set(known_bad), set(refused)
    unexpected = tuple(
        v for v, stage in on_dlq if v not in bad and not (v in refusals and stage == REWARD_STAGE)
    )
    seen = {v for v, _ in on_dlq}
    missing = tuple(i for i, v in enumerate(known_bad) if v not in seen)
    rewarded = {v for v, stage in on_dlq if stage == REWARD_STAGE}
    missing_refusals = tuple(i for i, v in enumerate(refused) if v not in rewarded)

    unexpected_batches = tuple(
        i for i, b in enumerate(accepted) if b.get("source_request_id") not in expected_by_id
    )
    differing = tuple(
        str(srid)
        for srid, i in first_copy.items()
        if srid in expected_by_id
        and events_identity(accepted[i]) != events_identity(expected_by_id[srid])
    )
    return Verdict(
        events_in=events_in,
        expected=len(expected_batches),
        accepted=len(accepted),
        lost=lost,
        missing_dead_letters=missing,
        duplicates=tuple(duplicates),
        unexpected_dead_letters=unexpected,
        unexpected_batches=unexpected_batches,
        differing=differing,
        rewards=rewards,
        missing_refusals=missing_refusals,
    )
