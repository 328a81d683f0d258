"""Metric suite, ablation runner and paper-ready reports."""
