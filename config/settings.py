"""The connector's settings: every knob is an `AIRMP_` environment variable.

Invalid values stop start-up with one line that names the variable and what is allowed
(`SettingsError`); secrets are `SecretStr`, so they never reach a log, a repr or an error.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.errors import SettingsError
from mappers.currencies import is_currency
from mappers.vocabulary import API_DEFAULT_RATE_LIMIT, normalise_identity_key

ENV_PREFIX = "AIRMP_"
DEFAULT_MAX_MESSAGE_BYTES = 8 * 1024 * 1024
KAFKA_HEADROOM_BYTES = 64 * 1024  # keys, headers and record overhead beyond a notification
MIN_SECRET_CHARS = 8
SECRETS_DIR_VARIABLE = "AIRMP_SECRETS_DIR"  # one file per setting, named like its variable

MPARTICLE_PODS = {
    "us1": "https://s2s.us1.mparticle.com",
    "us2": "https://s2s.us2.mparticle.com",
    "eu1": "https://s2s.eu1.mparticle.com",
    "au1": "https://s2s.au1.mparticle.com",
}


class Environment(StrEnum):
    production = "production"
    development = "development"


class SecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


class SaslMechanism(StrEnum):
    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


class LogFormat(StrEnum):
    text = "text"
    json = "json"


class Settings(BaseSettings):
    """All settings; the field name upper-cased with `AIRMP_` before it is the variable."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        case_sensitive=False,
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    # --- Kafka ---------------------------------------------------------------------------
    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", description="host:port[,host:port]")
    kafka_security_protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT
    kafka_sasl_mechanism: SaslMechanism = SaslMechanism.PLAIN
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_ca_file: str | None = None
    kafka_ssl_cert_file: str | None = None
    kafka_ssl_key_file: str | None = None
    kafka_session_timeout_seconds: float = Field(
        30.0, ge=6, le=300, description="how soon a dead worker's partitions move on"
    )
    app_id: str = Field("airmp", description="Faust app id: prefix of consumer groups")
    input_topic: str = "air-notifications"
    records_topic: str = "mparticle-records"
    dead_letter_topic: str = "air-dead-letters"
    topic_partitions: int = Field(6, ge=1, le=1000)
    topic_replication_factor: int = Field(1, ge=1, le=10)
    # Off where topics are provisioned by a platform team: the worker then creates none and
    # stops with one line naming the missing ones (Faust's changelog topics are Faust's own).
    topic_auto_create: bool = Field(True, description="the worker creates missing topics")
    max_message_bytes: int = Field(
        DEFAULT_MAX_MESSAGE_BYTES,
        ge=1024 * 1024,
        description="largest notification handled (and dead-lettered)",
    )
    store: str = Field("rocksdb://", description="Faust table store: rocksdb:// or memory://")
    # Faust's table_standby_replicas (its default, 1): a warm copy of each table partition
    # on another worker, so losing a node costs the changelog's tail, not a rebuild
    # (docs/capacity.md); a volume then holds twice its share.
    table_standby_replicas: int = Field(1, ge=0, le=5, description="standby copies of state")
    data_dir: str = Field("var/airmp-data", description="where table stores live")
    # Faust's RocksDB defaults (64 MiB x 3 memtables and a 2 GiB block cache per partition)
    # let a worker's RSS grow with every state write for hundreds of MiB before it levels.
    rocksdb_write_buffer_mb: int = Field(
        2, ge=1, le=1024, description="RocksDB memtable size per table partition"
    )
    rocksdb_block_cache_mb: int = Field(
        4, ge=1, le=16384, description="RocksDB read cache per table partition"
    )
    web_port: int = Field(6066, ge=0, le=65535)

    # --- Mapping -------------------------------------------------------------------------
    identity_type: str = Field("CARD", description="AIR identity type that finds the consumer")
    mparticle_identity_type: str = "other"
    mparticle_wallet_id_type: str = "customer_id"
    currency: str = Field("GBP", description="ISO 4217 code of AIR's minor-unit amounts")
    mparticle_environment: Environment = Environment.development
    dedup_window_seconds: int = Field(7 * 24 * 3600, ge=0)
    dedup_max_ids: int = Field(256, ge=0, le=100_000)
    recent_transactions_max: int = Field(64, ge=0, le=10_000)

    # --- mParticle delivery --------------------------------------------------------------
    mparticle_api_endpoint: str = Field("us1", description="base URL, or a pod: us1 us2 eu1 au1")
    mparticle_api_key: SecretStr = SecretStr("")
    mparticle_api_secret: SecretStr = SecretStr("")
    sink_enabled: bool = Field(True, description="run the sink agent in this worker")
    sink_linger_seconds: float = Field(1.0, gt=0, le=60)
    sink_rate_limit: float = Field(API_DEFAULT_RATE_LIMIT, gt=0, description="batches per second")
    sink_max_in_flight: int = Field(4, ge=1, le=64)
    sink_timeout_seconds: float = Field(30.0, gt=0)
    # Off by default: a merged batch's id depends on how records were grouped, so after a crash
    # a re-send may group differently and mParticle could not drop the duplicate.
    sink_merge_user_batches: bool = False
    sink_max_backoff_seconds: float = Field(60.0, gt=0)
    # How long a delivery in flight (to mParticle or AIR) may go on once the worker is told
    # to stop or its partitions are revoked; the old name still works.
    delivery_grace_seconds: float = Field(
        10.0,
        ge=0,
        le=600,
        validation_alias=AliasChoices(
            "AIRMP_DELIVERY_GRACE_SECONDS", "AIRMP_SINK_SHUTDOWN_GRACE_SECONDS"
        ),
    )

    # --- AIR as a destination: rewards (and SPEND.VOID look-ups) -------------------------
    # Without a client id and secret the reward path is off (the worker says so at start).
    air_client_id: str = Field("", description="AIR API client id (X-EES-AUTH-CLIENT-ID)")
    air_client_secret: SecretStr = SecretStr("")
    air_wallet_url: str = Field(
        "", description="AIR wallet domain, e.g. https://wallet.sandbox.uk.eagleeye.com"
    )
    air_timeout_seconds: float = Field(10.0, gt=0, le=300)
    air_rate_limit: float = Field(10.0, gt=0, description="AIR requests per second at most")
    air_max_in_flight: int = Field(8, ge=1, le=256, description="concurrent requests to AIR")
    air_max_backoff_seconds: float = Field(60.0, gt=0, description="cap of the retry interval")
    reward_topic: str = "air-reward-requests"
    # Membership changes as the Firehose edge took them (account settings dropped), fanned
    # out into the reward topic by the worker's fan-out agent.
    audience_topic: str = "mparticle-audience-changes"
    reward_memory_days: int = Field(
        30, ge=1, le=3650, description="how long a granted reference is remembered"
    )

    # --- The edges: HTTP into Kafka on the worker's web port --------------------------------
    edges_enabled: bool = Field(True, description="serve the HTTP edges on the web port")
    agents_enabled: bool = Field(True, description="run the agents (false: edges only)")
    mparticle_firehose_token: SecretStr = SecretStr("")  # Authorization: Token <this>
    connector_id: str = Field("", description="the AIR Connector ID mParticle's settings carry")
    external_key: SecretStr = SecretStr("")  # the AIR external Key (X-Auth-Token of /in/)
    air_webhook_token: SecretStr = SecretStr("")  # AIR's pre-shared token for the webhook
    air_webhook_token_header: str = Field("X-Auth-Token", min_length=1)
    edge_kafka_timeout_seconds: float = Field(
        5.0, gt=0, le=120, description="longest wait for Kafka's ack before answering 429"
    )
    edge_header_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="a connection without request headers by then is closed"
    )

    # --- Operations ----------------------------------------------------------------------
    log_format: LogFormat = LogFormat.text
    log_level: str = "info"
    # operations (streams/timers.py: the lag gauge and the broker check; streams/logs.py)
    lag_metrics_interval_seconds: float = Field(
        15.0, ge=1, le=3600, description="how often the consumer-lag gauge is updated"
    )
    broker_check_interval_seconds: float = Field(
        2.0, ge=0.5, le=300, description="how often readiness checks the broker answers"
    )

    @field_validator("identity_type")
    @classmethod
    def _identity_type(cls, value: str) -> str:
        value = value.strip().upper()
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", value):
            raise ValueError("must be an AIR identity type such as CARD, CUSTOMER_ID, MOBILE")
        return value

    @field_validator("mparticle_identity_type", "mparticle_wallet_id_type")
    @classmethod
    def _mparticle_identity(cls, value: str) -> str:
        return normalise_identity_key(value)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        code = value.strip().upper()
        if not is_currency(code):
            raise ValueError("must be an ISO 4217 currency code such as USD, GBP, EUR, JPY")
        return code

    @field_validator("mparticle_api_endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        value = value.strip()
        if value.lower() in MPARTICLE_PODS:
            return MPARTICLE_PODS[value.lower()]
        if not re.fullmatch(r"https?://[^\s/]+(:\d+)?(/[^\s]*)?", value):
            raise ValueError("must be a pod (us1, us2, eu1, au1) or a base URL like https://host")
        return value.rstrip("/")

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _bootstrap(cls, value: str) -> str:
        hosts = [h.strip() for h in value.replace("kafka://", "").split(",") if h.strip()]
        if not hosts or not all(re.fullmatch(r"[^\s:]+:\d{1,5}", h) for h in hosts):
            raise ValueError("must be host:port, or several separated by commas")
        return ",".join(hosts)

    @field_validator("store")
    @classmethod
    def _store(cls, value: str) -> str:
        if value not in ("rocksdb://", "memory://"):
            raise ValueError("must be rocksdb:// or memory://")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ("debug", "info", "warn", "error", "crit"):
            raise ValueError("must be one of debug, info, warn, error, crit")
        return value

    @field_validator("air_wallet_url")
    @classmethod
    def _air_wallet_url(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"https?://[^\s/]+(:\d+)?(/[^\s]*)?", value):
            raise ValueError("must be a base URL like https://wallet.sandbox.uk.eagleeye.com")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _air_credentials(self) -> Settings:
        given = {
            "AIRMP_AIR_CLIENT_ID": bool(self.air_client_id),
            "AIRMP_AIR_CLIENT_SECRET": bool(self.air_client_secret.get_secret_value()),
            "AIRMP_AIR_WALLET_URL": bool(self.air_wallet_url),
        }
        if any(given.values()) and not all(given.values()):
            missing = ", ".join(name for name, ok in given.items() if not ok)
            raise ValueError(f"AIR is half configured: {missing} missing")
        return self

    @model_validator(mode="after")
    def _secrets_long_enough(self) -> Settings:
        # Logs mask every occurrence of a secret's text: a short one would be masked inside
        # ordinary words ("Wor**********er ready"), and it would be easy to guess anyway.
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if field.annotation in (SecretStr, SecretStr | None) and value is not None:
                length = len(value.get_secret_value())
                if 0 < length < MIN_SECRET_CHARS:
                    raise ValueError(
                        f"{env_name(name)} is {length} character{'s' * (length > 1)} long; "
                        f"a secret needs at least {MIN_SECRET_CHARS}"
                    )
        return self

    @property
    def air_enabled(self) -> bool:
        """AIR credentials are set: rewards are delivered and SPEND.VOID may ask AIR."""
        return bool(self.air_client_id)

    @property
    def kafka_max_bytes(self) -> int:
        """Kafka's size limit for our topics, fetches and produce requests: the largest
        notification plus room for keys, headers and record overhead, so a notification the
        input topic took always fits the by-wallet and dead-letter topics too."""
        return self.max_message_bytes + KAFKA_HEADROOM_BYTES

    @property
    def kafka_url(self) -> str:
        """The bootstrap servers as Faust's broker URL list."""
        return ";".join(f"kafka://{h}" for h in self.kafka_bootstrap_servers.split(","))


def _describe(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if not error.get("loc"):  # a check across settings: its message names them (no values)
        return f"invalid settings: {message}"
    variable = str(error["loc"][0]).upper()  # a field name, or an alias: a variable
    field = variable.removeprefix(ENV_PREFIX).lower()
    variable = env_name(field) if field in Settings.model_fields else variable
    secret = Settings.model_fields.get(field) or _aliased(variable)
    if secret is not None and secret.annotation in (SecretStr, SecretStr | None):
        return f"invalid setting {variable}: {message}"
    return f"invalid setting {variable}={error.get('input')!r}: {message}"


def env_name(field: str) -> str:
    """The variable of a setting: its first alias, else `AIRMP_` and its name upper-cased."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return ENV_PREFIX + field.upper()


def _aliased(variable: str) -> Any:
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices) and variable in alias.choices:
            return field
    return None


def load_settings(**overrides: Any) -> Settings:
    """Read the environment, then the secrets directory (`AIRMP_SECRETS_DIR`: one file per
    setting, named like its variable, as Kubernetes mounts a Secret; the environment wins),
    and `overrides`; raise `SettingsError` with one clear line."""
    secrets_dir = os.environ.get(SECRETS_DIR_VARIABLE) or None
    if secrets_dir is not None and not os.path.isdir(secrets_dir):
        raise SettingsError(f"{SECRETS_DIR_VARIABLE}={secrets_dir!r} is not a directory")
    try:
        # `_secrets_dir` is pydantic-settings' init argument, unknown to the type of __init__.
        return Settings(_secrets_dir=secrets_dir, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise SettingsError("; ".join(_describe(e) for e in exc.errors())) from None
