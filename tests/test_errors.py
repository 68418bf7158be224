"""Every exception class of the package code derives from `AirmpError` (issue 25)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from mappers.errors import AirmpError

PACKAGES = ("mappers", "config", "sinks", "streams")


def _defined_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for package in PACKAGES:
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
