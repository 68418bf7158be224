"""docs/mapping.md, generated: every AIR event the registry maps, and what mParticle gets.

    python -m testkit.mapping_doc          (`make mapping-doc`) writes docs/mapping.md
    python -m testkit.mapping_doc --check  exits 1 when docs/mapping.md is stale

`render()` is pure. It reads the registry (mappers/registry.py), the vocabulary
(mappers/vocabulary.py), the batch model (mappers/models.py) and the profile
(mappers/state.py); what each mapper emits it learns by running the mapper on the exact
inputs of testkit/cases.py; where each value comes from is in testkit/mapping_words.py.
tests/test_mapping_doc.py fails when the file in the repository is not what it renders.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mappers import REGISTRY, MappingOptions, RejectReason, parse, process
from mappers.batch import NAMESPACE, TRANSACTION
from mappers.models import Batch
from mappers.state import JOIN_EVENTS, PROFILE_ATTRIBUTES
from mappers.vocabulary import (
    CUSTOM_EVENT_TYPES,
    IDENTITY_KEYS,
    MAX_NAME,
    MAX_USER_ATTRIBUTES,
    MAX_VALUE,
    PRODUCT_ACTIONS,
)
from testkit import mapping_words as words
from testkit.builders import raw
from testkit.cases import CASES
from testkit.errors import Undocumented

__all__ = ["COMMAND", "DOC", "Undocumented", "render"]

DOC = Path(__file__).resolve().parents[1] / "docs" / "mapping.md"
COMMAND = "make mapping-doc"
OPTIONS = MappingOptions(strict=True)  # the defaults: `other` <- CARD, `customer_id` <- walletId
EXAMPLE_CHARS = 60


@dataclass(slots=True)
class Emitted:
    """One mParticle event an AIR event produces, merged over its cases."""

    label: str  # custom event name, or words.COMMERCE + product action
    event_type: str
    custom_event_type: str | None
    examples: dict[str, str] = field(default_factory=dict)  # field -> first example shown


@dataclass(slots=True)
class Observed:
    """What the mapper of one AIR eventName did with the cases of testkit/cases.py."""

    name: str
    cases: list[str]
    emitted: list[Emitted] = field(default_factory=list)
    coupons_redeemed: bool = False
    profile: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    identities: list[str] = field(default_factory=list)


def records_of(name: str) -> list[tuple[str, dict[str, Any]]]:
    """(case, record) of every case of `name`, mapped from its input with empty state."""
    found = []
    for case in sorted(c for c in CASES if c.split("-")[0] == name):
        doc, _expected = CASES[case]()
        outcome = process(parse(raw(doc)), None, OPTIONS)
        if outcome.record is None:
            raise Undocumented(f"case {case} maps to no record: {outcome.rejection}")
        found.append((case, outcome.record))
    if not found:
        raise Undocumented(f"{name} has no case in testkit/cases.py")
    return found


def _example(value: Any) -> str:
    if isinstance(value, list):
        keys = list(dict.fromkeys(k for item in value if isinstance(item, dict) for k in item))
        return f"{len(value)} ({', '.join(keys)})" if keys else str(len(value))
    shown = value if isinstance(value, str) else repr(value)
    if len(shown) > EXAMPLE_CHARS:
        shown = shown[: EXAMPLE_CHARS - 1] + "…"
    return "`" + shown.replace("|", "\\|").replace("`", "'") + "`"


def _fields_of(event: dict[str, Any]) -> tuple[str, str | None, dict[str, Any]]:
    """(label, custom_event_type, field -> value) of one emitted event."""
    data = event["data"]
    values: dict[str, Any] = {}
    if event["event_type"] == "commerce_event":
        action = data["product_action"]
        for name in ("transaction_id", "total_amount", "products"):
            if name in action:
                values[f"product_action.{name}"] = action[name]
        values["currency_code"] = data["currency_code"]
        label, kind = words.COMMERCE + action["action"], None
    else:
        label, kind = data["event_name"], data["custom_event_type"]
    values.update(data.get("custom_attributes", {}))
    return label, kind, values


def observe(name: str) -> Observed:
    seen = Observed(name, [])
    by_label: dict[str, Emitted] = {}
    for case, record in records_of(name):
        seen.cases.append(case)
        batch = record["batch"]
        for key, items in (
            ("profile", batch.get("user_attributes", {})),
            ("deleted", batch.get("deleted_user_attributes", [])),
            ("identities", batch["user_identities"]),
        ):
            known: list[str] = getattr(seen, key)
            known.extend(item for item in items if item not in known)
        for event in batch["events"]:
            label, kind, values = _fields_of(event)
            if label == words.COUPON_REDEEMED:
                seen.coupons_redeemed = True
                continue
            if label not in by_label:
                by_label[label] = Emitted(label, event["event_type"], kind)
                seen.emitted.append(by_label[label])
            examples = by_label[label].examples
            for key, value in values.items():
                examples.setdefault(key, _example(value))
    return seen


def check(seen: Observed, said: words.EventWords) -> None:
    """Every field a mapper emitted is described; every event described was emitted."""
    labels = {e.label for e in seen.emitted}
    if labels != set(said.fields):
        differ = sorted(labels ^ set(said.fields))
        raise Undocumented(f"{seen.name}: mParticle events not both described and seen: {differ}")
    for emitted in seen.emitted:
        unknown = set(emitted.examples) - set(said.fields[emitted.label])
        if unknown:
            raise Undocumented(f"{seen.name} -> {emitted.label}: fields {sorted(unknown)}")


def observed_events() -> list[Observed]:
    """Each registered eventName, in the registry's order, observed and checked."""
    if set(REGISTRY) != set(words.EVENTS):
        raise Undocumented(
            f"registry and testkit/mapping_words.py differ: {set(REGISTRY) ^ set(words.EVENTS)}"
        )
    found = []
    for name in REGISTRY:
        seen = observe(name)
        check(seen, words.EVENTS[name])
        found.append(seen)
    return found


