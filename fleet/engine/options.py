"""How one app syncs: the settings the engine takes from the fleet config.

Per-object annotations (fleet.engine.annotations) refine some of these for one object;
these are the app-wide values and defaults. The config layer builds a ``SyncOptions`` from
the app's ``syncPolicy``, ``ignoreDifferences`` and ``health`` sections.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fleet.engine.bounds import ProjectBounds
from fleet.engine.health import CustomHealth
from fleet.engine.retry import RetryPolicy
from fleet.model.health_rules import HealthRuleSet
from fleet.model.ignore_differences import IgnoreDifference


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds each kind of wait may last before the sync fails (Argo CD waits forever)."""

    #: Resources of one step (phase and wave) becoming healthy.
    health: float = 300.0
    #: Hooks of one step completing.
    hook: float = 600.0
    #: Pruned objects (and hooks deleted before re-creation) being gone.
    deletion: float = 120.0


@dataclass(frozen=True, slots=True)
class SyncOptions:
    #: Delete objects that left Git (Argo CD's syncPolicy.prune).
    prune: bool = True
    #: Prune after the last Sync wave instead of in mirrored wave order.
    prune_last: bool = False
    #: Accept a render with no objects (and so prune everything the app owns).
    allow_empty: bool = False
    #: Refuse a sync that would prune more than this share of the app's objects ...
    prune_guard_share: float | None = 0.5
    #: ... and at least this many of them, unless ``confirm_prune`` is set for the sync.
    prune_guard_min_objects: int = 3
    #: The explicit confirmation (``fleet sync --confirm-prune``) for this one sync; it
    #: also allows prunes of objects annotated Prune=confirm.
    confirm_prune: bool = False
    #: Skip the apply of objects the dry-run shows in sync (Flux's default; Argo CD's
    #: ApplyOutOfSyncOnly=true). An object's annotation overrides it.
    apply_out_of_sync_only: bool = True
    #: Leave ignored fields out of what is applied (Argo CD's RespectIgnoreDifferences).
    respect_ignore_differences: bool = False
    #: Create ``namespace`` if it does not exist (Argo CD's CreateNamespace=true). It is
    #: not tracked, so it is never pruned.
    create_namespace: bool = False
    namespace: str = ""
    #: Deletion propagation of prunes: Background, Foreground or Orphan.
    prune_propagation: str = "Background"
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    ignore_differences: tuple[IgnoreDifference, ...] = ()
    health_rules: tuple[HealthRuleSet, ...] = ()
    #: Fleet-wide custom checks (the Lua ones), after the app's rules, before built-ins.
    custom_health: CustomHealth | None = None
    #: Key for the digests that stand in for Secret values in diffs (per installation).
    secret_digest_key: bytes = b""
    #: The app's project: what it may write (None: unbounded, fleet.engine.bounds).
    bounds: ProjectBounds | None = None
    #: Take over live objects fleet did not create for this app (fleet.engine.adoption).
    adopt: bool = False
