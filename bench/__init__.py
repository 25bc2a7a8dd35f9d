"""Benchmarks: `make bench` (python -m bench). Loads go to 127.0.0.1 only and stop by themselves."""
