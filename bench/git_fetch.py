"""Benchmark of Git sources: fetch and resolve a 1,000-commit repository, cold and warm.

Run: ``.venv/bin/python -m bench.git_fetch [--commits 1000] [--rounds 3]``.

For each transport (file://, git:// through ``git daemon``, HTTP through
``git http-backend`` with basic auth, and SSH through ``sshd`` when installed) it times:

- cold: a first fetch into an empty state directory, plus resolving the branch;
- incremental: a fetch after 10 new commits were pushed, plus resolving;
- no-op: a fetch when nothing changed (what every poll interval costs);
- resolve, read_file: resolving the branch, reading one file at the tip (local, no network);
- export: materialising the tip's tree (550 files) on disk, then again from the cache.
  Writing files dominates it, so it measures the disk more than fleet.

Servers run on loopback, so the figures measure fleet, libgit2 and the Git servers, not a
network. Medians of ``--rounds`` rounds are printed.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from importlib.metadata import version
from pathlib import Path

import pygit2

from fleet.adapters.git import GitAuth, GitMirror, GitSourceSpec
from tests.support.gitrepos import fast_import_history, git, init_bare
from tests.support.gitservers import (
    GitDaemon,
    GitHttpServer,
    SshServer,
    generate_ssh_key,
    sshd_missing_reason,
)

INCREMENT = 10


def _seconds(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _export_files(bare: Path) -> int:
    """Spread the history's files over 500 paths, so the export has a realistic size."""
    work = bare.parent / "spread"
    git(bare.parent, "clone", "--quiet", str(bare), str(work))
    for number in range(500):
        target = work / "apps" / f"app-{number % 10}" / "extra" / f"object-{number}.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"kind: ConfigMap\nmetadata:\n  name: object-{number}\n")
    git(work, "add", "--all")
    git(work, "commit", "--quiet", "-m", "500 files")
    git(work, "push", "--quiet", "origin", "main")
    shutil.rmtree(work)
    return 500


@contextmanager
def _transports(root: Path, served: Path) -> Iterator[dict[str, tuple[str, GitAuth]]]:
    """URL and credentials of the repository over each transport available here."""
    bare = served / "bench.git"
    with ExitStack() as stack:
        daemon = stack.enter_context(GitDaemon(served))
        http = stack.enter_context(GitHttpServer(served, "bench", "bench-password"))
        (root / "user").write_text("bench")
        (root / "password").write_text("bench-password")
        transports = {
            "file://": (bare.as_uri(), GitAuth()),
            "git://": (daemon.url("bench.git"), GitAuth()),
            "http (basic auth)": (
                http.url("bench.git"),
                GitAuth(username_file=root / "user", password_file=root / "password"),
            ),
        }
        if sshd_missing_reason() is None:
            key = generate_ssh_key(root / "client_key")
            sshd = stack.enter_context(SshServer(root / "sshd", key.with_name("client_key.pub")))
            (root / "known_hosts").write_text(sshd.known_hosts_line())
            auth = GitAuth(ssh_key_file=key, known_hosts_file=root / "known_hosts")
            transports["ssh"] = (sshd.url(bare), auth)
        yield transports


def _round(url: str, auth: GitAuth, bare: Path, state: Path) -> dict[str, float]:
    mirror = GitMirror(GitSourceSpec("bench", url, branch="main", auth=auth), state)
    try:
        times = {"cold": _seconds(mirror.fetch)}
        fast_import_history(bare, INCREMENT)
        times["incremental"] = _seconds(mirror.fetch)
        times["no-op"] = _seconds(mirror.fetch)
        times["resolve"] = _seconds(mirror.resolve)
        tip = mirror.resolve().sha
        times["read_file"] = _seconds(lambda: mirror.read_file(tip, "apps/app-0/cm-0.yaml"))
        times["export"] = _seconds(lambda: mirror.export_tree(tip))
        times["export cached"] = _seconds(lambda: mirror.export_tree(tip))
    finally:
        mirror.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(
        f"Git fetch benchmark: {args.commits} commits, +{INCREMENT} per incremental fetch; "
        f"pygit2 {version('pygit2')}, libgit2 {pygit2.LIBGIT2_VERSION}, "
        f"Python {platform.python_version()}, median of {args.rounds} rounds"
    )
    with tempfile.TemporaryDirectory(prefix="fleet-bench-git-") as scratch:
        root = Path(scratch)
        served = root / "served"
        bare = init_bare(served / "bench.git")
        fast_import_history(bare, args.commits)
        _export_files(bare)
        count = git(bare, "rev-list", "--count", "main").strip()
        stats = dict(line.split(": ", 1) for line in git(bare, "count-objects", "-vH").splitlines())
        print(f"repository: {count} commits, {stats['size-pack']} packed")
        columns = [
            "cold",
            "incremental",
            "no-op",
            "resolve",
            "read_file",
            "export",
            "export cached",
        ]
        print(f"{'transport':<18}" + "".join(f"{c:>14}" for c in columns))
        with _transports(root, served) as transports:
            for name, (url, auth) in transports.items():
                rounds = [
                    _round(url, auth, bare, root / f"state-{name[:4]}-{n}")
                    for n in range(args.rounds)
                ]
                medians = {c: statistics.median(r[c] for r in rounds) for c in columns}
                print(f"{name:<18}" + "".join(f"{medians[c] * 1000:>11.2f} ms" for c in columns))


if __name__ == "__main__":
    main()