def _code(names: Iterable[str]) -> str:
    return ", ".join(f"`{name}`" for name in names) or "none"


def _event_title(emitted: Emitted) -> str:
    if emitted.label.startswith(words.COMMERCE):
        action = emitted.label.removeprefix(words.COMMERCE)
        return f"commerce event, product action `{action}`"
    return f"custom event `{emitted.label}` (`custom_event_type` `{emitted.custom_event_type}`)"


def mapper_name(name: str) -> str:
    """`module.attribute` of the registry's function for `name`, as the module exports it
    (the tier mappers are made by one factory, so their `__name__` is not the attribute)."""
    function = REGISTRY[name][1]
    module = sys.modules[function.__module__]
    attribute = next(key for key, value in vars(module).items() if value is function)
    return f"{function.__module__}.{attribute}"


def _anchor(name: str) -> str:
    return "#" + "".join(ch for ch in name.lower() if ch.isalnum() or ch in "-_")


def summary_table(events: list[Observed]) -> list[str]:
    lines = [
        "| AIR eventName | family | mapper | mParticle events | profile |",
        "|---|---|---|---|---|",
    ]
    for seen in events:
        family = REGISTRY[seen.name][0]
        names = [
            f"commerce `{e.label.removeprefix(words.COMMERCE)}`"
            if e.label.startswith(words.COMMERCE)
            else f"`{e.label}`"
            for e in seen.emitted
        ]
        profile = "sets `loyalty_member`" if seen.name in JOIN_EVENTS else ""
        if seen.deleted:
            profile = f"deletes all {len(seen.deleted)}"
        lines.append(
            f"| [{seen.name}]({_anchor(seen.name)}) | `{family}` |"
            f" `{mapper_name(seen.name)}` | {', '.join(names) or '—'} |"
            f" {profile or '—'} |"
        )
    return lines


def event_section(seen: Observed) -> list[str]:
    said = words.EVENTS[seen.name]
    lines = [
        f"### {seen.name}",
        "",
        f"Family `{REGISTRY[seen.name][0]}`, `{mapper_name(seen.name)}`."
        f" Example{'s' if len(seen.cases) > 1 else ''}: {_code(seen.cases)}"
        " (testkit/cases.py).",
        "",
        f"Reads: {said.reads}",
        "",
    ]
    for number, emitted in enumerate(seen.emitted, 1):
        lines += [f"{number}. {_event_title(emitted)}", ""]
        described = said.fields[emitted.label]
        if not described:
            lines += ["   No attributes.", ""]
            continue
        lines += ["   | field | from | in the example |", "   |---|---|---|"]
        for name, source in described.items():
            example = emitted.examples.get(name, "not in the example")
            lines.append(f"   | `{name}` | {source} | {example} |")
        lines.append("")
    lines += _batch_lines(seen)
    return lines


