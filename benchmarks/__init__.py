"""Benchmarks: ``python -m benchmarks`` (see docs/benchmarks.md)."""
