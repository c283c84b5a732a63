"""Benchmarks: run them with make bench (they are not tests)."""
