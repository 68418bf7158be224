"""docs/mapping.md is what testkit/mapping_doc.py renders from the registry, the vocabulary
and the mappers run on testkit/cases.py: a mapping change without `make mapping-doc` fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from mappers import REGISTRY
from testkit import mapping_doc, mapping_words
from testkit.mapping_doc import COMMAND, DOC, Undocumented, render


def test_docs_mapping_md_is_up_to_date() -> None:
    assert DOC.read_bytes() == render().encode(), f"docs/mapping.md is stale: run `{COMMAND}`"


def test_every_registered_event_has_a_section_in_the_registrys_order() -> None:
    headings = [line[4:] for line in render().splitlines() if line.startswith("### ")]
    assert headings == [*REGISTRY, "Any event", "Everything else"]


def test_a_field_the_words_do_not_describe_stops_the_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    said = mapping_words.EVENTS["POSCONNECT.WALLET.SPEND"]
    fields = dict(said.fields["ee_loyalty_posconnect_wallet_spend"])
    del fields["reference"]
    changed = mapping_words.EventWords(said.reads, {"ee_loyalty_posconnect_wallet_spend": fields})
    monkeypatch.setitem(mapping_words.EVENTS, "POSCONNECT.WALLET.SPEND", changed)
    with pytest.raises(Undocumented) as raised:
        render()
    assert str(raised.value) == (
        "POSCONNECT.WALLET.SPEND -> ee_loyalty_posconnect_wallet_spend: fields ['reference']"
    )


def test_an_event_the_words_do_not_describe_stops_the_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(mapping_words.EVENTS, "SERVICE.TRIGGER")
    with pytest.raises(Undocumented) as raised:
        render()
    assert str(raised.value) == (
        "registry and testkit/mapping_words.py differ: {'SERVICE.TRIGGER'}"
    )


def test_check_says_which_command_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "mapping.md"
    stale.write_text("# old\n")
    monkeypatch.setattr(mapping_doc, "DOC", stale)
    assert mapping_doc.main(["--check"]) == 1
    assert capsys.readouterr().err == "mapping.md is stale: run `make mapping-doc`\n"
    assert mapping_doc.main([]) == 0
    assert stale.read_text() == render()
    assert mapping_doc.main(["--check"]) == 0
