"""`make chaos` (`python -m chaos`): the connector under faults, judged by what the local
mParticle endpoint accepted against `airmp map` over the same input."""
