"""`airmp worker` without a broker: the log level from AIRMP_LOG_LEVEL unless `-l` is given,
and the topics created before Faust's worker runs (not for --help)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from faust.cli.faust import cli
from faust.cli.worker import worker as faust_worker

from config import Settings
from ops import cli as airmp

Calls = list[tuple[str, str]]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Calls]:
    """Runs `airmp.main` up to Faust's worker, recording the topic creation and the level
    Faust's worker would start with."""
    seen: Calls = []
    for name in list(os.environ):
        if name.startswith("AIRMP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AIRMP_STORE", "memory://")
    monkeypatch.setenv("AIRMP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("F_DATADIR", str(tmp_path))  # Faust's CLI sets it; restored after
    monkeypatch.chdir(tmp_path)

    def create_topics(settings: Settings) -> None:
        seen.append(("topics", settings.input_topic))

    def run_worker(self: faust_worker, *args: Any, **kwargs: Any) -> NoReturn:
        seen.append(("worker", self.loglevel))
        raise SystemExit(0)

    monkeypatch.setattr(airmp, "create_topics_or_exit", create_topics)
    monkeypatch.setattr(faust_worker, "__call__", run_worker)
    airmp.read_settings.cache_clear()
    yield seen
    airmp.read_settings.cache_clear()


def _main(argv: list[str]) -> int | str | None:
    with pytest.raises(SystemExit) as done:
        airmp.main(argv)
    return done.value.code


def test_the_worker_is_ours() -> None:
    assert cli.commands["worker"] is airmp.worker._click


def test_level_from_settings(calls: Calls, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _main(["worker"]) == 0
    assert calls == [("topics", "air-notifications"), ("worker", "info")]
    calls.clear()
    monkeypatch.setenv("AIRMP_LOG_LEVEL", "error")
    airmp.read_settings.cache_clear()
    assert _main(["worker", "--without-web"]) == 0
    assert calls == [("topics", "air-notifications"), ("worker", "error")]


@pytest.mark.parametrize(
    "argv", [["worker", "-l", "debug"], ["worker", "--loglevel=debug"], ["-l", "debug", "worker"]]
)
def test_an_explicit_level_wins(calls: Calls, argv: list[str]) -> None:
    assert _main(argv) == 0
    assert calls == [("topics", "air-notifications"), ("worker", "debug")]


@pytest.mark.parametrize("argv", [["worker", "--help"], ["worker", "-h", "example.com", "--help"]])
def test_help_creates_no_topics(
    calls: Calls, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _main(argv) == 0
    assert calls == []
    assert "[default: info]" in capsys.readouterr().out


OURS = ["check", "dead-letters", "lag", "map", "mock-air", "mock-mparticle", "replay", "reward"]


def _listed(out: str) -> list[str]:
    """The command names of `--help`'s Commands section."""
    section = out.split("Commands:\n", 1)[1]
    return [line.split()[0] for line in section.splitlines() if line.startswith("  ")]


def test_help_says_what_the_connector_does_and_lists_its_commands(
    calls: Calls, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "The Eagle Eye AIR <-> mParticle connector." in out
    assert "Welcome" not in out and "--console-port" not in out and "--blocking-timeout" not in out
    listed = _listed(out)
    assert listed == sorted([*OURS, "worker"])  # Faust's internal commands hidden
    assert not set(listed) & {"agents", "send", "tables", "livecheck", "reset", "models"}


def test_all_lists_faust_commands_after_ours(
    calls: Calls, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _main(["--all", "--help"]) == 0
    out = capsys.readouterr().out
    listed = _listed(out)
    faust = ["agents", "clean-versions", "completion", "livecheck", "model", "models"]
    faust += ["reset", "send", "tables"]
    assert listed[-len(faust) :] == faust
    assert "--console-port" in out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--all", "--help"], (True, ["--help"])),
        (["-l", "info", "--all", "worker"], (False, ["-l", "info", "--all", "worker"])),
        (["--all", "worker"], (True, ["worker"])),
        (["dead-letters", "redrive", "--all"], (False, ["dead-letters", "redrive", "--all"])),
        (["--help"], (False, ["--help"])),
    ],
)
def test_only_a_leading_all_is_the_help_switch(
    argv: list[str], expected: tuple[bool, list[str]]
) -> None:
    from ops.help import split_all

    assert split_all(argv) == expected
