"""The engine's sync options for an app, from its syncPolicy, ignoreDifferences and health.

The engine takes plain frozen options (seconds, not durations; tuples, not config
models); this is the one place that translates, so engine and config agree on defaults.
"""

from __future__ import annotations

from fleet.config.apps import App
from fleet.config.projects import Project
from fleet.engine.options import SyncOptions, Timeouts
from fleet.engine.retry import RetryPolicy


def sync_options(app: App, project: Project | None = None) -> SyncOptions:
    """The options the engine plans ``app``'s syncs with (per-sync flags left default);
    ``project`` is the app's project, whose bounds the engine enforces."""
    policy = app.sync_policy
    backoff = policy.retry.backoff
    return SyncOptions(
        prune=policy.prune,
        prune_last=policy.prune_last,
        allow_empty=policy.allow_empty,
        prune_guard_share=policy.prune_guard.max_share,
        prune_guard_min_objects=policy.prune_guard.min_objects,
        apply_out_of_sync_only=policy.apply_out_of_sync_only,
        respect_ignore_differences=policy.respect_ignore_differences,
        create_namespace=policy.create_namespace,
        namespace=app.namespace or "",
        prune_propagation=policy.prune_propagation,
        timeouts=Timeouts(
            health=policy.timeouts.wave.total_seconds(),
            hook=policy.timeouts.hook.total_seconds(),
            deletion=policy.timeouts.prune.total_seconds(),
        ),
        retry=RetryPolicy(
            max_attempts=policy.retry.limit,
            base_delay=backoff.duration.total_seconds(),
            factor=backoff.factor,
            max_delay=backoff.max_duration.total_seconds(),
        ),
        ignore_differences=tuple(app.ignore_differences),
        health_rules=tuple(app.health),
        bounds=project.bounds() if project is not None else None,
        adopt=policy.adopt,
    )
