"""Synthetic data for demos and benchmarks; every synthetic row is flagged ``synthetic``."""
