"""Logs, traces and metrics: how operators see what fleet does."""
