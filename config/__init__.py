"""Settings for the connector, read from `AIRMP_` environment variables."""

from config.errors import SettingsError
from config.settings import Settings, load_settings

__all__ = ["Settings", "SettingsError", "load_settings"]
