"""Settings: defaults, normalisation, and one-line errors that name the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config import SettingsError, load_settings

AIRMP = str(Path(sys.executable).parent / "airmp")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AIRMP_"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    s = load_settings()
    assert s.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert s.identity_type == "CARD"
    assert s.mparticle_identity_type == "other"
    assert s.mparticle_wallet_id_type == "customer_id"
    assert s.mparticle_environment == "development"
    assert s.mparticle_api_endpoint == "https://s2s.us1.mparticle.com"
    assert s.kafka_url == "kafka://127.0.0.1:9092"


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRMP_KAFKA_BOOTSTRAP_SERVERS", "kafka://a:9092, b:9093")
    monkeypatch.setenv("AIRMP_MPARTICLE_WALLET_ID_TYPE", "customerid")
    monkeypatch.setenv("AIRMP_MPARTICLE_IDENTITY_TYPE", "OtherId3")
    monkeypatch.setenv("AIRMP_CURRENCY", "jpy")
    monkeypatch.setenv("AIRMP_MPARTICLE_API_ENDPOINT", "eu1")
    monkeypatch.setenv("AIRMP_IDENTITY_TYPE", "customer_id")
    s = load_settings()
    assert s.kafka_bootstrap_servers == "a:9092,b:9093"
    assert s.kafka_url == "kafka://a:9092;kafka://b:9093"
    assert s.mparticle_wallet_id_type == "customer_id"
    assert s.mparticle_identity_type == "other_id_3"
    assert s.currency == "JPY"
    assert s.mparticle_api_endpoint == "https://s2s.eu1.mparticle.com"
    assert s.identity_type == "CUSTOMER_ID"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("AIRMP_CURRENCY", "XX", "invalid setting AIRMP_CURRENCY='XX': must be an ISO 4217"),
        ("AIRMP_CURRENCY", "XAU", "invalid setting AIRMP_CURRENCY='XAU'"),
        ("AIRMP_MPARTICLE_ENVIRONMENT", "prod", "invalid setting AIRMP_MPARTICLE_ENVIRONMENT="),
        ("AIRMP_MPARTICLE_IDENTITY_TYPE", "fax", "must be an mParticle identity type"),
        ("AIRMP_MPARTICLE_API_ENDPOINT", "mars1", "must be a pod (us1, us2, eu1, au1)"),
        ("AIRMP_KAFKA_BOOTSTRAP_SERVERS", "nohost", "must be host:port"),
        ("AIRMP_KAFKA_SECURITY_PROTOCOL", "TLS", "invalid setting AIRMP_KAFKA_SECURITY_PROTOCOL"),
        ("AIRMP_TOPIC_PARTITIONS", "0", "invalid setting AIRMP_TOPIC_PARTITIONS='0'"),
        # An alias is the variable itself, not AIRMP_ + it.
        ("AIRMP_DELIVERY_GRACE_SECONDS", "-1", "invalid setting AIRMP_DELIVERY_GRACE_SECONDS='-1'"),
        (
            "AIRMP_SINK_SHUTDOWN_GRACE_SECONDS",
            "-1",
            "invalid setting AIRMP_DELIVERY_GRACE_SECONDS='-1'",
        ),
    ],
)
def test_invalid_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_secrets_never_show(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRMP_MPARTICLE_API_SECRET", "s3cr3t-value")
    monkeypatch.setenv("AIRMP_KAFKA_SASL_PASSWORD", "kafka-pa55")
    s = load_settings()
    assert "s3cr3t-value" not in repr(s) and "s3cr3t-value" not in str(s)
    assert "kafka-pa55" not in repr(s)
    assert s.mparticle_api_secret.get_secret_value() == "s3cr3t-value"


def test_settings_are_frozen() -> None:
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen error type varies
        load_settings().currency = "USD"  # type: ignore[misc]  # frozen: what this tests


def test_cli_rejects_a_wrong_setting_in_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRMP_")}
    env["AIRMP_CURRENCY"] = "XX"
    result = subprocess.run([AIRMP, "map"], env=env, capture_output=True, text=True, input="")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("airmp: invalid setting AIRMP_CURRENCY='XX': ")


def test_cli_help_lists_commands() -> None:
    result = subprocess.run([AIRMP, "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for command in ("worker", "map", "mock-mparticle"):
        assert command in result.stdout


def test_worker_help_needs_no_broker_and_keeps_fausts_options() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRMP_")}
    env["AIRMP_KAFKA_BOOTSTRAP_SERVERS"] = "127.0.0.1:1"  # nothing listens there
    result = subprocess.run([AIRMP, "worker", "--help"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "--loglevel" in result.stdout and "--web-port" in result.stdout


@pytest.mark.parametrize(
    ("variable", "value", "length"),
    [
        ("AIRMP_MPARTICLE_API_SECRET", "x", "1 character"),
        ("AIRMP_MPARTICLE_API_KEY", "k3y", "3 characters"),
        ("AIRMP_KAFKA_SASL_PASSWORD", "1234567", "7 characters"),
    ],
)
def test_a_short_secret_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, length: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    expected = f"invalid settings: {variable} is {length} long; a secret needs at least 8"
    assert str(info.value) == expected
    monkeypatch.setenv(variable, "12345678")  # 8 is enough
    load_settings()


def test_secrets_are_read_from_the_secrets_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # As Kubernetes mounts a Secret: one file per key, named like the variable; a trailing
    # newline (echo > file) is not part of the secret; the environment wins over a file.
    (tmp_path / "AIRMP_MPARTICLE_API_SECRET").write_text("secret-from-a-file\n")
    (tmp_path / "AIRMP_AIR_WEBHOOK_TOKEN").write_text("token-from-a-file")
    monkeypatch.setenv("AIRMP_SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("AIRMP_AIR_WEBHOOK_TOKEN", "token-from-the-environment")
    settings = load_settings()
    assert settings.mparticle_api_secret.get_secret_value() == "secret-from-a-file"
    assert settings.air_webhook_token.get_secret_value() == "token-from-the-environment"
    (tmp_path / "AIRMP_EXTERNAL_KEY").write_text("short")
    with pytest.raises(SettingsError, match="AIRMP_EXTERNAL_KEY is 5 characters long"):
        load_settings()


def test_a_secrets_directory_that_is_not_there_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRMP_SECRETS_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value) == f"AIRMP_SECRETS_DIR={str(tmp_path / 'nowhere')!r} is not a directory"
