"""The root of the project's exceptions, and the mapping core's own.

Every exception class of `mappers/`, `config/`, `sinks/` and `streams/` derives from
`AirmpError`, so a caller (an operator command, a test, an embedding application) can catch
everything of ours in one clause and nothing else. Each package keeps its exceptions in its
own `errors` module, beneath this root, and re-exports them from its `__init__`. It lives in
`mappers/`, the lowest layer, so that every package may import it. The tree (as httpx draws
its own in `_exceptions.py`):

    AirmpError
    ├── MissingOperation           mappers: an event lacks the operation its rule needs
    ├── SettingsError              config: a setting that cannot be used
    ├── DeliveryError              sinks: a target answered what no retry can fix
    │   └── CredentialsRejected    sinks: 401/403, the target refuses our credentials
    │       ├── AuthenticationFailed      mParticle's
    │       └── AirCredentialsRejected    AIR's
    ├── NotSent                    sinks: the caller said no before the request went out
    ├── BrokerError                streams: the broker cannot be used
    ├── KafkaUnavailable           streams: an edge's produce did not finish in time (429)
    ├── TooLarge                   streams: an edge's body over the limit (413)
    └── Rebalancing                streams: the partitions are being revoked; leave the work

A delivering agent's loop (streams/delivery.py) acts on `DeliveryError` and its branch:
credentials refused stop that path, any other unfixable answer pauses it.
"""

from __future__ import annotations


class AirmpError(Exception):
    """Anything the connector raises on purpose."""


class MissingOperation(AirmpError):
    """The event lacks the operation its rule needs: dead-lettered as missing_operation."""
