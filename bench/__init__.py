"""Benchmarks (`make bench`); a package so that tests can reuse their seeding and load generator."""
