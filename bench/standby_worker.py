"""`python -m bench.standby_worker worker ...`: `airmp worker` with Faust standby replicas.

The product does not expose `table_standby_replicas` (streams/app.py `app_options` has no
such setting), and the capacity benchmark must not change streams/. `create_app` already
takes extra Faust options, so this harness wraps it with the number of standbys from
AIRMP_BENCH_STANDBY_REPLICAS (default 1) and then runs the real CLI: everything else is
the shipped worker. Bench-only: nothing in the product imports it.
"""

from __future__ import annotations

import functools
import os

from ops import cli
from streams.app import create_app


def main() -> None:
    replicas = int(os.environ.get("AIRMP_BENCH_STANDBY_REPLICAS", "1"))
    # ops.cli looks create_app up in its own globals at call time, so this is what it runs.
    cli.create_app = functools.partial(create_app, table_standby_replicas=replicas)  # type: ignore[assignment]
    cli.main()


if __name__ == "__main__":
    main()