def _batch_lines(seen: Observed) -> list[str]:
    lines = []
    if seen.coupons_redeemed:
        lines.append(
            f"An example also redeems a coupon: `{words.COUPON_REDEEMED}` follows"
            " ([Any event](#any-event))."
        )
    if seen.name in JOIN_EVENTS:
        lines.append('Sets `loyalty_member` to `"true"` in wallet state and the profile.')
    if seen.deleted:
        lines.append(f"`deleted_user_attributes`: {_code(seen.deleted)}; no `user_attributes`.")
    else:
        lines.append(f"`user_attributes` in the example: {_code(seen.profile)}.")
    lines.append(f"`user_identities` in the example: {_code(seen.identities)}.")
    return [*lines, ""]


HEADER = f"""\
# Mapping reference: AIR to mParticle

<!-- Generated by `{COMMAND}` (testkit/mapping_doc.py): do not edit by hand.
     tests/test_mapping_doc.py fails when this file is not what the code renders. -->

What the connector sends to mParticle for each Eagle Eye AIR event notification, event by
event. The page is written from the code: the event names and families from the registry
(`mappers/registry.py`), mParticle's words and limits from `mappers/vocabulary.py`, and what
each mapper emits from running it on the exact inputs of `testkit/cases.py` (the values in
the "in the example" columns are the mapper's own output). Where each value comes from is
in `testkit/mapping_words.py`; the choices made where AIR's data leaves a question open are
in [mapping-decisions.md](mapping-decisions.md). To see the record for a notification of
your own: `airmp map FILE`.
"""

INPUT = """\
## 1. Input: a notification, and its wallet

An AIR notification is a JSON object: `headers` (`eventName` picks the mapper, `eesEventId`
identifies the event, `eventDate` dates it), `request` and `response` (their `body` is a
JSON string, sometimes encoded twice, sometimes null: decoded only when a mapper needs it),
`atomicOperations` (`objectType`, `operationType`, `objectValue`, in the order AIR applied
them, so the last operation on an object is its final state; upper-snake object types such
as `WALLET_ACCOUNT_TRANSACTION_ENTITY` are read as `walletAccountTransactionEntity`), and
usually `enrichmentData` (the wallet's identities under `walletEntity_<walletId>`; only the
entry of the event's own wallet is read). `eventDate` without an offset is UTC.

The wallet of an event is found in this order, the first that gives one:

1. the `walletId` of its walletTransactionEntity (the last one that is not a DELETE: an
   OPEN deletes another wallet's abandoned transaction);
2. the `walletId` of any other operation, or of an operation's `account`;
3. the id in the enrichment key `walletEntity_<walletId>`;
4. a numeric id in `request.resource` (`/wallet/{id}/...`, `/services/wallet/{id}`).

A mapped event without a wallet is a dead letter (§6). The worker, the AIR webhook edge and
`airmp replay` all find the wallet this way (`mappers.reading`), so every event of one wallet
is processed in order by the worker that owns that wallet's state.
"""


def record_section(events: list[Observed]) -> list[str]:
    if list(Batch.model_fields) != list(words.BATCH_FIELDS):
        raise Undocumented("mappers/models.py Batch fields differ from mapping_words.BATCH_FIELDS")
    kinds: dict[str, list[str]] = {TRANSACTION: [words.COUPON_REDEEMED]}
    actions: list[str] = []
    for emitted in (emitted for seen in events for emitted in seen.emitted):
        if emitted.custom_event_type is None:
            action = emitted.label.removeprefix(words.COMMERCE)
            actions += [action] if action not in actions else []
            continue
        named = kinds.setdefault(emitted.custom_event_type, [])
        named += [emitted.label] if emitted.label not in named else []
    if not set(kinds) <= set(CUSTOM_EVENT_TYPES) or not set(actions) <= set(PRODUCT_ACTIONS):
        raise Undocumented("an event type or product action is not in mappers/vocabulary.py")
    lines = [
        "## 2. Output: one record per mapped event",
        "",
        "A mapped event makes one record on the records topic, keyed by walletId:"
        ' `{"air": {"event_id", "event_name", "event_date", "wallet_id"}, "batch": {...}}`,'
        " where `batch` is one mParticle S2S batch about one user (`airmp map` prints these"
        " records). The batch's fields, in this order:",
        "",
        "| field | value |",
        "|---|---|",
        *(f"| `{name}` | {text} |" for name, text in words.BATCH_FIELDS.items()),
        "",
    ]
    return lines + _identity_lines() + _event_lines(kinds, actions)


