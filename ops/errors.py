"""The exceptions of the operator commands, beneath the project's root. Each one is an
operator's mistake or a missing topic, said in one line by `ops.runner` (exit status 2):

    AirmpError (mappers.errors)
    └── OpsError: an operator command stops with one line, exit status 2
        ├── UsageError: arguments the command cannot use (airmp map, airmp reward)
        ├── ReplayError: replay's range or topic; also dead-letters' --since/--until, which
        │   are read with replay's time parser
        └── DeadLettersError: dead-letters' filters, or no dead-letter topic

Kafka's own errors are `streams.kafka.BrokerError`; the runner says them the same way.
"""

from __future__ import annotations

from mappers.errors import AirmpError


class OpsError(AirmpError):
    """An operator command stops: the message is its one line, the exit status 2."""


class UsageError(OpsError):
    """Arguments the command cannot use."""


class ReplayError(OpsError):
    """Bad arguments, or a topic that cannot be replayed: one line, exit status 2."""


class DeadLettersError(OpsError):
    """Bad arguments, or no dead-letter topic: one line, exit status 2."""
