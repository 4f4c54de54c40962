"""The annotation names fleet reads on desired objects, its own and their equivalents.

fleet has its own prefix (``fleet.dev/``); Argo CD's and Helm's annotations are read as
equivalents so that a repository written for either syncs under fleet unchanged. When the
same setting is given under several names, fleet's own wins, then Argo CD's, then Helm's.
Only names live here; fleet.engine.annotations parses the values.
"""

from __future__ import annotations

from fleet.model.tracking import PREFIX

ARGO_PREFIX = "argocd.argoproj.io/"
HELM_PREFIX = "helm.sh/"

SYNC_WAVE = PREFIX + "sync-wave"
HOOK = PREFIX + "hook"
HOOK_DELETE_POLICY = PREFIX + "hook-delete-policy"
SYNC_OPTIONS = PREFIX + "sync-options"
COMPARE_OPTIONS = PREFIX + "compare-options"
#: ``fleet.dev/prune: disabled`` keeps an object when it leaves Git.
PRUNE = PREFIX + "prune"

ARGO_SYNC_WAVE = ARGO_PREFIX + "sync-wave"
ARGO_HOOK = ARGO_PREFIX + "hook"
ARGO_HOOK_DELETE_POLICY = ARGO_PREFIX + "hook-delete-policy"
ARGO_SYNC_OPTIONS = ARGO_PREFIX + "sync-options"
ARGO_COMPARE_OPTIONS = ARGO_PREFIX + "compare-options"

HELM_HOOK = HELM_PREFIX + "hook"
HELM_HOOK_WEIGHT = HELM_PREFIX + "hook-weight"
HELM_HOOK_DELETE_POLICY = HELM_PREFIX + "hook-delete-policy"

#: Flux's per-object prune protection (``disabled`` keeps the object).
FLUX_PRUNE = "kustomize.toolkit.fluxcd.io/prune"

#: ``fleet.dev/adopt: "true"`` (on the manifest in Git, or on the live object) lets fleet
#: take over an object it did not create (fleet.engine.adoption).
ADOPT = PREFIX + "adopt"
#: Flux's apply policy; ``Merge`` declares that the object may already exist.
FLUX_SSA = "kustomize.toolkit.fluxcd.io/ssa"
#: Argo CD's ownership annotation (``app:group/Kind:namespace/name``, like fleet's own).
ARGO_TRACKING_ID = ARGO_PREFIX + "tracking-id"
#: The label Flux's kustomize-controller puts on what it applies: its Kustomization's name.
FLUX_KUSTOMIZATION_NAME = "kustomize.toolkit.fluxcd.io/name"

#: Set by fleet on every hook it creates: the tracking id of the manifest and the phase,
#: so that earlier instances of the same hook can be found (BeforeHookCreation).
HOOK_SOURCE = PREFIX + "hook-source"

#: Held by every hook fleet creates until its result has been read.
HOOK_FINALIZER = PREFIX + "hook-finalizer"

#: kubectl's client-side apply record; noise for every comparison.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

#: Names in the order they are consulted, fleet's own first.
SYNC_WAVE_NAMES = (SYNC_WAVE, ARGO_SYNC_WAVE, HELM_HOOK_WEIGHT)
HOOK_NAMES = (HOOK, ARGO_HOOK)
HOOK_DELETE_POLICY_NAMES = (HOOK_DELETE_POLICY, ARGO_HOOK_DELETE_POLICY)
SYNC_OPTIONS_NAMES = (ARGO_SYNC_OPTIONS, SYNC_OPTIONS)  # merged; later names win per key
COMPARE_OPTIONS_NAMES = (ARGO_COMPARE_OPTIONS, COMPARE_OPTIONS)
