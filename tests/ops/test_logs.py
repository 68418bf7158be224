"""AIRMP_LOG_FORMAT=json on a real worker: JSON log lines, with secret values redacted."""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
import pytest

from config import load_settings
from streams.logs import MASK, JsonFormatter, RedactSecrets, logging_config
from testkit.processes import Worker, http_status, poll, worker_env


def test_filter_and_formatter_redact_every_secret() -> None:
    record = logging.LogRecord(
        "airmp.x", logging.WARNING, __file__, 1, "key=%s pw=%s", ("k-1", "p-2"), None
    )
    assert RedactSecrets(["k-1", "p-2"]).filter(record)
    line = orjson.loads(JsonFormatter(["k-1"]).format(record))
    assert line["message"] == f"key={MASK} pw={MASK}"
    assert (line["level"], line["logger"]) == ("WARNING", "airmp.x")


def test_config_holds_the_configured_secrets() -> None:
    settings = load_settings(
        mparticle_api_key="the-api-key",
        mparticle_api_secret="the-secret-value",
        kafka_sasl_password="password",
    )
    config = logging_config(settings)
    assert config["filters"]["redact"]["secrets"] == ["the-secret-value", "the-api-key", "password"]


@pytest.mark.integration
def test_worker_logs_json_without_secrets(kafka_bootstrap: str, tmp_path: Path) -> None:
    env = worker_env(kafka_bootstrap, tmp_path, AIRMP_SINK_ENABLED="false", AIRMP_LOG_FORMAT="json")
    # Secrets that the worker does log: its topic names (the password is unused on PLAINTEXT).
    env["AIRMP_KAFKA_SASL_PASSWORD"] = env["AIRMP_INPUT_TOPIC"]
    env["AIRMP_MPARTICLE_API_KEY"] = env["AIRMP_RECORDS_TOPIC"]
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        url = f"http://127.0.0.1:{env['AIRMP_WEB_PORT']}/readyz"
        assert poll(lambda: http_status(url) == 200, timeout=90), worker.log()[-3000:]
    finally:
        assert worker.stop() == 0
    text = worker.log()
    assert env["AIRMP_INPUT_TOPIC"] not in text
    assert env["AIRMP_RECORDS_TOPIC"] not in text
    lines = [orjson.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert len(lines) >= 10
    assert all(set(line) >= {"time", "level", "logger", "message"} for line in lines)
    assert any(MASK in line["message"] for line in lines)
    # Without AIR credentials the worker says once that rewards are off.
    off = [line for line in lines if line["message"].startswith("rewards off: ")]
    assert len(off) == 1 and off[0]["logger"] == "airmp.app"
    # Faust's start-up banner (a table printed, not logged) is the only other output.
    others = [line for line in text.splitlines() if line.strip() and not line.startswith("{")]
    assert all(line[0] in "+|" for line in others), others[:20]
