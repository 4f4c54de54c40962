"""The fleet config (clusters, sources, apps, rollouts) and the daemon settings."""
