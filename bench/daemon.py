"""Benchmark of the daemon: from a Git push to every cluster healthy, against kubectl.

Run: ``.venv/bin/python -m bench.daemon [--clusters 1,10,100] [--objects 50] [--quick]``.

For each cluster count it starts ``fleet sim up`` (its own process; pods become Ready
after ``--ready-delay`` s), a Git repository served over file:// holding one app of
``--objects`` plain-YAML objects, and ``fleet run`` (its own process). Then:

1. initial: the daemon's start until every cluster is Synced and Healthy;
2. update: a commit changing every Deployment and ConfigMap, pushed, then a signed
   generic push webhook; timed from the webhook until ``GET /api/v1/status`` shows every
   cluster Synced and Healthy at the new commit. The daemon's CPU seconds, and the API
   requests it made (counted by the simulator, per verb), are taken over this span;
3. no change: a webhook with no new commit (the source is fetched again) and a forced
   sync (``POST /api/v1/apps/bench/sync``): the writes they make, which must be none
   (dry-runs counted apart); then drift: a ConfigMap deleted on every cluster behind
   the daemon's back, timed until self-heal has put it back everywhere;
4. idle, with the largest cluster count only: CPU (% of one core) and RSS over
   ``--idle`` seconds with nothing changing, polls included;
5. the kubectl baseline on the same simulated clusters (the daemon stopped, its own
   namespace): ``kubectl apply --server-side`` + ``kubectl rollout status`` per
   cluster, one after another and 8 at once (skipped when kubectl is missing).

The figures are printed as a table, with the issue's targets checked at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.daemon_baseline import PARALLEL, KubectlBaseline, kubectl_missing
from bench.daemon_drift import CLIENT as DRIFT_CLIENT
from bench.daemon_drift import delete_everywhere
from bench.daemon_processes import (
    CONTROLLERS,
    KUBECTL,
    DaemonProcess,
    Profiler,
    ShardedSim,
    requests_by,
)
from bench.daemon_repo import GitRepo, Mix, manifests, write_manifests
from bench.daemon_report import Figures, Idle, code_version, report
from bench.memprobe import request_dump

APP = "bench"
NAMESPACE = "bench"
BASELINE_NAMESPACE = "bench-kubectl"
NOT_DAEMON = {CONTROLLERS, KUBECTL, DRIFT_CLIENT}
POLL = 0.25


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def fleet_config(path: Path, sim: ShardedSim, repo: GitRepo) -> Path:
    clusters = "".join(
        f"  - {{name: {n}, kubeconfig: {sim.kubeconfig}, context: {n}}}\n" for n in sim.names
    )
    path.write_text(
        f"clusters:\n{clusters}"
        f"sources:\n  - {{name: platform, url: '{repo.url}', branch: main}}\n"
        f"apps:\n  - name: {APP}\n    source: platform\n    path: {repo.app_path}\n"
        f"    namespace: {NAMESPACE}\n"
        "    syncPolicy: {automated: true, prune: true, selfHeal: true}\n"
    )
    return path


def converged(rows: list[dict[str, Any]], sha: str, clusters: int) -> bool:
    return len(rows) == clusters and all(
        r.get("revision") == sha and r.get("sync") == "Synced" and r.get("health") == "Healthy"
        for r in rows
    )


def summary(rows: list[dict[str, Any]], sha: str) -> str:
    states = Counter(
        f"{'new' if r.get('revision') == sha else 'old'}/{r.get('sync')}/{r.get('health')}"
        for r in rows
    )
    return ", ".join(f"{count} {state}" for state, count in states.most_common())


def wait_converged(daemon: DaemonProcess, sha: str, clusters: int, patience: float) -> float:
    """Seconds until every cluster is Synced and Healthy at ``sha``.

    Each poll costs the daemon CPU (a JSON row per cluster: at 100 clusters, polling every
    0.25 s through a 200 s update was a sixth of the daemon's CPU), so the interval grows
    with the time waited: ``POLL`` s at first, then 1 % of the time so far.
    """
    started = time.monotonic()
    rows: list[dict[str, Any]] = []
    while time.monotonic() - started < patience:
        rows = daemon.status()
        if converged(rows, sha, clusters):
            return time.monotonic() - started
        time.sleep(max(POLL, 0.01 * (time.monotonic() - started)))
    raise TimeoutError(f"not converged after {patience:.0f}s: {summary(rows, sha)}")


def wait_synced_again(daemon: DaemonProcess, before: dict[str, Any], patience: float) -> float:
    """Seconds until every cluster of ``before`` finished a sync newer than its id there."""
    started = time.monotonic()
    while time.monotonic() - started < patience:
        rows = [r for r in daemon.status() if r["cluster"] in before]
        if all(
            r.get("last_sync_id") != before.get(r["cluster"]) and not r.get("operation")
            for r in rows
        ):
            return time.monotonic() - started
        time.sleep(max(POLL, 0.01 * (time.monotonic() - started)))
    raise TimeoutError(f"the forced sync did not finish within {patience:.0f}s")


def run_daemon_phases(
    figures: Figures, sim: ShardedSim, repo: GitRepo, workdir: Path, args: argparse.Namespace
) -> None:
    n = figures.clusters
    sha1 = repo.commit(manifests(args.mix, 1, NAMESPACE, args.replicas), "bench: version 1")
    config = fleet_config(workdir / "fleet.yaml", sim, repo)
    before = sim.requests()
    started = time.monotonic()
    probe = args.memprobe / f"{n}-clusters" if args.memprobe else None
    daemon = DaemonProcess(
        workdir / "daemon", config, dict(args.setting), probe, dict(args.daemon_env)
    )
    try:
        daemon.wait_ready(120.0 + n)  # it builds a client per cluster first
        wait_converged(daemon, sha1, n, args.patience)
        figures.initial_s = time.monotonic() - started
        figures.initial_requests = dict(requests_by(before, sim.requests(), exclude=NOT_DAEMON))
        say(f"  initial sync: {figures.initial_s:.1f}s")
        time.sleep(args.settle)

        sha2 = repo.commit(manifests(args.mix, 2, NAMESPACE, args.replicas), "bench: version 2")
        profilers = []
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            profilers = [
                Profiler(daemon.process.pid, args.profile / f"update-{n}-daemon.txt"),
            ]
            for index, pid in enumerate(sim.pids):
                suffix = "" if len(sim.pids) == 1 else f"-{index}"
                profilers.append(Profiler(pid, args.profile / f"update-{n}-sim{suffix}.txt"))
        before, cpu, sim_cpu = sim.requests(), daemon.usage(), sim.usage()
        daemon.push_webhook(repo.url, sha2)
        try:
            figures.update_s = wait_converged(daemon, sha2, n, args.patience)
        finally:
            for profiler in profilers:
                profiler.stop()
        figures.update_cpu_s = daemon.usage().cpu_seconds - cpu.cpu_seconds
        figures.update_sim_cpu_s = sim.usage().cpu_seconds - sim_cpu.cpu_seconds
        figures.update_requests = dict(requests_by(before, sim.requests(), exclude=NOT_DAEMON))
        figures.update_sockets = daemon.usage().sockets
        say(f"  webhook -> all healthy: {figures.update_s:.2f}s")
        time.sleep(args.settle)

        before = sim.requests()
        daemon.push_webhook(repo.url, sha2)
        time.sleep(args.settle)
        figures.nochange_requests = dict(requests_by(before, sim.requests(), exclude=NOT_DAEMON))
        ids = {r["cluster"]: r.get("last_sync_id") for r in daemon.status()}
        before = sim.requests()
        daemon.sync(APP)
        figures.forced_sync_s = wait_synced_again(daemon, ids, args.patience)
        figures.forced_sync_requests = dict(requests_by(before, sim.requests(), exclude=NOT_DAEMON))
        say(f"  forced sync with nothing to change: {figures.forced_sync_s:.2f}s")

        if args.mix.config_maps > 0:
            time.sleep(args.settle)
            heal_drift(figures, daemon, sim, sha2, args)

        if args.idle > 0 and n == max(args.clusters):
            time.sleep(args.settle)
            before, cpu = sim.requests(), daemon.usage()
            say(f"  idle for {args.idle:.0f}s ...")
            time.sleep(args.idle)
            now = daemon.usage()
            figures.idle = Idle(
                args.idle,
                100.0 * (now.cpu_seconds - cpu.cpu_seconds) / args.idle,
                now.rss_mib,
                now.sockets,
                dict(requests_by(before, sim.requests(), exclude=NOT_DAEMON)),
            )
        if probe is not None:
            for label in ("idle", "collected"):  # as it is, then after gc.collect()
                dumped = request_dump(probe, label)
                say(f"  memory probe: {dumped} ({(dumped / 'done').read_text().strip()})")
        final = daemon.usage()
        figures.daemon_cpu_s, figures.daemon_peak_rss_mib = final.cpu_seconds, final.peak_rss_mib
    finally:
        code = daemon.stop()
        if code not in (0, -15):
            figures.notes.append(f"fleet run exited with {code} (log: {daemon.log})")


def heal_drift(
    figures: Figures, daemon: DaemonProcess, sim: ShardedSim, sha: str, args: argparse.Namespace
) -> None:
    """Delete a ConfigMap on every cluster; time until self-heal has put every one back."""
    ids = {r["cluster"]: r.get("last_sync_id") for r in daemon.status()}
    before, cpu = sim.requests(), daemon.usage()
    deleted, failures = delete_everywhere(sim.kubeconfig, sim.names, NAMESPACE, "settings-0")
    started = time.monotonic()
    if failures:
        say(f"  drift: not deleted on {len(failures)} cluster(s), e.g. {failures[0]}")
        figures.notes += [f"drift: {f}" for f in failures[:3]]
    # Only where it was deleted is a new sync to wait for.
    wait_synced_again(daemon, {c: ids.get(c) for c in deleted}, args.patience)
    wait_converged(daemon, sha, figures.clusters, args.patience)
    figures.drift_s = time.monotonic() - started
    figures.drift_cpu_s = daemon.usage().cpu_seconds - cpu.cpu_seconds
    figures.drift_requests = dict(requests_by(before, sim.requests(), exclude=NOT_DAEMON))
    say(f"  a deleted ConfigMap on every cluster -> healed: {figures.drift_s:.2f}s")


def run_baseline(
    figures: Figures, sim: ShardedSim, workdir: Path, args: argparse.Namespace
) -> None:
    missing = kubectl_missing()
    if missing:
        figures.notes.append(f"kubectl baseline skipped: {missing}")
        return
    baseline = KubectlBaseline(
        sim.kubeconfig,
        workdir / "kubectl-cache",
        BASELINE_NAMESPACE,
        timeout=args.patience,
        rollouts=args.mix.deployments > 0,
    )
    folders = []
    for version in (1, 2, 3):
        folder = workdir / f"kubectl-v{version}"
        write_manifests(folder, manifests(args.mix, version, BASELINE_NAMESPACE, args.replicas))
        folders.append(folder)
    # Untimed: puts version 1 in place, so the timed runs change what is there (as the
    # daemon's update does). At 1,000 clusters it takes as long as a timed run.
    say(f"  kubectl setup ({PARALLEL} at once, version 1, not timed) ...")
    setup = baseline.run(sim.names, folders[0], PARALLEL)
    figures.notes += [f"kubectl setup: {f}" for f in setup.failures[:3]]
    say(f"  kubectl setup done: {setup.seconds:.1f}s")
    if not args.no_sequential:
        before, sim_cpu = sim.requests(), sim.usage().cpu_seconds
        figures.baseline_sequential = baseline.run(sim.names, folders[1], 1)
        figures.baseline_requests = dict(requests_by(before, sim.requests(), clients={KUBECTL}))
        figures.baseline_sim_cpu_s = sim.usage().cpu_seconds - sim_cpu
        say(f"  kubectl, one cluster after another: {figures.baseline_sequential.seconds:.1f}s")
    before, sim_cpu = sim.requests(), sim.usage().cpu_seconds
    figures.baseline_parallel = baseline.run(sim.names, folders[2], PARALLEL)
    if args.no_sequential:  # the requests and simulator CPU are the parallel run's then
        figures.baseline_requests = dict(requests_by(before, sim.requests(), clients={KUBECTL}))
        figures.baseline_sim_cpu_s = sim.usage().cpu_seconds - sim_cpu
    say(f"  kubectl, {PARALLEL} at once: {figures.baseline_parallel.seconds:.1f}s")


def checkpoint(measured: list[Figures], args: argparse.Namespace) -> None:
    """Write the figures so far: a long run killed outright (not stopped) keeps them."""
    if args.json:
        partial = args.json.with_name(args.json.name + ".partial")
        partial.write_text(json.dumps([asdict(f) for f in measured], indent=2))
        partial.replace(args.json)


def say_daemon_figures(figures: Figures) -> None:
    """The daemon's own totals, printed before the baseline (which may take an hour)."""
    parts = [f"daemon CPU {figures.daemon_cpu_s:.1f}s" if figures.daemon_cpu_s else ""]
    if figures.update_s is not None:
        per_cluster = 1000 * figures.update_cpu_s / figures.clusters
        parts.append(f"update {figures.update_cpu_s:.1f}s ({per_cluster:.0f} ms per cluster)")
    if figures.daemon_peak_rss_mib:
        parts.append(f"peak RSS {figures.daemon_peak_rss_mib:.0f} MiB")
    if figures.idle is not None:
        idle = figures.idle
        parts.append(
            f"idle {idle.cpu_percent:.2f} % CPU, {idle.rss_mib:.0f} MiB, {idle.sockets} sockets"
        )
    say("  daemon: " + ", ".join(p for p in parts if p))


def run_scale(
    clusters: int, root: Path, args: argparse.Namespace, measured: list[Figures]
) -> Figures:
    """Measure one cluster count; its figures join ``measured`` at once (kept if stopped),
    and go to ``--json`` after each phase."""
    figures = Figures(clusters, args.objects)
    measured.append(figures)
    workdir = root / f"{clusters}-clusters"
    workdir.mkdir(parents=True)
    say(f"{clusters} cluster(s) x {args.objects} objects")
    sim = ShardedSim(workdir / "sim", clusters, args.ready_delay, args.sim_processes)
    try:
        figures.sim_start_s = sim.wait_ready(120.0 + clusters)
        repo = GitRepo(workdir / "git", f"apps/{APP}")
        try:
            run_daemon_phases(figures, sim, repo, workdir, args)
        except (TimeoutError, RuntimeError) as error:
            figures.notes.append(f"daemon: {error}")
            say(f"  daemon: {error}")
        say_daemon_figures(figures)
        checkpoint(measured, args)
        if not args.no_baseline:
            run_baseline(figures, sim, workdir, args)
        figures.sim_peak_rss_mib = sim.usage().peak_rss_mib
        checkpoint(measured, args)
    finally:
        sim.stop()
    return figures


def _setting(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: expected KEY=VALUE")
    return key.strip(), value.strip()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.daemon", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--clusters", default=None, help="cluster counts (default 1,10,100)")
    parser.add_argument("--objects", type=int, default=50, help="objects in the app (default 50)")
    parser.add_argument(
        "--deployments",
        type=int,
        default=None,
        help="Deployments among the objects (default a third; 0: no rollouts to wait for)",
    )
    parser.add_argument("--replicas", type=int, default=1, help="replicas per Deployment")
    parser.add_argument("--ready-delay", type=float, default=1.0, help="simulated pod readiness")
    parser.add_argument(
        "--idle",
        type=float,
        default=None,
        help="idle window in seconds at the largest count (default 60; 0: skip)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=3.0,
        help="pause between phases, and the no-change window (s)",
    )
    parser.add_argument("--patience", type=float, default=600.0, help="longest wait (s)")
    parser.add_argument(
        "--setting",
        action="append",
        type=_setting,
        default=[],
        metavar="KEY=VALUE",
        help="a daemon setting (repeatable)",
    )
    parser.add_argument(
        "--daemon-env",
        action="append",
        type=_setting,
        default=[],
        metavar="KEY=VALUE",
        help="an environment variable for the daemon only, e.g. PYTHONTRACEMALLOC=8 "
        "or MALLOC_ARENA_MAX=2 (repeatable)",
    )
    parser.add_argument(
        "--memprobe",
        type=Path,
        metavar="DIR",
        help="run the daemon under bench.memprobe and dump its memory split into DIR at the "
        "end of each cluster count (after the idle window)",
    )
    parser.add_argument(
        "--sim-processes",
        type=int,
        default=1,
        metavar="N",
        help="split the simulated clusters over N processes (default 1)",
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the kubectl baseline")
    parser.add_argument(
        "--no-sequential",
        action="store_true",
        help="kubectl baseline: only 8 clusters at once, not one after another (at 1,000 "
        "clusters the sequential run takes most of an hour)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke check: 1 and 10 clusters, 10 s idle window"
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="py-spy the daemon and the simulator during each update (raw stacks)",
    )
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = parser.parse_args(argv)
    default_clusters, default_idle = ("1,10", 10.0) if args.quick else ("1,10,100", 60.0)
    try:
        args.clusters = [int(c) for c in (args.clusters or default_clusters).split(",")]
    except ValueError:
        parser.error("--clusters: a comma-separated list of numbers, like 1,10,100")
    if min(args.clusters) < 1:
        parser.error("--clusters: counts start at 1")
    args.idle = default_idle if args.idle is None else args.idle
    try:
        args.mix = Mix.of(args.objects, args.deployments)
    except ValueError as error:
        parser.error(str(error))
    return args


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds, so the child processes are stopped too


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    load = [os.getloadavg()[0]]
    code = code_version()  # now: the tree may change while the benchmark runs
    figures: list[Figures] = []
    stopped = False
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as scratch:
        root = args.keep.absolute() if args.keep else Path(scratch)
        if args.keep:
            root.mkdir(parents=True, exist_ok=True)
        try:
            for n in args.clusters:
                run_scale(n, root, args, figures)
        except (SystemExit, KeyboardInterrupt):
            # A long run stopped (SIGTERM, Ctrl-C) still prints what it measured so far.
            if not figures:
                raise
            stopped = True
            figures[-1].notes.append("stopped before the end: the figures measured so far")
    command = " ".join(
        [".venv/bin/python -m bench.daemon", *(argv if argv is not None else sys.argv[1:])]
    )
    print(f"command: {command}")
    load.append(os.getloadavg()[0])
    print(
        report(
            figures,
            str(args.mix),
            args.ready_delay,
            args.replicas,
            load,
            code,
            args.sim_processes,
        )
    )
    if args.json:
        args.json.write_text(json.dumps([asdict(f) for f in figures], indent=2))
    return 1 if stopped else 0


if __name__ == "__main__":
    sys.exit(main())
