"""Is the broker there, and does it take our credentials? One clear line when it does not.

aiokafka's clients swallow the reason a connection failed (a refused socket and rejected
SASL credentials both end as "Unable to bootstrap"), so this opens one connection itself,
with the connector's settings, and names the setting to fix. The password never appears:
messages are built from setting names and the bootstrap address only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.conn import create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.protocol.metadata import MetadataRequest

from config import Settings
from config.settings import SecurityProtocol
from streams.kafka_options import aiokafka_options

QUIET_LOGGERS = ("aiokafka", "aiokafka.conn", "aiokafka.client", "aiokafka.consumer")


class BrokerError(Exception):
    """The broker cannot be used; the message is one line naming what to check."""


def quiet_aiokafka() -> None:
    """aiokafka logs each failed connection at ERROR: a CLI prints our one line instead."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _sasl(settings: Settings) -> bool:
    return settings.kafka_security_protocol in (
        SecurityProtocol.SASL_PLAINTEXT,
        SecurityProtocol.SASL_SSL,
    )


def auth_message(settings: Settings) -> str:
    return (
        f"Kafka at {settings.kafka_bootstrap_servers} rejected the credentials "
        f"(SASL {settings.kafka_sasl_mechanism.value}): check AIRMP_KAFKA_SASL_USERNAME and "
        "AIRMP_KAFKA_SASL_PASSWORD (and AIRMP_KAFKA_SASL_MECHANISM)"
    )


def unreachable_message(settings: Settings, detail: str = "") -> str:
    why = f" ({detail})" if detail else ""
    return (
        f"cannot reach Kafka at {settings.kafka_bootstrap_servers}{why}: check "
        "AIRMP_KAFKA_BOOTSTRAP_SERVERS and AIRMP_KAFKA_SECURITY_PROTOCOL"
    )


def _conn_options(settings: Settings) -> dict[str, Any]:
    options = aiokafka_options(settings)
    options.pop("bootstrap_servers")
    return options


def _short(exc: BaseException, settings: Settings) -> str:
    text = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    password = settings.kafka_sasl_password
    if password is not None and password.get_secret_value():
        text = text.replace(password.get_secret_value(), "**********")
    return text


async def check_broker(settings: Settings, timeout: float = 10.0) -> None:
    """Connect to a bootstrap server and ask for metadata; raise `BrokerError` when that
    fails (rejected credentials win over an unreachable host in the message)."""
    options = _conn_options(settings)
    last = ""
    for hostport in settings.kafka_bootstrap_servers.split(","):
        host, port = hostport.rsplit(":", 1)
        try:
            conn = await asyncio.wait_for(
                create_conn(host, int(port), request_timeout_ms=int(timeout * 1000), **options),
                timeout,
            )
        except (SaslAuthenticationFailed, AuthenticationFailedError) as exc:
            raise BrokerError(auth_message(settings)) from exc
        except UnsupportedSaslMechanismError as exc:
            raise BrokerError(
                f"Kafka at {settings.kafka_bootstrap_servers} does not offer SASL "
                f"{settings.kafka_sasl_mechanism.value}: check AIRMP_KAFKA_SASL_MECHANISM"
            ) from exc
        except (TimeoutError, OSError, KafkaError) as exc:
            if _sasl(settings) and "auth" in str(exc).lower():
                raise BrokerError(auth_message(settings)) from exc
            last = _short(exc, settings) if not isinstance(exc, asyncio.TimeoutError) else "timeout"
            continue
        try:
            await asyncio.wait_for(conn.send(MetadataRequest([])), timeout)
            return
        except (TimeoutError, KafkaError, OSError) as exc:
            last = _short(exc, settings) if not isinstance(exc, asyncio.TimeoutError) else "timeout"
        finally:
            conn.close()
    raise BrokerError(unreachable_message(settings, last))


def is_auth_failure(exc: BaseException) -> bool:
    return isinstance(exc, SaslAuthenticationFailed | AuthenticationFailedError)


async def start_up_check(
    settings: Settings, ensure_topics: Callable[[Settings], Awaitable[object]]
) -> None:
    """`ensure_topics` at worker start-up, with aiokafka's opaque failure turned into one line."""
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    quiet_aiokafka()  # our one line replaces aiokafka's "Unable connect" errors
    try:
        await ensure_topics(settings)
    except KafkaError as exc:
        if is_auth_failure(exc):
            raise BrokerError(auth_message(settings)) from exc
        await check_broker(settings)  # raises the precise reason
        raise BrokerError(unreachable_message(settings, type(exc).__name__)) from exc
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
