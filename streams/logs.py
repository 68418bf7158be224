"""Worker log lines: text or JSON (`AIRMP_LOG_FORMAT`), with secrets redacted from all of them.

Faust's worker configures logging itself (mode's `setup_logging`, at start), replacing any
handler installed before; it takes a `logging_config` (dictConfig) from the app's settings.
So `faust_options(settings)` gives `create_app` that config: one stdout handler with our
formatter and the redacting filter. `configure(settings)` applies the same config at once,
for commands that are not the worker.
"""

from __future__ import annotations

import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

import orjson

from config import Settings
from config.settings import LogFormat

MASK = "**********"
LEVELS = {"debug": "DEBUG", "info": "INFO", "warn": "WARNING", "error": "ERROR", "crit": "CRITICAL"}
TEXT_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"


def secrets_of(settings: Settings) -> list[str]:
    """The secret values in the settings (empty ones aside), longest first."""
    values = [
        settings.mparticle_api_key,
        settings.mparticle_api_secret,
        settings.air_client_secret,
        settings.mparticle_firehose_token,
        settings.external_key,
        settings.air_webhook_token,
    ]
    if settings.kafka_sasl_password is not None:
        values.append(settings.kafka_sasl_password)
    found = {v.get_secret_value() for v in values if v.get_secret_value()}
    return sorted(found, key=len, reverse=True)


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


class RedactSecrets(logging.Filter):
    """Replaces each secret in a record's message (and arguments) by a mask."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        super().__init__()
        self.secrets = list(secrets or [])

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            clean = redact(message, self.secrets)
            if clean != message or record.args:
                record.msg, record.args = clean, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC ISO 8601), level, logger, message[, exception]."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        super().__init__()
        self.secrets = list(secrets or [])

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage().strip(),
        }
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return redact(orjson.dumps(body).decode(), self.secrets)


class TextFormatter(logging.Formatter):
    """Faust's own line layout, with secrets redacted (tracebacks included)."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        super().__init__(TEXT_FORMAT)
        self.secrets = list(secrets or [])

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


def logging_config(settings: Settings) -> dict[str, Any]:
    secrets = secrets_of(settings)
    level = LEVELS[settings.log_level]
    formatter = JsonFormatter if settings.log_format == LogFormat.json else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactSecrets, "secrets": secrets}},
        "formatters": {"airmp": {"()": formatter, "secrets": secrets}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "airmp",
                "filters": ["redact"],
                "level": level,
            }
        },
        "root": {"level": level, "handlers": ["default"]},
    }


def faust_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `create_app` (-> `faust.App`): the worker's logging config."""
    return {"logging_config": logging_config(settings)}


def configure(settings: Settings) -> None:
    """Configure logging now (commands other than the worker, and the worker's start-up)."""
    logging.config.dictConfig(logging_config(settings))
