"""The config source watcher against a real ``git daemon`` on loopback.

A commit is fetched, exported and checked like a SIGHUP reload; a good one is handed to
the reload machinery, a bad or unsigned one is refused (event, metric, state with
file:line:col) and the previous config stays in force until a later commit.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from prometheus_client import CollectorRegistry

from fleet.adapters.git.specs import GitTimeouts
from fleet.adapters.telemetry.config_metrics import ConfigMetrics
from fleet.config import FleetConfig
from fleet.config.config_source import ConfigSource
from fleet.config.includes import MAX_FILE_BYTES
from fleet.runtime.config_source import ConfigSourceWatcher, ConfigState
from tests.support.gitrepos import WorkRepo, init_bare
from tests.support.gitservers import (
    GitDaemon,
    GitHttpServer,
    SshServer,
    generate_ssh_key,
    sshd_missing_reason,
)

pytestmark = pytest.mark.anyio

CLUSTER = "clusters:\n  - name: dev\n    kubeconfig: kube.yaml\n"
KUBECONFIG = "apiVersion: v1\nkind: Config\ncurrent-context: dev\ncontexts:\n  - name: dev\n"
SOURCES = "sources:\n  - name: platform\n    url: https://git.example.com/p.git\n    branch: main\n"


def apps(*names: str, source: str = "platform") -> str:
    entries = "".join(f"  - name: {n}\n    source: {source}\n    path: apps/{n}\n" for n in names)
    return "apps:\n" + entries


@dataclass
class Recorder:
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    applied: list[tuple[FleetConfig, dict[str, Any]]] = field(default_factory=list)
    taken: anyio.Event = field(default_factory=anyio.Event)

    async def event(
        self, kind: str, message: str, app: str | None, cluster: str | None, details: Any
    ) -> None:
        self.events.append((kind, message, dict(details)))

    async def apply(self, config: FleetConfig, origin: dict[str, Any]) -> None:
        self.applied.append((config, origin))
        self.taken.set()

    def kinds(self) -> list[str]:
        return [kind for kind, _, _ in self.events]


@dataclass
class Repo:
    work: WorkRepo
    url: str
    server: GitDaemon

    def commit(self, files: dict[str, str | None], message: str = "change", **sign: Any) -> str:
        for relative, text in files.items():
            if text is None:
                self.work.remove(relative)
            else:
                self.work.write(relative, text)
        sha = self.work.commit(message, **sign)
        self.work.push()
        return sha


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repo]:
    served = tmp_path / "served"
    bare = init_bare(served / "fleet-config.git")
    work = WorkRepo(tmp_path / "work", bare)
    with GitDaemon(served) as server:
        yield Repo(work, server.url("fleet-config.git"), server)


def watcher_for(
    tmp_path: Path, source: ConfigSource, recorder: Recorder
) -> tuple[ConfigSourceWatcher, ConfigState, ConfigMetrics]:
    metrics = ConfigMetrics(CollectorRegistry())
    state = ConfigState(None, source, metrics)
    watcher = ConfigSourceWatcher(
        source, tmp_path / "state", GitTimeouts(5, 10), 60.0, state, recorder.event
    )
    watcher.apply = recorder.apply
    return watcher, state, metrics


def sample(metrics: ConfigMetrics, reason: str) -> float:
    return metrics.errors.labels(reason)._value.get()


def good_files() -> dict[str, str | None]:
    return {
        "fleet.yaml": CLUSTER + SOURCES + "include: [apps/]\n",
        "kube.yaml": KUBECONFIG,
        "apps/web.yaml": apps("web"),
    }


async def test_a_good_commit_is_taken_a_bad_one_refused_and_the_next_good_one_taken(
    repo: Repo, tmp_path: Path
) -> None:
    first = repo.commit(good_files(), "first")
    recorder = Recorder()
    source = ConfigSource(url=repo.url, branch="main")
    watcher, state, metrics = watcher_for(tmp_path, source, recorder)

    config = await watcher.first_config()
    assert [a.name for a in config.apps] == ["web"]
    assert state.revision is not None
    assert state.revision.sha == first
    # Relative paths in the config point into the checkout kept for the config in force.
    kubeconfig = config.cluster("dev").kubeconfig
    assert kubeconfig is not None
    assert kubeconfig.read_text() == KUBECONFIG
    assert state.as_json()["revision"] == first

    kube_v2 = KUBECONFIG + "# v2\n"
    bad = repo.commit(
        {"apps/api.yaml": apps("api", source="platfrom"), "kube.yaml": kube_v2}, "typo"
    )
    assert await watcher._next_config() is None
    assert state.revision.sha == first  # the old config stays in force
    refusal = state.as_json()["rejected"]
    assert refusal["revision"] == bad
    (issue,) = refusal["issues"]
    assert (issue["file"], issue["line"], issue["column"]) == ("apps/api.yaml", 3, 13)
    assert "no source named 'platfrom'" in issue["message"]
    kind, message, details = recorder.events[-1]
    assert kind == "config_rejected"
    assert bad[:12] in message
    assert "apps/api.yaml:3:13" in message
    assert details["revision"] == bad
    assert details["reason"] == "invalid"
    assert sample(metrics, "invalid") == 1
    assert metrics.rejected._value.get() == 1
    assert kubeconfig.read_text() == KUBECONFIG  # the checkout in force was not touched

    # The refused commit is not checked again at each poll ...
    assert await watcher._next_config() is None
    assert recorder.kinds().count("config_rejected") == 1
    # ... unless asked to (SIGHUP).
    watcher.poke(revalidate=True)
    assert await watcher._next_config() is None
    assert recorder.kinds().count("config_rejected") == 2

    fixed = repo.commit({"apps/api.yaml": apps("api")}, "fix the typo")
    watcher.poke()
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(watcher.run)
            await recorder.taken.wait()
            tasks.cancel_scope.cancel()
    new_config, origin = recorder.applied[0]
    assert [a.name for a in new_config.apps] == ["api", "web"]
    assert origin["revision"] == fixed
    assert state.revision.sha == fixed
    assert state.refusal is None
    assert metrics.rejected._value.get() == 0
    # Paths into the checkout stay the same across commits: nothing is rebuilt for them.
    assert new_config.cluster("dev") == config.cluster("dev")
    assert kubeconfig.read_text() == kube_v2
    checkouts = list((tmp_path / "state" / "config-source" / "checkouts").iterdir())
    assert len(checkouts) == 1
    await watcher.aclose()


async def test_the_config_path_and_an_include_out_of_the_checkout(
    repo: Repo, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text(apps("stolen"))
    files = good_files()
    files = {f"config/{k}": v for k, v in files.items()}
    repo.commit(files)
    recorder = Recorder()
    watcher, state, _ = watcher_for(
        tmp_path, ConfigSource(url=repo.url, branch="main", path="config/fleet.yaml"), recorder
    )
    config = await watcher.first_config()
    assert [a.name for a in config.apps] == ["web"]

    repo.work.symlink("config/apps/evil.yaml", str(outside))
    sha = repo.commit({}, "sneak a file in")
    assert await watcher._next_config() is None
    (issue,) = state.as_json()["rejected"]["issues"]
    assert issue["file"] == "config/fleet.yaml"
    assert "config/apps/evil.yaml leads outside the config's root directory" in issue["message"]
    assert state.as_json()["rejected"]["revision"] == sha


async def test_a_missing_config_file_is_refused_and_the_daemon_starts_empty(
    repo: Repo, tmp_path: Path
) -> None:
    repo.commit({"README.md": "no config here"})
    recorder = Recorder()
    watcher, state, _ = watcher_for(tmp_path, ConfigSource(url=repo.url, branch="main"), recorder)
    config = await watcher.first_config()
    assert config.apps == []
    assert config.clusters == []
    assert not state.loaded
    assert state.as_json()["rejected"]["issues"][0]["message"] == "file not found"


async def test_an_unsigned_commit_is_refused_when_signatures_are_required(
    repo: Repo, tmp_path: Path
) -> None:
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed (apt-get install openssh-client)")
    key = generate_ssh_key(tmp_path / "release-key")
    signed = repo.commit(good_files(), "signed", ssh_signing_key=key)
    source = ConfigSource.model_validate(
        {
            "url": repo.url,
            "branch": "main",
            "verify": {"sshPublicKeys": [str(key) + ".pub"]},
        }
    )
    recorder = Recorder()
    watcher, state, metrics = watcher_for(tmp_path, source, recorder)
    await watcher.first_config()
    assert state.revision is not None
    assert state.revision.sha == signed
    assert state.revision.signed_by is not None

    unsigned = repo.commit({"apps/api.yaml": apps("api")}, "unsigned change")
    assert await watcher._next_config() is None
    assert state.revision.sha == signed
    kind, message, details = recorder.events[-1]
    assert kind == "config_rejected"
    assert details["reason"] == "untrusted"
    assert f"commit {unsigned} is not trusted: the commit is not signed" in message
    assert state.as_json()["rejected"]["revision"] == unsigned
    assert sample(metrics, "untrusted") == 1
    assert await watcher._next_config() is None
    assert recorder.kinds().count("config_rejected") == 1  # named once, not at every poll


async def test_fetch_failures_are_reported_once_and_counted(repo: Repo, tmp_path: Path) -> None:
    repo.commit(good_files())
    recorder = Recorder()
    watcher, state, metrics = watcher_for(
        tmp_path, ConfigSource(url=repo.url, branch="main"), recorder
    )
    await watcher.first_config()
    repo.server.stop()
    for _ in range(2):
        assert await watcher._next_config() is None
    assert recorder.kinds() == ["source_failed"]
    assert recorder.events[0][2] == {"source": "fleet-config"}
    assert sample(metrics, "fetch") == 2
    assert state.fetch_error
    assert state.as_json()["fetch_error"] == state.fetch_error
    assert state.loaded  # the config in force is kept


async def test_a_broken_state_directory_is_a_reported_error_not_a_crash(
    repo: Repo, tmp_path: Path
) -> None:
    repo.commit(good_files())
    (tmp_path / "state").write_text("a file where the state directory should be")
    recorder = Recorder()
    watcher, state, metrics = watcher_for(
        tmp_path, ConfigSource(url=repo.url, branch="main"), recorder
    )
    config = await watcher.first_config()
    assert config.apps == []
    assert not state.loaded
    assert recorder.kinds() == ["source_failed"]
    assert sample(metrics, "fetch") == 1


async def test_a_tag_is_followed_not_the_branch(repo: Repo, tmp_path: Path) -> None:
    released = repo.commit(good_files(), "release 1")
    repo.work.tag("v1")
    repo.commit({"apps/api.yaml": apps("api")}, "not released yet")
    repo.work.push()
    watcher, state, _ = watcher_for(tmp_path, ConfigSource(url=repo.url, tag="v1"), Recorder())
    config = await watcher.first_config()
    assert [a.name for a in config.apps] == ["web"]
    assert state.revision is not None
    assert state.revision.sha == released
    assert state.as_json()["source"]["ref"] == "v1"


@pytest.mark.parametrize("kind", ["basic", "token"])
async def test_credentials_come_from_files(tmp_path: Path, kind: str) -> None:
    served = tmp_path / "served"
    work = WorkRepo(tmp_path / "work", init_bare(served / "fleet-config.git"))
    for relative, text in good_files().items():
        assert text is not None
        work.write(relative, text)
    sha = work.commit("first")
    work.push()
    (tmp_path / "user").write_text("fleet-bot\n")
    (tmp_path / "secret").write_text("s3cret-pass\n")
    if kind == "basic":
        auth = {"usernameFile": str(tmp_path / "user"), "passwordFile": str(tmp_path / "secret")}
    else:
        auth = {"tokenFile": str(tmp_path / "secret"), "tokenUsername": "fleet-bot"}
    with GitHttpServer(served, "fleet-bot", "s3cret-pass") as server:
        url = server.url("fleet-config.git")
        plain = {"url": url, "branch": "main"}
        recorder = Recorder()
        anonymous, state, _ = watcher_for(
            tmp_path / "a", ConfigSource.model_validate(plain), recorder
        )
        await anonymous.first_config()
        assert not state.loaded
        assert recorder.kinds() == ["source_failed"]
        with_auth = {**plain, "auth": {**auth, "allowInsecureHttp": True}}
        watcher, state, _ = watcher_for(
            tmp_path / "b", ConfigSource.model_validate(with_auth), Recorder()
        )
        await watcher.first_config()
        assert state.revision is not None
        assert state.revision.sha == sha


def test_the_interval_and_name_reach_the_watcher(tmp_path: Path) -> None:
    from fleet.config import Settings
    from fleet.runtime.config_source import config_watcher_for

    source = ConfigSource(url="https://git.example.com/f.git", branch="main")
    settings = Settings(state_dir=tmp_path, config_source=source, poll_interval="7s")
    state = ConfigState(None, source, ConfigMetrics(CollectorRegistry()))
    watcher = config_watcher_for(settings, state, Recorder().event)
    assert watcher is not None
    assert watcher.interval == 7.0
    named = source.model_copy(update={"interval": timedelta(seconds=42), "name": "platform-cfg"})
    settings = Settings(state_dir=tmp_path, config_source=named)
    watcher = config_watcher_for(settings, state, Recorder().event)
    assert watcher is not None
    assert watcher.interval == 42.0
    assert watcher.source.name == "platform-cfg"
    assert config_watcher_for(Settings(state_dir=tmp_path), state, Recorder().event) is None


async def test_an_ssh_key_and_known_hosts_are_used(tmp_path: Path) -> None:
    if reason := sshd_missing_reason():
        pytest.skip(reason)
    bare = init_bare(tmp_path / "served" / "fleet-config.git")
    work = WorkRepo(tmp_path / "work", bare)
    for relative, text in good_files().items():
        assert text is not None
        work.write(relative, text)
    sha = work.commit("first")
    work.push()
    key = generate_ssh_key(tmp_path / "client_key")
    with SshServer(tmp_path / "sshd", key.with_name(key.name + ".pub")) as server:
        known_hosts = tmp_path / "known_hosts"
        known_hosts.write_text(server.known_hosts_line())
        wrong_hosts = tmp_path / "wrong_known_hosts"
        wrong_hosts.write_text(server.known_hosts_line(generate_ssh_key(tmp_path / "other")))
        base = {"url": server.url(bare), "branch": "main", "auth": {"sshKeyFile": str(key)}}
        for hosts, works in ((wrong_hosts, False), (known_hosts, True)):
            entry = {**base, "auth": {**base["auth"], "knownHostsFile": str(hosts)}}
            recorder = Recorder()
            watcher, state, _ = watcher_for(
                tmp_path / f"state-{hosts.name}", ConfigSource.model_validate(entry), recorder
            )
            await watcher.first_config()
            assert state.loaded is works
            if works:
                assert state.revision is not None
                assert state.revision.sha == sha
            else:
                assert recorder.kinds() == ["source_failed"]
            await watcher.aclose()


async def test_a_main_file_that_leads_out_or_is_too_big_is_refused(
    repo: Repo, tmp_path: Path
) -> None:
    outside = tmp_path / "host-secret.yaml"
    outside.write_text(CLUSTER)
    repo.work.symlink("fleet.yaml", str(outside))
    linked = repo.commit({}, "fleet.yaml is a link out")
    recorder = Recorder()
    watcher, state, _ = watcher_for(tmp_path, ConfigSource(url=repo.url, branch="main"), recorder)
    await watcher.first_config()
    refusal = state.as_json()["rejected"]
    assert refusal["revision"] == linked
    assert refusal["issues"][0]["message"] == "leads outside the repository"

    repo.work.remove("fleet.yaml")
    big = repo.commit({"fleet.yaml": "#" * (MAX_FILE_BYTES + 1)}, "huge")
    assert await watcher._next_config() is None
    refusal = state.as_json()["rejected"]
    assert refusal["revision"] == big
    assert refusal["issues"][0]["message"] == "larger than 4 MiB"


async def test_a_bug_in_a_round_does_not_stop_the_watcher(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.commit(good_files())
    recorder = Recorder()
    watcher, _, _ = watcher_for(tmp_path, ConfigSource(url=repo.url, branch="main"), recorder)
    rounds = 0

    async def broken() -> None:
        nonlocal rounds
        rounds += 1
        raise RuntimeError("a bug")

    monkeypatch.setattr(watcher, "_next_config", broken)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(watcher.run)
            for _ in range(2):
                watcher.poke()
                await anyio.sleep(0.2)
            tasks.cancel_scope.cancel()
    assert rounds == 2


async def test_host_files_must_be_in_the_checkout_or_the_credential_dirs(
    repo: Repo, tmp_path: Path
) -> None:
    """A commit may not make the daemon read (and send) a host file of its choosing."""
    allowed = tmp_path / "creds"
    allowed.mkdir()
    (allowed / "token").write_text("s3cret\n")
    elsewhere = tmp_path / "etc-fleet"
    elsewhere.mkdir()
    (elsewhere / "api-token").write_text("admin\n")
    server_cluster = (
        "  - name: evil\n    server: https://attacker.example.com\n    tokenFile: {token}\n"
    )
    repo.commit(good_files(), "first")
    recorder = Recorder()
    source = ConfigSource(url=repo.url, branch="main", credential_dirs=[allowed])
    watcher, state, _ = watcher_for(tmp_path, source, recorder)
    await watcher.first_config()

    # A token in an allowed directory is fine (and the kubeconfig in the checkout).
    good = CLUSTER + server_cluster.format(token=allowed / "token") + SOURCES
    repo.commit({"fleet.yaml": good + "include: [apps/]\n"}, "a cluster with a token")
    config = await watcher._next_config()
    assert config is not None
    assert [c.name for c in config[0].clusters] == ["dev", "evil"]

    # Any other host file is refused, naming the file, line, column and field; so is a
    # symbolic link in the repository that leads out of it to such a file.
    bad = CLUSTER + server_cluster.format(token=elsewhere / "api-token") + SOURCES
    sha = repo.commit({"fleet.yaml": bad + "include: [apps/]\n"}, "steal the API token")
    assert await watcher._next_config() is None
    (issue,) = state.as_json()["rejected"]["issues"]
    assert (issue["file"], issue["line"]) == ("fleet.yaml", 6)
    assert issue["path"] == "clusters[1].tokenFile"
    assert f"{elsewhere / 'api-token'} is outside the directories" in issue["message"]
    assert str(allowed) in issue["message"]
    assert state.as_json()["rejected"]["revision"] == sha

    repo.work.symlink("token-link", str(elsewhere / "api-token"))
    linked = CLUSTER + server_cluster.format(token="token-link") + SOURCES
    repo.commit({"fleet.yaml": linked + "include: [apps/]\n"}, "through a link")
    assert await watcher._next_config() is None
    (issue,) = state.as_json()["rejected"]["issues"]
    assert issue["path"] == "clusters[1].tokenFile"
    assert f"(it leads to {elsewhere / 'api-token'})" in issue["message"]


async def test_by_default_only_the_state_dirs_credentials_folder_is_allowed(
    repo: Repo, tmp_path: Path
) -> None:
    (tmp_path / "state" / "credentials").mkdir(parents=True)
    token = tmp_path / "state" / "credentials" / "token"
    token.write_text("t\n")
    cluster = "  - name: two\n    server: https://k8s.example.com\n    tokenFile: {token}\n"
    repo.commit({**good_files(), "fleet.yaml": CLUSTER + cluster.format(token=token) + SOURCES})
    recorder = Recorder()
    source = ConfigSource(url=repo.url, branch="main")
    watcher, state, _ = watcher_for(tmp_path, source, recorder)
    config = await watcher.first_config()
    assert [c.name for c in config.clusters] == ["dev", "two"]

    other = tmp_path / "token"
    other.write_text("t\n")
    repo.commit({"fleet.yaml": CLUSTER + cluster.format(token=other) + SOURCES})
    assert await watcher._next_config() is None
    (issue,) = state.as_json()["rejected"]["issues"]
    assert str(tmp_path / "state" / "credentials") in issue["message"]
