"""Failure on purpose: the few documented markers that make simulated workloads misbehave.

Tests of health gates and rollbacks need a Deployment that never becomes available and a
Job that fails, on simulated clusters and on a bare API server alike. The markers live in
the objects themselves (an image name, an annotation) so that the same manifest behaves
the same wherever these controllers run. See docs/sim-controllers.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# A container whose image is named one of these exits with code 1 every time it starts:
# it crash-loops under restartPolicy Always/OnFailure and fails the pod under Never.
FAILING_IMAGE_NAMES = frozenset({"crashloop", "fail"})

# Container environment variable: a non-zero value makes the container exit with that
# code, like the image marker. With a real command that exits the same way
# (``sh -c "exit 1"``), one manifest fails alike on simulated and on real clusters.
EXIT_CODE_ENV = "FLEET_SIM_EXIT_CODE"

# Pod (or pod template) annotation: seconds until this pod's containers start and become
# Ready, overriding the controllers' ``ready_delay``. Run-to-completion pods then run as
# long again before they finish.
READY_DELAY_ANNOTATION = "sim.fleet.dev/ready-delay"


def image_name(image: str) -> str:
    """The last path part of an image reference, without tag or digest.

    ``registry:5000/team/crashloop:1.2@sha256:...`` -> ``crashloop``.
    """
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def image_fails(image: str) -> bool:
    return image_name(image.strip()).lower() in FAILING_IMAGE_NAMES


def exit_code_of(container: Mapping[str, Any]) -> int:
    """The code the container exits with on start: 0 for a healthy one."""
    for env in container.get("env") or []:
        if env.get("name") == EXIT_CODE_ENV:
            try:
                code = int(str(env.get("value", "0")).strip())
            except ValueError:
                code = 1
            if code:
                return code
    return 1 if image_fails(str(container.get("image") or "")) else 0


def failing_containers(pod: Mapping[str, Any]) -> dict[str, int]:
    """The pod's containers that carry a failure marker, with their exit codes."""
    spec = pod.get("spec") or {}
    codes = {str(c.get("name", "")): exit_code_of(c) for c in spec.get("containers") or []}
    return {name: code for name, code in codes.items() if code}


def ready_delay_for(pod: Mapping[str, Any], default: float) -> float:
    """The pod's readiness delay: its annotation when valid, else ``default``."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(READY_DELAY_ANNOTATION)
    if raw is None:
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return default
    return value if value >= 0 else default
