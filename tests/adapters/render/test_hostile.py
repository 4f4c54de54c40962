"""A hostile repository: every attempt to exhaust the renderer fails its own render, clearly.

Each case is the finding of a probe: a YAML alias bomb (deep and broad), a file of
100 MB, a chart printing more than the render may yield or looping for ever, tens of
thousands of objects. Each must fail with an error naming the file (or app path) and
the setting that bounds it, in a render process, while the event loop and the other
renders go on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from fleet.adapters.render import (
    HelmOptions,
    InvalidYamlError,
    Renderer,
    RenderError,
    RenderRequest,
)
from fleet.adapters.render.isolation import RenderPool
from fleet.adapters.render.limits import LimitExceededError, RenderLimits
from tests.adapters.render.conftest import write

pytestmark = pytest.mark.anyio

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


def bomb_lines(levels: int = 9, width: int = 9, indent: str = "  ") -> str:
    """The classic "billion laughs": each level lists ``width`` aliases of the one before."""
    lines = [f"{indent}l0: &l0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels):
        aliases = ", ".join([f"*l{level - 1}"] * width)
        lines.append(f"{indent}l{level}: &l{level} [{aliases}]")
    return "\n".join(lines) + "\n"


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """A ConfigMap whose data holds the bomb (420-odd bytes)."""
    return CM.format(name="bomb") + "data:\n" + bomb_lines(levels, width)


def broad_bomb(items: int = 1000, copies: int = 1000) -> str:
    """One wide anchor aliased many times: no depth, the same expansion."""
    anchor = "[" + ", ".join(f"v{i}" for i in range(items)) + "]"
    aliases = ", ".join(["*wide"] * copies)
    return CM.format(name="broad") + f"data:\n  wide: &wide {anchor}\n  copies: [{aliases}]\n"


@pytest.fixture
def pool() -> Iterator[RenderPool]:
    """Render processes of this test's own, so killing them disturbs no other test."""
    pool = RenderPool(2)
    yield pool
    pool.close()


def renderer(pool: RenderPool, **limits: float) -> Renderer:
    return Renderer(pool=pool, limits=RenderLimits(**limits))  # type: ignore[arg-type]


async def refused(renderer: Renderer, root: Path, path: str, **options: object) -> RenderError:
    started = time.monotonic()
    with pytest.raises(RenderError) as raised:
        await renderer.render(RenderRequest(root, path, **options))  # type: ignore[arg-type]
    assert time.monotonic() - started < 30, "a refusal must not take the time it refuses"
    return raised.value


# -- YAML aliases ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expanded"),
    [(alias_bomb(), "490,329,074"), (broad_bomb(), "1,002,015")],
    ids=["deep", "broad"],
)
async def test_an_alias_bomb_is_refused_before_it_expands(
    tmp_path: Path, pool: RenderPool, text: str, expanded: str
) -> None:
    write(tmp_path, "app/bomb.yaml", text)
    error = await refused(renderer(pool), tmp_path, "app")
    assert isinstance(error, InvalidYamlError)
    assert str(error).startswith("app/bomb.yaml:1: excessive aliasing"), error
    assert expanded in str(error)


async def test_many_small_bombs_in_one_file_are_refused_together(
    tmp_path: Path, pool: RenderPool
) -> None:
    # Each document alone stays within go-yaml's ratio; 600 of them expand by 1.2 million.
    one = alias_bomb(levels=3, width=12)
    write(tmp_path, "app/bombs.yaml", "---\n".join([one] * 600))
    error = await refused(renderer(pool), tmp_path, "app")
    assert "excessive aliasing" in str(error)
    assert "more than 1,000,000 values in all" in str(error)
    assert error.path == "app/bombs.yaml"


async def test_an_anchor_that_contains_itself_is_refused(tmp_path: Path, pool: RenderPool) -> None:
    write(tmp_path, "app/loop.yaml", CM.format(name="loop") + "data: &self {again: *self}\n")
    error = await refused(renderer(pool), tmp_path, "app")
    assert "app/loop.yaml:1" in str(error)
    assert "contains an alias of itself" in str(error)


async def test_ordinary_anchors_and_merge_keys_still_work(tmp_path: Path, pool: RenderPool) -> None:
    write(
        tmp_path,
        "app/cms.yaml",
        """
        apiVersion: v1
        kind: List
        items:
          - {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: &shared {L: info, M: fast}}
          - {apiVersion: v1, kind: ConfigMap, metadata: {name: b}, data: {<<: *shared, M: slow}}
        """,
    )
    result = await renderer(pool).render(RenderRequest(tmp_path, "app"))
    assert [dict(m.body["data"]) for m in result.manifests] == [
        {"L": "info", "M": "fast"},
        {"L": "info", "M": "slow"},
    ]


