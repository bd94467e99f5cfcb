"""Benchmarks that run by hand against a large PostgreSQL database (bench/README.md); never
part of the test suite."""
