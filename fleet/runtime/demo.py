"""``fleet demo``: a simulated fleet, a Git repository and the daemon, converging.

Everything lives under one directory (``demo-state/`` by default) so that a new user can
poke at it with the commands the demo prints: three simulated clusters labelled dev,
staging and prod (with a kubeconfig for kubectl), a Git repository in the usual Kustomize
layout (``apps/web/base`` plus an overlay per environment, a PreSync migration Job and a
PostSync smoke test), the fleet config and daemon settings, and the history database.
Run it again and it picks up where it left off; delete the directory to start over.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import anyio

from fleet.adapters.telemetry.logs import configure_logging
from fleet.config import Settings
from fleet.runtime.daemon import Daemon
from fleet.sim import SimFleet

SEED = Path(__file__).with_name("seed")
ENVIRONMENTS = ("dev", "staging", "prod")

FLEET_YAML = """\
# The demo's fleet config: three simulated clusters, one Git source, one app.
clusters:
{clusters}
sources:
  - name: platform
    url: file://{repo}
    branch: main
    interval: 2s
apps:
  - name: web
    source: platform
    path: apps/web/overlays/{{cluster.labels.env}}
    namespace: web
    syncPolicy:
      automated: true
      prune: true
      selfHeal: true
      timeouts: {{wave: 2m, hook: 2m}}
rollout:
  waves:
    - {{name: dev, selector: {{matchLabels: {{env: dev}}}}}}
    - {{name: staging, selector: {{matchLabels: {{env: staging}}}}}}
    - {{name: prod, selector: {{matchLabels: {{env: prod}}}}}}
"""


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise OSError("no free port on 127.0.0.1")


def _git(repo: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "fleet demo",
        "GIT_AUTHOR_EMAIL": "demo@fleet.dev",
        "GIT_COMMITTER_NAME": "fleet demo",
        "GIT_COMMITTER_EMAIL": "demo@fleet.dev",
    }
    subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def prepare(directory: Path) -> Path:
    """Create the Git repository (once); return its path."""
    repo = directory / "platform"
    if (repo / ".git").is_dir():
        return repo
    repo.mkdir(parents=True, exist_ok=True)
    shutil.copytree(SEED / "apps", repo / "apps", dirs_exist_ok=True)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "web: first version, with a migration and a smoke test")
    return repo


def write_config(directory: Path, repo: Path, port: int) -> tuple[Path, Settings]:
    clusters = "\n".join(
        f"  - {{name: {env}, kubeconfig: sim/kubeconfig, context: {env}, labels: {{env: {env}}}}}"
        for env in ENVIRONMENTS
    )
    config = directory / "fleet.yaml"
    config.write_text(FLEET_YAML.format(clusters=clusters, repo=repo))
    token = directory / "api-token"
    if not token.exists():
        token.write_text(secrets.token_urlsafe(24) + "\n")
        token.chmod(0o600)
    settings_file = directory / "settings.yaml"
    settings_file.write_text(
        f"state_dir: {directory / 'state'}\n"
        f"api_address: 127.0.0.1:{port}\n"
        f"api_token_file: {token}\n"
        "log_format: human\n"
    )
    settings = Settings(
        state_dir=directory / "state",
        api_address=f"127.0.0.1:{port}",
        api_token_file=token,
    )
    return config, settings


def _table(rows: list[dict[str, object]]) -> str:
    lines = [f"  {'CLUSTER':<9} {'REVISION':<9} {'SYNC':<10} {'HEALTH':<12} STEP"]
    for row in rows:
        revision = str(row.get("revision") or "-")[:8]
        step = str(row.get("step") or row.get("message") or "")[:60]
        lines.append(
            f"  {row['cluster']!s:<9} {revision:<9} {row['sync']!s:<10} "
            f"{row['health']!s:<12} {step}"
        )
    return "\n".join(lines)


def _walkthrough(directory: Path, url: str) -> str:
    d = directory
    return f"""
