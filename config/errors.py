"""The settings' exceptions, beneath `mappers.errors.AirmpError` (the tree is drawn there)."""

from __future__ import annotations

from mappers.errors import AirmpError


class SettingsError(AirmpError):
    """A setting that cannot be used; the message is one line naming the variable."""
