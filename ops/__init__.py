"""Operator commands: `airmp map`, `lag`, `replay`, `mock-mparticle`, one module each.

`ops.cli` puts them on `airmp`, Faust's command line for the app. They may use everything
below them (mappers, config, sinks, streams, testkit); nothing there imports ops.
"""
