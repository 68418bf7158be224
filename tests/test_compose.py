"""docker-compose.yml against the code it runs: every AIRMP_ variable it sets is a setting,
every `airmp` command it runs exists with the options it passes, the worker's healthcheck is
valid Python on /readyz, and Debian's `docker-compose config` accepts the file (skipped, with
the reason, where docker-compose is not installed). The services themselves are run by
`make image-test` (the image's ones) or not at all here (apache/kafka, prom/prometheus and
grafana/grafana cannot be pulled on this machine)."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import click
import pytest
import yaml
from pydantic import AliasChoices

from config.settings import ENV_PREFIX, Settings
from ops.cli import cli
from testkit.processes import ROOT

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"


def services() -> dict[str, dict[str, Any]]:
    loaded: dict[str, dict[str, Any]] = yaml.safe_load(COMPOSE.read_text())["services"]
    return loaded


def setting_variables() -> set[str]:
    """Every variable Settings reads: AIRMP_ + the field name upper-cased, and its aliases."""
    names: set[str] = set()
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice).upper() for choice in alias.choices)
        else:
            names.add(f"{ENV_PREFIX}{name}".upper())
    return names


def image_command() -> list[str]:
    """The Dockerfile's ENTRYPOINT + CMD: what a service built from it runs by default."""
    text = DOCKERFILE.read_text()
    found = [
        yaml.safe_load(m.group(2))
        for m in re.finditer(r"^(ENTRYPOINT|CMD) (\[.*\])$", text, flags=re.MULTILINE)
    ]
    return [*found[0], *found[1]]


def airmp_commands() -> dict[str, list[str]]:
    """Per service built from the image, the `airmp` arguments it runs."""
    out: dict[str, list[str]] = {}
    default = image_command()
    for name, service in services().items():
        if service.get("build") != ".":
            continue
        entrypoint = service.get("entrypoint")
        out[name] = [*entrypoint, *service.get("command", [])] if entrypoint else default
    return out


def test_the_settings_know_the_alias_of_the_delivery_grace() -> None:
    variables = setting_variables()
    assert {"AIRMP_DELIVERY_GRACE_SECONDS", "AIRMP_SINK_SHUTDOWN_GRACE_SECONDS"} <= variables
    assert "AIRMP_KAFKA_BOOTSTRAP_SERVERS" in variables


def test_every_airmp_variable_compose_sets_is_a_setting() -> None:
    known = setting_variables()
    set_here = {
        (name, variable)
        for name, service in services().items()
        for variable in service.get("environment", {})
        if variable.startswith(ENV_PREFIX)
    }
    assert {name for name, _ in set_here} == {"mparticle", "air", "worker"}
    assert sorted(pair for pair in set_here if pair[1] not in known) == []


def test_the_image_runs_the_worker_by_default() -> None:
    assert image_command() == ["airmp", "worker"]
    assert airmp_commands()["worker"] == ["airmp", "worker"]


def test_every_command_compose_runs_exists_with_its_options() -> None:
    commands = airmp_commands()
    assert sorted(commands) == ["air", "mparticle", "worker"]
    for service, argv in commands.items():
        assert argv[0] == "airmp", service
        command = cli.commands.get(argv[1])
        assert command is not None, f"{service}: no `airmp {argv[1]}`"
        # Parsed as click would at start: an unknown option or a bad value raises here.
        context = command.make_context(f"airmp {argv[1]}", list(argv[2:]))
        assert context.command is command


def test_mock_air_posts_back_to_the_worker_webhook() -> None:
    argv = airmp_commands()["air"]
    command = cli.commands["mock-air"]
    assert isinstance(command, click.Command)
    params = command.make_context("airmp mock-air", list(argv[2:])).params
    assert params["emit_url"] == "http://worker:6066/air/notifications"
    assert (params["host"], params["port"]) == ("0.0.0.0", 8091)


def test_the_worker_healthcheck_asks_readyz_with_python() -> None:
    check = services()["worker"]["healthcheck"]
    kind, program, flag, code = check["test"]
    assert (kind, program, flag) == ("CMD", "python", "-c")
    assert "/readyz" in code and "'AIRMP_WEB_PORT', '6066'" in code
    compile(code, "healthcheck", "exec")  # a syntax error would make it fail forever


def test_docker_compose_config_accepts_the_file() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    done = subprocess.run(
        [binary, "-f", str(COMPOSE), "config", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (0, "")
