"""`airmp check`: the settings, and every configured dependency reached without side
effects, one row per check (`rows.py`); see docs/operations.md ("airmp check").

- `settings_rows`: AIRMP_ variables that are no setting, the edges' tokens (no network);
- `kafka_facts` (I/O) and `kafka_rows` (pure): brokers, group, topics;
- `services`: mParticle's and AIR's credentials, one refused request each;
- `run`: gathers the rows and prints them (`run_check`, run by `ops.runner` as every command).
"""

from ops.check.run import CheckOptions, run_check

__all__ = ["CheckOptions", "run_check"]
