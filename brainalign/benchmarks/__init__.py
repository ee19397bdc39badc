"""Benchmarks: where a dataset, a model's features and an alignment metric meet."""
