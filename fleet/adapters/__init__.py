"""Thin adapters that do all of fleet's I/O: Kubernetes, Git, rendering, SQLite, HTTP."""
