"""`airmp dead-letters` without Kafka: the header names, reading a dead letter's fields,
the filters, the summary's counts and rendering, `show`'s rendering, and where and with
which headers a dead letter is re-driven."""

from __future__ import annotations

import functools
import io

import orjson
import pytest

from config import load_settings
from mappers import RejectReason
from ops import runner
from ops.dead_letters.letters import (
    DeadLetter,
    Selection,
    Summary,
    event_name_of,
    iso_ms,
    kind_of,
    parse_moment,
    pretty_body,
    printable,
    redrive_headers,
    redrive_topic,
    render,
)
from ops.dead_letters.run import PREFIX, RedriveOptions, run_redrive
from sinks.report import RefusalReason
from streams import dead_letters, source
from streams.dead_letters import Fault, Stage
from streams.rewards import RewardFault
from testkit.cases import CASES
from testkit.processes import airmp

SETTLE = orjson.dumps(CASES["POSCONNECT.WALLET.SETTLE"]()[0])
RECORD = orjson.dumps(CASES["POSCONNECT.WALLET.SPEND"]()[1])
T0 = 1_740_823_200_000  # 2025-03-01T10:00:00Z
SETTINGS = load_settings(kafka_bootstrap_servers="127.0.0.1:9")


def letter(
    stage: str,
    kind: str,
    value: bytes = SETTLE,
    at: int = T0,
    offset: int = 0,
    **more: bytes,
) -> DeadLetter:
    headers = {
        "airmp-source-topic": b"air-notifications",
        "airmp-source-partition": b"1",
        "airmp-source-offset": b"41",
        "airmp-kind": kind.encode(),
        "airmp-reason": f"{kind}: why".encode(),
        "airmp-stage": stage.encode(),
        **{"airmp-" + k.replace("_", "-"): v for k, v in more.items()},
    }
    return DeadLetter.of("air-dead-letters", 2, offset, at, b"900100", value, headers)


def test_the_header_names() -> None:
    assert (dead_letters.H_KIND, dead_letters.H_REASON, dead_letters.H_DETAIL) == (
        "airmp-kind",
        "airmp-reason",
        "airmp-detail",
    )
    assert dead_letters.H_STAGE == "airmp-stage"
    assert source.SOURCE_HEADERS == (
        "airmp-source-topic",
        "airmp-source-partition",
        "airmp-source-offset",
    )
    assert source.H_REDRIVEN == "airmp-redriven-from"
    assert [s.value for s in Stage] == ["ingest", "wallet", "sink", "reward", "firehose"]


def test_source_of_carries_the_redrive_mark() -> None:
    mark = {source.H_REDRIVEN: b"air-dead-letters[0]@7"}
    assert source.source_of(mark, "mparticle-records", 1, 5) == {
        "airmp-source-topic": b"mparticle-records",
        "airmp-source-partition": b"1",
        "airmp-source-offset": b"5",
        **mark,
    }
    forwarded = {"airmp-source-topic": b"air", "airmp-source-partition": b"0"}
    assert source.source_of({**forwarded, "other": b"x"}, "by-wallet", 3, 9) == forwarded


def test_the_kind_from_its_header_or_the_reason_of_an_older_dead_letter() -> None:
    assert kind_of({"airmp-kind": b"not_json", "airmp-reason": b"other: x"}) == "not_json"
    assert kind_of({"airmp-reason": b"no_wallet: no walletId in ..."}) == "no_wallet"
    assert kind_of({"airmp-reason": b"invalid_batch"}) == "invalid_batch"
    assert kind_of({}) == "unknown"
    # The four kinds of dead letter never share a name, so a summary row names one.
    kinds = [*RejectReason, *RefusalReason, *Fault, *RewardFault]
    assert len({str(k) for k in kinds}) == len(kinds)


def test_the_event_name_by_stage() -> None:
    assert event_name_of("ingest", SETTLE) == "POSCONNECT.WALLET.SETTLE"
    assert event_name_of("wallet", SETTLE) == "POSCONNECT.WALLET.SETTLE"
    assert event_name_of("ingest", b"not json") == "-"
    assert event_name_of("ingest", b'{"headers": {"eventName": 42}}') == "-"
    assert event_name_of("sink", RECORD) == "POSCONNECT.WALLET.SPEND"
    assert event_name_of("sink", b"[1]") == "-"
    assert event_name_of("reward", b'{"identity_value": "1"}') == "-"


