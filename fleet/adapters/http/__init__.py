"""fleet's HTTP surface: the daemon's API, the Git push webhook receiver, and its client."""
