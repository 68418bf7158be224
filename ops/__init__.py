"""Operator commands, one module or package each: `airmp check` (ops/check/), `map`
(ops/map.py), `lag` (ops/lag.py), `replay` (ops/replay/), `dead-letters`
(ops/dead_letters/) and `reward` (ops/reward.py). `airmp worker` is Faust's own worker;
`mock-mparticle` and `mock-air` run the local services of testkit/.

`ops.cli` puts them on `airmp`, Faust's command line for the app (`airmp --help`:
ops/help.py). Each is a function `(settings, options, out, err) -> exit status` run by
`ops.runner` (the event loop, one-line errors with exit status 2, Ctrl-C); what they raise
on purpose is in `ops.errors`, beneath `mappers.errors.AirmpError`.

They may use everything below them (mappers, config, sinks, streams, testkit); nothing
there imports ops.
"""