async def test_an_alias_bomb_in_a_kustomization_is_refused_before_kustomize(
    tmp_path: Path, pool: RenderPool
) -> None:
    write(tmp_path, "app/kustomization.yaml", "resources: []\ncommonLabels:\n" + bomb_lines())
    error = await refused(renderer(pool), tmp_path, "app")
    assert str(error).startswith("app/kustomization.yaml:1: excessive aliasing"), error


async def test_an_alias_bomb_in_helm_values_names_the_values_file(
    tmp_path: Path, pool: RenderPool
) -> None:
    write(tmp_path, "chart/Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n")
    write(tmp_path, "chart/templates/cm.yaml", CM.format(name="c"))
    write(tmp_path, "values/bomb.yaml", bomb_lines(indent=""))
    error = await refused(
        renderer(pool), tmp_path, "chart", helm=HelmOptions(values_files=["values/bomb.yaml"])
    )
    assert str(error).startswith("values/bomb.yaml:1: excessive aliasing"), error


# -- sizes and counts ------------------------------------------------------------------


async def test_a_100_mb_file_is_refused_without_being_read(
    tmp_path: Path, pool: RenderPool
) -> None:
    write(tmp_path, "app/cm.yaml", CM.format(name="fine"))
    os.truncate(write(tmp_path, "app/huge.yaml", ""), 100 << 20)  # sparse: nothing on disk
    error = await refused(renderer(pool), tmp_path, "app")
    assert isinstance(error, LimitExceededError)
    assert str(error) == (
        "app/huge.yaml: file is 100 MiB, over the limit of 16 MiB per file "
        "(setting render.max_file_size)"
    )


async def test_a_huge_file_named_by_a_kustomization_is_refused(
    tmp_path: Path, pool: RenderPool
) -> None:
    write(tmp_path, "app/kustomization.yaml", "resources: [big.yaml]\n")
    os.truncate(write(tmp_path, "app/big.yaml", ""), 17 << 20)
    error = await refused(renderer(pool), tmp_path, "app")
    assert str(error).startswith("app/big.yaml: file is 17 MiB, over the limit of 16 MiB")


async def test_plain_files_together_are_bounded(tmp_path: Path, pool: RenderPool) -> None:
    for index in range(3):
        write(tmp_path, f"app/cm{index}.yaml", CM.format(name=f"cm{index}") + "# " + "x" * 500)
    error = await refused(renderer(pool, max_rendered_bytes=1024), tmp_path, "app")
    assert str(error).startswith("app: the total of the manifest files is 1.6 KiB, over the limit")
    assert "(setting render.max_rendered_size)" in str(error)


def many_config_maps(count: int) -> str:
    return "".join(
        f"---\n{{apiVersion: v1, kind: ConfigMap, metadata: {{name: cm-{i}}}}}\n"
        for i in range(count)
    )


async def test_tens_of_thousands_of_objects_are_refused(tmp_path: Path, pool: RenderPool) -> None:
    write(tmp_path, "app/objects.yaml", many_config_maps(50_000))
    error = await refused(renderer(pool), tmp_path, "app")
    assert isinstance(error, LimitExceededError)
    assert str(error).startswith("app/objects.yaml:"), error
    assert "more than 10000 objects" in str(error)
    assert "(setting render.max_objects)" in str(error)


async def test_a_list_cannot_smuggle_objects_past_the_count(
    tmp_path: Path, pool: RenderPool
) -> None:
    items = ", ".join(
        f"{{apiVersion: v1, kind: ConfigMap, metadata: {{name: c{i}}}}}" for i in range(30)
    )
    write(tmp_path, "app/list.yaml", f"apiVersion: v1\nkind: List\nitems: [{items}]\n")
    error = await refused(renderer(pool, max_objects=20), tmp_path, "app")
    assert str(error) == (
        "app/list.yaml: renders more than 20 objects, the limit per app "
        "(setting render.max_objects)"
    )


# -- Helm: output, memory, CPU and time ------------------------------------------------

LOOPS = """
{{- range $i := until (int .Values.count) }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm-{{ $i }}
data:
  blob: {{ repeat (int $.Values.size) "a" | quote }}
{{- end }}
"""

SPIN = """
{{- range $i := until 20000 }}{{ range $j := until 20000 }}{{ end }}{{ end }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: never
"""


def chart(root: Path, template: str) -> None:
    write(root, "chart/Chart.yaml", "apiVersion: v2\nname: hostile\nversion: 0.1.0\n")
    (root / "chart/templates").mkdir(parents=True, exist_ok=True)
    (root / "chart/templates/cm.yaml").write_text(template)


async def test_huge_helm_output_is_refused(tmp_path: Path, pool: RenderPool) -> None:
    chart(tmp_path, LOOPS)
    values = HelmOptions(values={"count": 8, "size": 300_000})
    error = await refused(
        renderer(pool, max_rendered_bytes=1 << 20), tmp_path, "chart", helm=values
    )
    assert isinstance(error, LimitExceededError)
    assert str(error).startswith("chart: Helm's output is 2.3 MiB, over the limit of 1 MiB")