The fleet has converged. In another terminal, try:

  export KUBECONFIG={d}/sim/kubeconfig FLEET_SETTINGS={d}/settings.yaml
  .venv/bin/fleet status                                  # app x cluster
  kubectl --context prod -n web get deploy,svc,jobs       # what fleet applied

  # 1. Change a manifest and commit: the change rolls out dev -> staging -> prod.
  sed -i 's/replicas: 3/replicas: 4/' {d}/platform/apps/web/overlays/prod/deployment-patch.yaml
  git -C {d}/platform commit -qam "prod: four replicas"
  .venv/bin/fleet history web

  # 2. Change a live object by hand: fleet heals it within seconds.
  kubectl --context prod -n web scale deploy web --replicas 1
  .venv/bin/fleet history web --cluster prod --limit 3

  # 3. Revert the commit: every cluster goes back.
  git -C {d}/platform revert --no-edit HEAD

Follow it all on the dashboard, {url} (sign in with the token in {d}/api-token).
The daemon's log is {d}/daemon.log. Press Ctrl-C to stop.
"""


def dashboard_url(setup: DemoSetup) -> str:
    """Where the daemon serves its web dashboard (docs/dashboard.md)."""
    return f"http://{setup.settings.api_address}/"


@dataclass(frozen=True, slots=True)
class DemoSetup:
    directory: Path
    repo: Path
    config: Path
    settings: Settings


def setup_demo(directory: Path, port: int = 8787) -> DemoSetup:
    """Create (or reuse) the demo's repository, config and settings under ``directory``."""
    directory = directory.absolute()
    directory.mkdir(parents=True, exist_ok=True)
    repo = prepare(directory)
    config, settings = write_config(directory, repo, _free_port(port))
    return DemoSetup(directory, repo, config, settings)


async def run_demo(
    setup: DemoSetup, *, once: bool = False, patience: float = 300.0, out: TextIO = sys.stdout
) -> int:
    """Start everything, report convergence; with ``once``, stop when converged."""
    directory = setup.directory

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    log_file = await anyio.open_file(directory / "daemon.log", "a")
    configure_logging("info", "human", stream=log_file.wrapped)
    logging.getLogger("fleet").info("demo starting in %s", directory)
    say(f"fleet demo in {directory}")
    say("  starting 3 simulated clusters (dev, staging, prod) ...")
    labels = {env: {"env": env} for env in ENVIRONMENTS}
    code = 0
    try:
        async with SimFleet.start(
            directory / "sim", names=ENVIRONMENTS, labels=labels, ready_delay=1.0
        ) as sim:
            say(f"  kubeconfig: {sim.kubeconfig_path}")
            say(f"  Git repository: {setup.repo}")
            say(f"  fleet config: {setup.config}")
            say(f"  dashboard: {dashboard_url(setup)}")
            say(f"    (sign in with the token in {setup.settings.api_token_file})")
            daemon = Daemon(setup.settings, setup.config)
            async with anyio.create_task_group() as tasks:

                async def run_daemon() -> None:
                    # Ctrl-C reaches the daemon's signal handler; when it has stopped
                    # cleanly, the demo stops too.
                    await daemon.run()
                    tasks.cancel_scope.cancel()

                tasks.start_soon(run_daemon)
                converged = await _watch(daemon, say, patience)
                if not converged:
                    say("the fleet did not converge in time; see daemon.log")
                    code = 1
                if once or not converged:
                    await daemon.stop()
                    tasks.cancel_scope.cancel()
                else:
                    say(_walkthrough(directory, dashboard_url(setup)))
                    await _follow(daemon, say)
    finally:
        await log_file.aclose()
    return code


async def _watch(daemon: Daemon, say: Callable[[str], None], patience: float) -> bool:
    """Print the status table as it changes until every app is Synced and Healthy."""
    last = ""
    with anyio.move_on_after(patience):
        while True:
            rows = await daemon.status() if daemon.workers else []
            text = _table(rows)
            if rows and text != last:
                say(text)
                last = text
            if rows and all(
                r["sync"] == "Synced" and r["health"] == "Healthy" and r["revision"] for r in rows
            ):
                return True
            await anyio.sleep(0.5)
    return False


async def _follow(daemon: Daemon, say: Callable[[str], None]) -> None:
    """Keep printing a line whenever an app's state on a cluster changes."""
    seen: dict[str, str] = {}
    while True:
        for row in await daemon.status():
            line = (
                f"{row['cluster']}: {str(row.get('revision') or '-')[:8]} "
                f"{row['sync']} {row['health']} {row.get('step') or ''}".rstrip()
            )
            key = str(row["cluster"])
            if seen.get(key) != line:
                if key in seen:
                    say("  " + line)
                seen[key] = line
        await anyio.sleep(0.5)
