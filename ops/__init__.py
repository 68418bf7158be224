"""Operator commands, one module or package each: `airmp check` (ops/check/), `map`
(ops/map.py), `lag` (ops/lag.py), `replay` (ops/replay/), `dead-letters`
(ops/dead_letters/) and `reward` (ops/reward.py). `airmp worker` is Faust's own worker;
`mock-mparticle` and `mock-air` run the local services of testkit/.

`ops.cli` puts them on `airmp`, Faust's command line for the app (`airmp --help`:
ops/help.py). They may use everything below them (mappers, config, sinks, streams,
testkit); nothing there imports ops.
"""
