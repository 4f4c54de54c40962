"""The engine's public surface: what the runtime imports stays exported.

That the engine imports no I/O library is checked by import-linter (.importlinter).
"""

from __future__ import annotations

import fleet.engine

RUNTIME_API = {
    "decide",
    "SyncInput",
    "SyncOptions",
    "Timeouts",
    "RetryPolicy",
    "Progress",
    "Batch",
    "Running",
    "Succeeded",
    "Failed",
    "Failure",
    "Reason",
    "Action",
    "ActionResult",
    "ApiError",
    "DryRun",
    "Apply",
    "Prune",
    "CreateHook",
    "DeleteHook",
    "ReleaseHook",
    "Wait",
    "apply_order",
    "assess",
    "app_health",
    "compare",
    "rebuild_inventory",
    "extraneous",
    "decide_retry",
    "backoff_delay",
    "is_retryable",
    "read_settings",
    "AnnotationError",
}


def test_the_runtime_api_is_exported() -> None:
    assert set(fleet.engine.__all__) >= RUNTIME_API
    for name in fleet.engine.__all__:
        assert getattr(fleet.engine, name) is not None
