"""The one way an operator command runs (ops/runner.py): our errors and Kafka's as one line
with exit status 2, Ctrl-C as one line with exit status 130, whatever the command."""

from __future__ import annotations

import io
from typing import NoReturn

import pytest

from ops.errors import OpsError
from ops.runner import guarded
from streams.kafka import BrokerError


def _raise(exc: BaseException) -> NoReturn:
    raise exc


@pytest.mark.parametrize(
    ("exc", "interrupted", "status", "line"),
    [
        (OpsError("no such topic: t"), None, 2, "airmp lag: no such topic: t\n"),
        (
            BrokerError("brokers 127.0.0.1:1 did not answer"),
            None,
            2,
            "airmp lag: brokers 127.0.0.1:1 did not answer\n",
        ),
        (KeyboardInterrupt(), None, 130, "airmp lag: interrupted\n"),
        (
            KeyboardInterrupt(),
            "stopped: nothing was produced after offset 4",
            130,
            "airmp lag: stopped: nothing was produced after offset 4\n",
        ),
    ],
)
def test_errors_and_ctrl_c_end_in_one_line(
    exc: BaseException, interrupted: str | None, status: int, line: str
) -> None:
    err = io.StringIO()
    assert guarded("airmp lag", lambda: _raise(exc), err, interrupted=interrupted) == status
    assert err.getvalue() == line


def test_a_command_s_own_status_passes_through() -> None:
    err = io.StringIO()
    assert guarded("airmp lag", lambda: 1, err) == 1 and err.getvalue() == ""
