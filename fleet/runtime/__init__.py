"""The runtime wires the adapters to the engine with anyio task groups."""
