"""The pure sync engine: ordering, hooks, health, diff, prune and plans. No I/O, no clock."""
