"""Frozen data shared by every layer: object references, manifests, results. No I/O."""