def test_a_dead_letter_read_from_a_message() -> None:
    got = letter("wallet", "mapping_error", detail=b"more")
    assert (got.position, got.kind, got.stage, got.event_name, got.source) == (
        "air-dead-letters[2]@0",
        "mapping_error",
        "wallet",
        "POSCONNECT.WALLET.SETTLE",
        "air-notifications[1]@41",
    )
    bare = DeadLetter.of("dlq", 0, 3, T0, None, None, [("airmp-reason", b"not_json: x")])
    assert (bare.value, bare.key, bare.stage, bare.source, bare.kind) == (
        b"",
        None,
        "",
        None,
        "not_json",
    )


def test_filters_all_must_match_any_value_of_each() -> None:
    a = letter("ingest", "not_json", b"x", at=T0)
    b = letter("wallet", "mapping_error", at=T0 + 1000)
    c = letter("sink", "invalid_batch", RECORD, at=T0 + 2000)
    everything = [a, b, c]

    def picked(selection: Selection) -> list[DeadLetter]:
        return [x for x in everything if selection.matches(x)]

    assert Selection().everything and picked(Selection()) == everything
    assert picked(Selection(stages=frozenset({"ingest", "sink"}))) == [a, c]
    assert picked(Selection(reasons=frozenset({"mapping_error"}))) == [b]
    assert picked(Selection(event_names=frozenset({"POSCONNECT.WALLET.SPEND"}))) == [c]
    assert picked(Selection(since_ms=T0 + 1000)) == [b, c]
    assert picked(Selection(until_ms=T0 + 1000)) == [a]
    both = Selection(stages=frozenset({"wallet"}), reasons=frozenset({"not_json"}))
    assert picked(both) == [] and not both.everything


def test_summary_counts_by_reason_stage_and_event_name() -> None:
    summary = Summary()
    for at in (T0 + 5000, T0, T0 + 9000):
        summary.add(letter("ingest", "not_json", b"x", at=at))
    summary.add(letter("wallet", "mapping_error", at=T0 + 1000))
    summary.add(letter("ingest", "no_wallet", at=T0 + 2000))
    summary.add(letter("sink", "invalid_batch", RECORD, at=T0 + 3000))
    assert summary.as_json() == {
        "groups": [
            {
                "reason": "not_json",
                "stage": "ingest",
                "event_name": "-",
                "count": 3,
                "first": "2025-03-01T10:00:00.000Z",
                "last": "2025-03-01T10:00:09.000Z",
            },
            {
                "reason": "invalid_batch",
                "stage": "sink",
                "event_name": "POSCONNECT.WALLET.SPEND",
                "count": 1,
                "first": "2025-03-01T10:00:03.000Z",
                "last": "2025-03-01T10:00:03.000Z",
            },
            {
                "reason": "mapping_error",
                "stage": "wallet",
                "event_name": "POSCONNECT.WALLET.SETTLE",
                "count": 1,
                "first": "2025-03-01T10:00:01.000Z",
                "last": "2025-03-01T10:00:01.000Z",
            },
            {
                "reason": "no_wallet",
                "stage": "ingest",
                "event_name": "POSCONNECT.WALLET.SETTLE",
                "count": 1,
                "first": "2025-03-01T10:00:02.000Z",
                "last": "2025-03-01T10:00:02.000Z",
            },
        ],
        "total": 6,
        "first": "2025-03-01T10:00:00.000Z",
        "last": "2025-03-01T10:00:09.000Z",
    }
    assert summary.table().splitlines() == [
        "REASON         STAGE   EVENT NAME                COUNT  FIRST                     LAST",
        "not_json       ingest  -                             3  2025-03-01T10:00:00.000Z  "
        "2025-03-01T10:00:09.000Z",
        "invalid_batch  sink    POSCONNECT.WALLET.SPEND       1  2025-03-01T10:00:03.000Z  "
        "2025-03-01T10:00:03.000Z",
        "mapping_error  wallet  POSCONNECT.WALLET.SETTLE      1  2025-03-01T10:00:01.000Z  "
        "2025-03-01T10:00:01.000Z",
        "no_wallet      ingest  POSCONNECT.WALLET.SETTLE      1  2025-03-01T10:00:02.000Z  "
        "2025-03-01T10:00:02.000Z",
        "total: 6 dead letters, first 2025-03-01T10:00:00.000Z, last 2025-03-01T10:00:09.000Z",
    ]


def test_an_empty_summary() -> None:
    assert Summary().as_json() == {"groups": [], "total": 0, "first": None, "last": None}
    assert Summary().table().splitlines()[-1] == "total: 0 dead letters"


