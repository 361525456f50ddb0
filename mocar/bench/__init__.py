"""Benchmark stage: one runner per runtime, parity against the float reference, latency, reports."""