def _identity_lines() -> list[str]:
    return [
        "**Identities.** `user_identities` has up to two entries: under"
        f" `AIRMP_MPARTICLE_IDENTITY_TYPE` (default `{OPTIONS.mparticle_identity_type}`), the"
        f" value of the wallet's identity of type `AIRMP_IDENTITY_TYPE` (default"
        f" `{OPTIONS.identity_type}`), from the event or wallet state, when known; under"
        f" `AIRMP_MPARTICLE_WALLET_ID_TYPE` (default `{OPTIONS.mparticle_wallet_id_type}`),"
        " the walletId, always. When both settings name one key, the identity wins. The keys"
        " are mParticle's (`mappers/vocabulary.py`): " + _code(IDENTITY_KEYS) + "; the"
        " settings also accept spellings such as `customerid` or `otherid2` and send the"
        " underscored key.",
        "",
    ]


def _event_lines(kinds: dict[str, list[str]], actions: list[str]) -> list[str]:
    return [
        "**Events.** Each is a `custom_event` or a `commerce_event`, with"
        " `timestamp_unixtime_ms` from `headers.eventDate` and a `source_message_id`, a UUIDv5"
        " of the eesEventId and the event's position in the batch (namespace"
        f" `{NAMESPACE}`, fixed forever: replays carry the same ids). Custom events have"
        " `event_name`, `custom_event_type` and `custom_attributes`; commerce events have"
        " `product_action` (`action`, `transaction_id`, `total_amount`, `products`),"
        " `currency_code` and `custom_attributes`. Product actions used: " + _code(actions) + ".",
        "",
        "`custom_event_type` "
        + "; ".join(f"`{kind}`: {_code(names)}" for kind, names in sorted(kinds.items()))
        + ".",
        "",
        "**Values.** Every custom and user attribute value is a string: AIR's integers (points,"
        ' minor-unit money) as decimal strings (`"663"`). Lists are compact JSON strings with'
        " keys in the order this page gives; AIR's numbers inside them stay numbers, as AIR"
        " gives them, and missing fields are `null`. Commerce amounts (`total_amount`,"
        " `price`, `total_product_amount`) are numbers in major units of `AIRMP_CURRENCY`:"
        " AIR's minor units divided by 10 to the currency's ISO 4217 exponent (780 GBP pence"
        " is 7.8, 500 JPY is 500). An attribute without a value is left out, never sent empty.",
        "",
        f"**Limits** (`mappers/vocabulary.py`): attribute names over {MAX_NAME} characters and"
        f" values over {MAX_VALUE} are cut, user attributes beyond {MAX_USER_ATTRIBUTES} are"
        " dropped; each cut is counted (`Outcome.truncated`, the worker's"
        " `airmp_truncated_attributes_total`), never silent.",
        "",
    ]


def profile_section() -> list[str]:
    if list(PROFILE_ATTRIBUTES) != list(words.PROFILE):
        raise Undocumented("mappers/state.py PROFILE_ATTRIBUTES differ from mapping_words.PROFILE")
    return [
        "## 3. The loyalty profile (user attributes)",
        "",
        "| attribute | value |",
        "|---|---|",
        *(f"| `{name}` | {text} |" for name, text in words.PROFILE.items()),
        "",
        f"The join events: {_code(sorted(JOIN_EVENTS))}. Every batch carries the whole"
        " profile known after its event, what this event changed and what earlier events"
        " left. An attribute never known is left out.",
        "",
    ]


