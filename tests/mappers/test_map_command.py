# ruff: noqa: E501  (fixture data reads better on one line)
"""`airmp map` (ops.map.run_map): inputs, outputs, exit codes, determinism."""

from __future__ import annotations

import io
from pathlib import Path

import orjson

from config.settings import Settings
from ops.map import MapOptions, run_map
from testkit.cases import settle, spend

SETTINGS = Settings()  # type: ignore[call-arg]


def _run(paths: list[str], stdin: bytes = b"") -> tuple[int, bytes, str]:
    out, err = io.BytesIO(), io.StringIO()
    status = run_map(SETTINGS, MapOptions(tuple(paths), stdin=io.BytesIO(stdin)), out, err)
    return status, out.getvalue(), err.getvalue()


def _expected_line(*docs: dict) -> bytes:  # type: ignore[type-arg]
    """What one Mapper makes of the docs in order (state is shared across inputs)."""
    from mappers import Mapper, MappingOptions

    mapper = Mapper(MappingOptions.from_settings(SETTINGS))
    records = [mapper.map_bytes(orjson.dumps(doc)).record for doc in docs]
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def test_object_array_and_json_lines(tmp_path: Path) -> None:
    doc, expected = settle()
    other, _ = spend()
    other["headers"]["eesEventId"] = "evt-2"
    one = tmp_path / "one.json"
    one.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    status, out, err = _run([str(one)])
    assert (status, err) == (0, "")
    assert (
        orjson.loads(out) == expected and out.count(b"\n") == 1 and b" " not in out.split(b'"')[0]
    )

    array = tmp_path / "array.json"
    array.write_bytes(orjson.dumps([doc, other]))
    lines = tmp_path / "lines.jsonl"
    lines.write_bytes(orjson.dumps(doc) + b"\n\n" + orjson.dumps(other) + b"\n")
    for path in (array, lines):
        status, out, err = _run([str(path)])
        assert (status, err) == (0, "")
        assert out == _expected_line(doc, other)


def test_stdin_bad_input_and_duplicates() -> None:
    doc, _ = settle()
    data = b"\n".join(
        [
            orjson.dumps(doc),
            b"{broken",
            orjson.dumps(doc),
            b'{"headers": {"eventName": "POSCONNECT.WALLET.SETTLE", "eesEventId": "e-9"}}',
        ]
    )
    status, out, err = _run([], stdin=data)
    assert status == 0
    assert out == _expected_line(doc)  # the second copy is a duplicate delivery: nothing
    assert [orjson.loads(line) for line in err.splitlines()] == [
        {"source": "<stdin>:2", "reason": "not_json: unexpected character, expected a string key: line 1 column 2 (char 1)", "event_name": None, "event_id": None},
        {"source": "<stdin>:4", "reason": "no_wallet: no walletId in the operations, enrichmentData or request.resource", "event_name": "POSCONNECT.WALLET.SETTLE", "event_id": "e-9"},
    ]  # fmt: skip
    status, out2, _ = _run(["-"], stdin=data)
    assert out2 == out


def test_unreadable_file_exit_2_and_others_still_mapped(tmp_path: Path) -> None:
    doc, _ = settle()
    good = tmp_path / "good.json"
    good.write_bytes(orjson.dumps(doc))
    missing = tmp_path / "missing.json"
    status, out, err = _run([str(missing), str(good)])
    assert status == 2
    assert out == _expected_line(doc)
    assert err == f"airmp map: cannot read {missing}: No such file or directory\n"


def test_byte_identical_twice(tmp_path: Path) -> None:
    docs = [settle()[0], spend()[0]]
    docs[1]["headers"]["eesEventId"] = "evt-2"
    path = tmp_path / "in.json"
    path.write_bytes(orjson.dumps(docs))
    assert _run([str(path)]) == _run([str(path)])


def test_array_with_a_non_object(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_bytes(b"[1]")
    status, out, err = _run([str(path)])
    assert (status, out) == (0, b"")
    assert orjson.loads(err) == {
        "source": f"{path}:1",
        "reason": "not_object: the notification is a JSON number",
        "event_name": None,
        "event_id": None,
    }
