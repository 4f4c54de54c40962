"""Generator state in SQLite: what each generator made and its hold, across a reopen."""

from __future__ import annotations

from pathlib import Path

from fleet.adapters.store import HistoryStore
from fleet.adapters.store.generators import GeneratorRecord
from tests.adapters.store.conftest import FakeClock


def test_generator_state_is_replaced_whole_and_survives_a_reopen(
    store: HistoryStore, db_path: Path, clock: FakeClock
) -> None:
    web = {"name": "team-web", "source": "platform", "path": "teams/web"}
    api = {"name": "team-api", "source": "platform", "path": "teams/api", "helm": {"x": 1}}
    store.save_generators(
        {
            "teams": GeneratorRecord(
                "teams",
                "a" * 40,
                {"team-web": web, "team-api": api},
                held="generator teams would remove every app it made",
                removing=("team-api", "team-web"),
            ),
            "envs": GeneratorRecord("envs", None, {}),
        }
    )
    store.close()
    with HistoryStore.open(db_path, clock=clock) as reopened:
        states = reopened.generator_states()
        assert sorted(states) == ["envs", "teams"]
        teams = states["teams"]
        assert teams.revision == "a" * 40
        assert teams.apps == {"team-api": api, "team-web": web}
        assert teams.held == "generator teams would remove every app it made"
        assert teams.removing == ("team-api", "team-web")
        assert teams.updated_at == clock.now
        assert states["envs"].apps == {}
        assert states["envs"].held is None

        # A later save replaces everything: a generator gone from it is gone.
        reopened.save_generators({"teams": GeneratorRecord("teams", "b" * 40, {"team-web": web})})
        [(name, state)] = reopened.generator_states().items()
        assert name == "teams"
        assert state.apps == {"team-web": web}
        assert state.held is None
        assert state.removing == ()
