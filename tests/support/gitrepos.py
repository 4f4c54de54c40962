"""Git repositories for tests and benchmarks, written with the real ``git`` command.

A :class:`WorkRepo` is a working clone that commits (optionally signed), tags and pushes
to a bare repository that a server in :mod:`tests.support.gitservers` then serves. The
``git`` it runs ignores the user's and the system's Git configuration, so tests behave
the same on every machine. :func:`fast_import_history` writes long histories in one
``git fast-import`` call (a thousand commits in well under a second).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

AUTHOR = ("Fleet Test", "fleet-test@example.com")


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment in which ``git`` reads no user or system configuration."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GIT_") and key not in ("GNUPGHOME",)
    }
    env.update(
        {
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": AUTHOR[0],
            "GIT_AUTHOR_EMAIL": AUTHOR[1],
            "GIT_COMMITTER_NAME": AUTHOR[0],
            "GIT_COMMITTER_EMAIL": AUTHOR[1],
            "GIT_TERMINAL_PROMPT": "0",
        }
    )
    env.update(extra or {})
    return env


def git(cwd: Path, *args: str, env: Mapping[str, str] | None = None, stdin: bytes = b"") -> str:
    """Run ``git args`` in ``cwd``; its stdout, or an error carrying its stderr."""
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=git_env(env), input=stdin, capture_output=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr.decode()}")
    return result.stdout.decode()


def init_bare(path: Path, default_branch: str = "main") -> Path:
    """An empty bare repository whose HEAD names ``default_branch``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    git(path.parent, "init", "--quiet", "--bare", f"--initial-branch={default_branch}", str(path))
    return path


class WorkRepo:
    """A working repository pushing to ``origin`` (a bare repository path)."""

    def __init__(self, path: Path, origin: Path, branch: str = "main") -> None:
        self.path = path
        self.origin = origin
        path.mkdir(parents=True, exist_ok=True)
        git(path, "init", "--quiet", f"--initial-branch={branch}")
        git(path, "remote", "add", "origin", str(origin))

    def write(self, relative: str, content: str | bytes, *, executable: bool = False) -> Path:
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode()
        target.write_bytes(content)
        target.chmod(0o755 if executable else 0o644)
        return target

    def symlink(self, relative: str, points_to: str) -> None:
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(points_to)

    def remove(self, relative: str) -> None:
        git(self.path, "rm", "--quiet", "-r", relative)

    def commit(
        self,
        message: str,
        *,
        ssh_signing_key: Path | None = None,
        gpg_key: str | None = None,
        gnupg_home: Path | None = None,
    ) -> str:
        """Commit everything; signed with an SSH key file or a GPG key id if given."""
        git(self.path, "add", "--all")
        args = ["commit", "--quiet", "--allow-empty", "-m", message]
        env: dict[str, str] = {}
        if ssh_signing_key is not None:
            args = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={ssh_signing_key}", *args]
            args.append("-S")
        elif gpg_key is not None:
            args = ["-c", "gpg.format=openpgp", "-c", f"user.signingkey={gpg_key}", *args]
            args.append("-S")
            if gnupg_home is not None:
                env["GNUPGHOME"] = str(gnupg_home)
        git(self.path, *args, env=env)
        return self.head()

    def head(self) -> str:
        return git(self.path, "rev-parse", "HEAD").strip()

    def tag(self, name: str, *, annotated: bool = True, target: str = "HEAD") -> None:
        if annotated:
            git(self.path, "tag", "--annotate", "-m", f"release {name}", name, target)
        else:
            git(self.path, "tag", name, target)

    def push(self) -> None:
        """Make ``origin`` match this repository: all branches and tags, forced."""
        git(
            self.path,
            "push",
            "--quiet",
            "--force",
            "--prune",
            "origin",
            "refs/heads/*:refs/heads/*",
        )
        git(self.path, "push", "--quiet", "--force", "--prune", "origin", "refs/tags/*:refs/tags/*")


def fast_import_history(bare: Path, commits: int, branch: str = "main") -> str:
    """Append ``commits`` commits (each changing one of 50 files) to ``branch`` of ``bare``.

    Returns the new tip's SHA.
    """
    parent = (
        git(bare, "rev-parse", "--verify", "--quiet", branch).strip() if _has(bare, branch) else ""
    )
    stream: list[str] = []
    for number in range(commits):
        message = f"change {number}\n"
        content = f"kind: ConfigMap\nmetadata:\n  name: cm-{number % 50}\ndata:\n  n: '{number}'\n"
        stream.append(f"commit refs/heads/{branch}\nmark :{number + 1}\n")
        stream.append(f"committer {AUTHOR[0]} <{AUTHOR[1]}> {1_700_000_000 + number} +0000\n")
        stream.append(f"data {len(message)}\n{message}")
        if number == 0 and parent:
            stream.append(f"from {parent}\n")
        path = f"apps/app-{number % 10}/cm-{number % 50}.yaml"
        stream.append(f"M 100644 inline {path}\ndata {len(content)}\n{content}\n")
    git(bare, "fast-import", "--quiet", stdin="".join(stream).encode())
    return git(bare, "rev-parse", branch).strip()


def _has(bare: Path, branch: str) -> bool:
    try:
        git(bare, "rev-parse", "--verify", "--quiet", branch)
    except RuntimeError:
        return False
    return True
