"""Simulated Kubernetes API servers, for the demo, the tests and the benchmarks."""
