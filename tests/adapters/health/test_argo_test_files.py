"""``fleet health test`` reads Argo CD's test files as Argo CD's own test does.

Each row below is a difference found by running fleet against a sample of Argo CD's
resource_customizations tree; the scripts and objects here are written for these tests.
"""

from __future__ import annotations

from pathlib import Path

from fleet.adapters.health.testfiles import load_objects, run_test_file
from fleet.model.health import Health, HealthStatus

# Reports its own verdict for an object being deleted, as Argo CD's scripts now do.
GADGET_CHECK = """
if obj.metadata.deletionTimestamp ~= nil then
  local held = table.concat(obj.metadata.finalizers, ", ")
  return {status = "Progressing", message = "held by " .. held}
end
if obj.status ~= nil and obj.status.ready == true then
  return {status = "Healthy", message = "ready since " .. obj.status.since}
end
return {status = "Progressing", message = "waiting"}
"""


def gadget(status: str = "", metadata: str = "") -> str:
    return (
        "apiVersion: example.com/v1\nkind: Gadget\n"
        "metadata:\n  name: g\n  uid: 5f1e\n  resourceVersion: '42'\n" + metadata + status
    )


def write_tree(root: Path, test_file: str, inputs: dict[str, str]) -> Path:
    directory = root / "example.com" / "Gadget"
    (directory / "testdata").mkdir(parents=True)
    (directory / "health.lua").write_text(GADGET_CHECK)
    (directory / "health_test.yaml").write_text(test_file)
    for name, text in inputs.items():
        (directory / "testdata" / name).write_text(text)
    return directory / "health_test.yaml"


def test_each_case_is_judged_afresh_even_when_fixtures_share_a_version(tmp_path: Path) -> None:
    # Argo CD's fixtures are often copies of one object: same uid and resourceVersion.
    test_file = write_tree(
        tmp_path,
        "tests:\n"
        "- {healthStatus: {status: Progressing, message: waiting}, inputPath: testdata/a.yaml}\n"
        "- healthStatus: {status: Healthy, message: 'ready since 2024-01-01T00:00:00Z'}\n"
        "  inputPath: testdata/b.yaml\n",
        {
            "a.yaml": gadget(),
            "b.yaml": gadget("status:\n  ready: true\n  since: '2024-01-01T00:00:00Z'\n"),
        },
    )
    results = run_test_file(test_file, [], [tmp_path])
    assert [r.got for r in results] == [
        Health(HealthStatus.PROGRESSING, "waiting"),
        Health(HealthStatus.HEALTHY, "ready since 2024-01-01T00:00:00Z"),
    ]
    assert all(r.passed for r in results)


def test_the_script_judges_an_object_being_deleted(tmp_path: Path) -> None:
    test_file = write_tree(
        tmp_path,
        "tests:\n"
        "- {healthStatus: {status: Progressing, message: 'held by example.com/hold'},"
        " inputPath: testdata/deleting.yaml}\n",
        {
            "deleting.yaml": gadget(
                metadata="  deletionTimestamp: '2024-01-01T00:00:00Z'\n"
                "  finalizers: [example.com/hold]\n"
            )
        },
    )
    [result] = run_test_file(test_file, [], [tmp_path])
    assert result.got == Health(HealthStatus.PROGRESSING, "held by example.com/hold")
    assert result.decided_by.startswith("Lua ")


def test_field_names_match_whatever_their_case(tmp_path: Path) -> None:
    # Go's JSON decoder (which Argo CD's test reads the file with) ignores case.
    test_file = write_tree(
        tmp_path,
        "tests:\n"
        "- {healthstatus: {Status: Progressing, MESSAGE: waiting}, inputpath: testdata/a.yaml}\n",
        {"a.yaml": gadget()},
    )
    [result] = run_test_file(test_file, [], [tmp_path])
    assert result.error == ""
    assert result.expected == Health(HealthStatus.PROGRESSING, "waiting")
    assert result.passed


def test_an_unquoted_timestamp_reaches_the_script_as_written(tmp_path: Path) -> None:
    test_file = write_tree(
        tmp_path,
        "tests:\n"
        "- {healthStatus: {status: Healthy, message: 'ready since 2024-01-01T08:30:00Z'},"
        " inputPath: testdata/b.yaml}\n",
        {"b.yaml": gadget("status:\n  ready: true\n  since: 2024-01-01T08:30:00Z\n")},
    )
    [result] = run_test_file(test_file, [], [tmp_path])
    assert result.got == Health(HealthStatus.HEALTHY, "ready since 2024-01-01T08:30:00Z")
    [obj] = load_objects(test_file.parent / "testdata" / "b.yaml")
    assert obj["status"]["since"] == "2024-01-01T08:30:00Z"
    # Other scalars are typed as before.
    assert obj["metadata"]["resourceVersion"] == "42"
    assert obj["status"]["ready"] is True