async def test_helm_output_of_too_many_objects_is_refused(tmp_path: Path, pool: RenderPool) -> None:
    chart(tmp_path, LOOPS)
    values = HelmOptions(values={"count": 20_000, "size": 1})
    error = await refused(renderer(pool), tmp_path, "chart", helm=values)
    assert str(error).startswith("chart/templates/cm.yaml:"), error
    assert "more than 10000 objects" in str(error)


async def test_a_render_that_eats_memory_is_stopped(tmp_path: Path, pool: RenderPool) -> None:
    chart(tmp_path, LOOPS)
    values = HelmOptions(values={"count": 40, "size": 100_000_000})  # 4 GB of text
    error = await refused(renderer(pool, memory_bytes=768 << 20), tmp_path, "chart", helm=values)
    assert str(error) == (
        "chart: the render needed more than 768 MiB of memory and was stopped "
        "(setting render.memory)"
    )
    assert pool.retired == 1


async def test_a_render_that_spins_is_stopped_at_its_cpu_time(
    tmp_path: Path, pool: RenderPool
) -> None:
    chart(tmp_path, SPIN)
    error = await refused(renderer(pool, cpu_seconds=1), tmp_path, "chart")
    assert str(error) == (
        "chart: the render used more than 1s of CPU time and was stopped (setting render.cpu_time)"
    )


async def test_a_render_past_its_timeout_is_stopped(tmp_path: Path, pool: RenderPool) -> None:
    chart(tmp_path, SPIN)
    started = time.monotonic()
    error = await refused(renderer(pool, timeout_seconds=0.5), tmp_path, "chart")
    assert (
        str(error)
        == "chart: the render took longer than 0.5s and was stopped (setting render.timeout)"
    )
    assert time.monotonic() - started < 5


async def test_others_render_and_the_loop_stays_free_while_a_render_spins(
    tmp_path: Path, pool: RenderPool
) -> None:
    chart(tmp_path, SPIN)
    write(tmp_path, "good/cm.yaml", CM.format(name="good"))
    bounded = renderer(pool, cpu_seconds=3)
    gaps: list[float] = []
    good_done: list[float] = []

    async def ticker() -> None:
        last = time.monotonic()
        while True:
            await anyio.sleep(0.02)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    async def good_renders() -> None:
        await anyio.sleep(0.3)  # the spinning render holds one process by now
        for index in range(5):
            write(tmp_path, "good/cm.yaml", CM.format(name=f"good-{index}"))
            started = time.monotonic()
            result = await bounded.render(RenderRequest(tmp_path, "good"))
            good_done.append(time.monotonic() - started)
            assert result.manifests[0].ref.name == f"good-{index}"

    async with anyio.create_task_group() as group:
        group.start_soon(ticker)
        group.start_soon(good_renders)
        with pytest.raises(LimitExceededError, match="CPU time"):
            await bounded.render(RenderRequest(tmp_path, "chart"))
        group.cancel_scope.cancel()
    assert len(good_done) == 5
    assert max(good_done) < 2.0, good_done
    assert max(gaps) < 0.5, f"the event loop stalled for {max(gaps):.2f}s"


async def test_a_stopped_process_is_replaced_and_rendering_goes_on(
    tmp_path: Path, pool: RenderPool
) -> None:
    chart(tmp_path, SPIN)
    write(tmp_path, "good/cm.yaml", CM.format(name="after"))
    bounded = renderer(pool, timeout_seconds=0.3)
    for _ in range(3):
        with pytest.raises(LimitExceededError):
            await bounded.render(RenderRequest(tmp_path, "chart"))
    result = await bounded.render(RenderRequest(tmp_path, "good"))
    assert result.manifests[0].ref.name == "after"
    assert pool.retired == 3


async def test_render_processes_see_none_of_the_daemons_secrets(
    tmp_path: Path, pool: RenderPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLEET_TEST_SECRET", "do-not-leak")
    write(tmp_path, "app/cm.yaml", CM.format(name="env"))
    await renderer(pool).render(RenderRequest(tmp_path, "app"))
    [worker] = pool._idle
    environment = (Path("/proc") / str(worker.process.pid) / "environ").read_bytes()
    assert b"do-not-leak" not in environment
    assert b"HOME=/nonexistent" in environment.split(b"\0")


async def test_a_cancelled_render_stops_its_process_at_once(
    tmp_path: Path, pool: RenderPool
) -> None:
    chart(tmp_path, SPIN)
    write(tmp_path, "good/cm.yaml", CM.format(name="good"))
    bounded = renderer(pool)
    await bounded.render(RenderRequest(tmp_path, "good"))  # a warm process
    started = time.monotonic()
    with anyio.move_on_after(0.5):
        await bounded.render(RenderRequest(tmp_path, "chart"))
    assert time.monotonic() - started < 1.0
    for _ in range(40):  # the process is killed within a poll interval (0.2 s)
        if pool.retired:
            break
        await anyio.sleep(0.05)
    assert pool.retired == 1
    assert await bounded.render(RenderRequest(tmp_path, "good"))
