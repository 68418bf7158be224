"""The root of the project's exceptions: every exception class the connector defines
derives from `AirmpError`, so a caller (an operator command, a test, an embedding
application) can catch everything of ours in one clause and nothing else.

Each package keeps its own exceptions in its own `errors` module, beneath this root (the
tree is drawn in `mappers/__init__.py`'s neighbours as they are added). It lives in
`mappers/`, the lowest layer, so that every package may import it.
"""

from __future__ import annotations


class AirmpError(Exception):
    """Anything the connector raises on purpose."""
