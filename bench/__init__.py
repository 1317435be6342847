"""Benchmarks that print figures: `make bench` (`python -m bench`) runs every `bench_*.py` here.

Each module exposes `run() -> dict[str, float]` with dotted keys (`api.p50_ms`) and can also be run
alone as a script. Benchmarks measure and print; they never assert timings.
"""