def test_show_pretty_prints_json_and_escapes_binary() -> None:
    shown = render(letter("sink", "invalid_batch", b'{"a": [1]}', detail=b"mParticle: 400"))
    assert shown.splitlines() == [
        "air-dead-letters[2]@0  2025-03-01T10:00:00.000Z",
        "  reason: invalid_batch: why",
        "  stage: sink",
        "  event name: -",
        "  source: air-notifications[1]@41",
        "  detail: mParticle: 400",
        "  key: 900100",
        "  body (10 bytes):",
        "    {",
        '      "a": [',
        "        1",
        "      ]",
        "    }",
    ]
    assert printable(b"plain text\n") == "plain text\n"
    assert printable(b"\x00\xff") == "b'\\x00\\xff'"
    assert printable(b"\x1b[31mred") == "b'\\x1b[31mred'"  # no terminal escapes
    assert pretty_body(b"x" * 30, limit=10) == "x" * 10 + "\n... cut: 20 more characters (30 bytes)"
    marked = render(letter("wallet", "no_wallet", redriven_from=b"air-dead-letters[0]@1"))
    assert "  re-driven from: air-dead-letters[0]@1" in marked.splitlines()


@pytest.mark.parametrize(
    ("stage", "topic", "keeps_source"),
    [
        ("ingest", "air-notifications", True),
        ("wallet", "air-notifications", True),
        ("sink", "mparticle-records", False),
        ("reward", "air-reward-requests", False),
    ],
)
def test_where_and_with_which_headers_a_dead_letter_goes_back(
    stage: str, topic: str, keeps_source: bool
) -> None:
    got = letter(stage, "x", detail=b"d", redriven_from=b"air-dead-letters[0]@1")
    assert redrive_topic(stage, SETTINGS) == topic
    mark = ("airmp-redriven-from", b"air-dead-letters[2]@0")
    source_headers = [
        ("airmp-source-topic", b"air-notifications"),
        ("airmp-source-partition", b"1"),
        ("airmp-source-offset", b"41"),
    ]
    assert redrive_headers(got) == ([*source_headers, mark] if keeps_source else [mark])


def test_an_unknown_stage_has_nowhere_to_go() -> None:
    assert redrive_topic("", SETTINGS) is None
    assert redrive_topic("someday", SETTINGS) is None


def test_iso_ms() -> None:
    assert iso_ms(T0 + 7) == "2025-03-01T10:00:00.007Z"


def test_redrive_wants_a_filter_or_all() -> None:
    err = io.StringIO()
    options = functools.partial(RedriveOptions, Selection())
    assert runner.run(PREFIX, run_redrive, SETTINGS, options, io.StringIO(), err) == 2
    assert err.getvalue() == (
        "airmp dead-letters: give a filter (--reason, --stage, --event-name, --since, --until)"
        " or --all\n"
    )


def test_command_errors_are_one_line_and_status_2() -> None:
    bad_time = airmp(["dead-letters", "summary", "--since", "last tuesday"], {})
    assert bad_time.returncode == 2
    assert bad_time.stderr.splitlines() == [
        "airmp dead-letters: --since 'last tuesday' is not an ISO 8601 date/time (2025-03-02, "
        "2025-03-02T09:30:00Z, 2025-03-02T10:30:00+01:00) nor epoch milliseconds"
    ]
    backwards = airmp(
        ["dead-letters", "show", "--since", "2025-03-02", "--until", "2025-03-01"], {}
    )
    assert (backwards.returncode, backwards.stderr) == (
        2,
        "airmp dead-letters: --until must be after --since\n",
    )
    no_kafka = airmp(["dead-letters", "summary"], {"AIRMP_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"})
    assert no_kafka.returncode == 2
    (line,) = no_kafka.stderr.splitlines()
    assert line.startswith("airmp dead-letters: cannot reach Kafka at 127.0.0.1:9 (")
    assert line.endswith("check AIRMP_KAFKA_BOOTSTRAP_SERVERS and AIRMP_KAFKA_SECURITY_PROTOCOL")


def test_since_and_until_read_durations_before_now_too() -> None:
    now = T0 + 86_400_000
    assert parse_moment("30m", "--since", now) == now - 1_800_000
    assert parse_moment("2h", "--since", now) == now - 7_200_000
    assert parse_moment("1d", "--since", now) == T0
    assert parse_moment("2025-03-01T10:00:00Z", "--since", now) == T0
    assert parse_moment(str(T0), "--until", now) == T0
