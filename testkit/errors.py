"""The exceptions of the test support, beneath the project's root:

    AirmpError (mappers.errors)
    └── TestkitError
        ├── NotificationRefused: a target of the local AIR refused a SERVICE.TRIGGER
        │   notification for good (a 4xx from a webhook); not retried
        └── Undocumented (also a ValueError): the registry or a mapper says something
            testkit/mapping_words.py does not describe (docs/mapping.md is stale)

The local AIR's bad options (no credentials, an unknown fault, a trigger it cannot read)
are plain `ValueError`s, as `airmp mock-air` says them in one line.
"""

from __future__ import annotations

from mappers.errors import AirmpError


class TestkitError(AirmpError):
    """Anything the test support raises on purpose."""

    __test__ = False  # a class named Test*: not one for pytest to collect


class NotificationRefused(TestkitError):
    """A target refused a notification for good (a 4xx from a webhook): not retried.
    (`sinks.Refused` is another thing: a record mParticle refused.)"""


class Undocumented(TestkitError, ValueError):
    """The registry or a mapper says something testkit/mapping_words.py does not describe."""
