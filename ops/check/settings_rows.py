"""The checks that need no network: the AIRMP_ variables and the edges' tokens."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import AliasChoices

from config import Settings
from config.settings import ENV_PREFIX, MIN_SECRET_CHARS, SECRETS_DIR_VARIABLE
from ops.check.rows import Row, fail, ok, skip

# AIRMP_ variables that are no setting but read elsewhere: the test and demo tooling's
# (testkit.localkafka, testkit.processes) and the secrets directory's.
NOT_SETTINGS = frozenset(
    {
        "AIRMP_CACHE_DIR",
        "AIRMP_KAFKA_VERSION",
        "AIRMP_KAFKA_START_TIMEOUT",
        "AIRMP_TEST_CWD",
        "AIRMP_WEB_DISABLED",
        SECRETS_DIR_VARIABLE,
    }
)


def known_variables() -> frozenset[str]:
    """Every variable a setting is read from: its name, and its aliases (old names)."""
    names = set(NOT_SETTINGS)
    for field, info in Settings.model_fields.items():
        names.add(ENV_PREFIX + field.upper())
        if isinstance(info.validation_alias, AliasChoices):
            names.update(str(choice).upper() for choice in info.validation_alias.choices)
    return frozenset(names)


def settings_row(environ: Mapping[str, str]) -> Row:
    """The settings were valid (or no command would run); an AIRMP_ variable that is no
    setting is most likely a typo, which pydantic ignores and the default then hides."""
    given = sorted(k.upper() for k in environ if k.upper().startswith(ENV_PREFIX))
    unknown = [name for name in given if name not in known_variables()]
    if unknown:
        return fail("settings", f"not settings (a typo?): {', '.join(unknown)}")
    return ok("settings", f"valid; {len(given)} AIRMP_ variables set")


def edge_rows(settings: Settings) -> list[Row]:
    """With the edges on, each route's secret set (a short one stops start-up already:
    config.settings). Unset, the AIR webhook and /in/mparticle refuse every call, and the
    Firehose edge takes any caller."""
    names = ["edges AIRMP_AIR_WEBHOOK_TOKEN", "edges AIRMP_MPARTICLE_FIREHOSE_TOKEN"]
    names.append("edges AIRMP_EXTERNAL_KEY")
    if not settings.edges_enabled:
        return [skip(name, "edges off (AIRMP_EDGES_ENABLED=false)") for name in names]
    why = {
        names[0]: "the AIR webhook refuses every call",
        names[1]: "the Firehose edge takes membership changes from anyone",
        names[2]: "/in/mparticle and Firehose membership changes are refused (403)",
    }
    secrets = [
        settings.air_webhook_token,
        settings.mparticle_firehose_token,
        settings.external_key,
    ]
    rows = []
    for name, secret in zip(names, secrets, strict=True):
        if not secret.get_secret_value():
            rows.append(fail(name, f"unset: {why[name]}"))
        elif name == names[2] and not settings.connector_id:
            rows.append(fail(name, f"AIRMP_CONNECTOR_ID unset: {why[name]}"))
        else:
            rows.append(ok(name, f"set, {MIN_SECRET_CHARS} characters or more"))
    return rows
