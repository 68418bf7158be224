"""Benchmarks: `make bench` (`python -m bench`), `make bench QUICK=1` for a smoke run."""
