"""Every exception class of the package code derives from `AirmpError` (issue 25)."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

from mappers.errors import AirmpError

PACKAGES = ("mappers", "config", "sinks", "streams")
SUPPORT = ("ops", "testkit", "chaos", "bench")  # and scripts/, a directory of files


def _defined_exceptions(packages: tuple[str, ...] = PACKAGES) -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for package in packages:
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                if (
                    inspect.isclass(value)
                    and issubclass(value, BaseException)
                    and value.__module__ == info.name
                ):
                    found[f"{info.name}.{name}"] = value
    return found


def test_every_exception_of_the_packages_derives_from_airmp_error() -> None:
    found = _defined_exceptions()
    assert sorted(name for name, cls in found.items() if not issubclass(cls, AirmpError)) == []
    assert sorted(found) == [
        "config.errors.SettingsError",
        "mappers.errors.AirmpError",
        "mappers.errors.MissingOperation",
        "sinks.errors.AirCredentialsRejected",
        "sinks.errors.AuthenticationFailed",
        "sinks.errors.CredentialsRejected",
        "sinks.errors.DeliveryError",
        "sinks.errors.NotSent",
        "streams.errors.BrokerError",
        "streams.errors.KafkaUnavailable",
        "streams.errors.Rebalancing",
        "streams.errors.TooLarge",
    ]


def test_the_old_names_still_import() -> None:
    from sinks import AirCredentialsRejected, AuthenticationFailed, DeliveryError, NotSent
    from sinks.air import AirCredentialsRejected as FromAir
    from sinks.client import DeliveryError as FromClient
    from streams.kafka import BrokerError

    assert FromAir is AirCredentialsRejected and FromClient is DeliveryError
    assert issubclass(AuthenticationFailed, DeliveryError) and issubclass(NotSent, AirmpError)
    assert issubclass(BrokerError, AirmpError)


def test_every_exception_of_the_operator_and_support_code_derives_from_airmp_error() -> None:
    found = _defined_exceptions(SUPPORT)
    assert found  # the scan sees them (OpsError, EdgeRefused, NotificationRefused, ...)
    assert sorted(name for name, cls in found.items() if not issubclass(cls, AirmpError)) == []
    scripts = Path(__file__).resolve().parents[1] / "scripts"
    for path in sorted(scripts.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = {ast.unparse(b) for b in node.bases}
                if bases & {"Exception", "ValueError", "RuntimeError"}:
                    raise AssertionError(f"{path.name}: {node.name} derives from {bases}")
