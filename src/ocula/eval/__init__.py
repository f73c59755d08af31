"""Evaluation on real benchmarks: metrics and the harnesses that compute them."""
