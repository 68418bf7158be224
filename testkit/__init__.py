"""Support for tests, benchmarks, the demo and chaos runs, installed with the project."""