STATE = """\
## 4. Wallet state

Each wallet's state is a row of the worker's wallet-state table (`mappers/state.py`):

- its identities by AIR type, from enrichment and from walletIdentityEntity CREATE and
  UPDATE operations (never DELETE: AIR obfuscates deleted values as `DELETED_...`);
- the balance of each POINTS account and the tier, each with the date of the event that
  set it: an older event (a replay, a late delivery) never overwrites what a newer one set;
- whether the wallet joined (`loyalty_member`);
- its recent wallet transactions, walletTransactionId to reference
  (`AIRMP_RECENT_TRANSACTIONS_MAX`), for REFUND and SPEND.VOID;
- the eesEventIds it has seen (`AIRMP_DEDUP_WINDOW_SECONDS` of event time,
  `AIRMP_DEDUP_MAX_IDS` at most): AIR's second delivery of an event emits nothing.

An event first updates the state, then is mapped with the state after it. Events the
registry does not map (POSCONNECT.WALLET.OPEN, WALLET.CONSUMER.CREATE, ...) still update it.
After SERVICE.WALLET.DELETE only the dedup memory stays.
"""


def events_section(events: list[Observed]) -> list[str]:
    lines = [
        "## 5. Events by AIR eventName",
        "",
        f'The {len(events)} eventNames of the registry, in its order. "profile": what the'
        " event itself does to the profile; every batch also carries what wallet state knows"
        " (§3).",
        "",
        *summary_table(events),
        "",
    ]
    for seen in events:
        lines += event_section(seen)
    return [
        *lines,
        "### Any event",
        "",
        f"After its own events, every mapped event gets one custom event `{words.COUPON_REDEEMED}`"
        f" (`custom_event_type` `{TRANSACTION}`) per ECOUPON account-transaction with event"
        " REDEEM in it (`mappers/process.py`):",
        "",
        "| field | from |",
        "|---|---|",
        *(f"| `{name}` | {text} |" for name, text in words.COUPON_REDEEMED_FIELDS.items()),
        "",
        "### Everything else",
        "",
        "An eventName the registry does not have maps to nothing: no record, no dead letter;"
        " it updates wallet state (§4) and is counted as `unmapped:<eventName>`. So is a"
        " mapped event that ends with no mParticle event at all.",
        "",
    ]


def bad_input_section() -> list[str]:
    reasons = [reason.value for reason in RejectReason]
    if reasons != list(words.REJECTIONS):
        raise Undocumented("mappers/reading.py RejectReason differs from mapping_words.REJECTIONS")
    return [
        "## 6. Bad input",
        "",
        "What cannot be mapped goes to the dead-letter topic with its original bytes and the"
        " reason (`airmp-reason` header: `<reason>: <detail>`), and the worker goes on:",
        "",
        "| reason | when |",
        "|---|---|",
        *(f"| `{name}` | {text} |" for name, text in words.REJECTIONS.items()),
        "",
        "Not dead letters: an event the registry does not map (§5, Everything else), and"
        " AIR's repeated delivery of an event already seen (§4, counted as a duplicate).",
        "",
    ]


OTHER_WAY = """\
## The other way: mParticle audiences to AIR rewards

Users entering an mParticle audience become reward requests for AIR's
`POST /services/trigger` (`mappers/firehose.py`, `mappers/rewards.py`, `mappers/connect.py`);
how references are derived and what is done with leaving users is in
[mapping-decisions.md](mapping-decisions.md#rewards-mparticle-audiences---air). AIR's
SERVICE.TRIGGER notification for a reward then comes back through §5.
"""


def render() -> str:
    events = observed_events()
    parts = [
        HEADER,
        INPUT,
        "\n".join(record_section(events)),
        "\n".join(profile_section()),
        STATE,
        "\n".join(events_section(events)),
        "\n".join(bad_input_section()),
        OTHER_WAY,
    ]
    return "\n".join(part.rstrip("\n") + "\n" for part in parts)


def main(argv: list[str]) -> int:
    text = render()
    if argv == ["--check"]:
        if DOC.exists() and DOC.read_text() == text:
            return 0
        print(f"{DOC.name} is stale: run `{COMMAND}`", file=sys.stderr)
        return 1
    if argv:
        print("usage: python -m testkit.mapping_doc [--check]", file=sys.stderr)
        return 2
    DOC.write_text(text)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
