"""Evaluation protocols, baselines and metrics (reports are written by `eval/` scripts)."""
