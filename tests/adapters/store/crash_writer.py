"""Writes syncs to a history file as fast as it can until killed (run by test_durability).

After each committed step it prints a line, so the test knows what must have survived:
``started ID``, ``progress ID STEP``, ``finished ID``.
"""

from __future__ import annotations

import sys

from fleet.adapters.store import HistoryStore, ResourceResult


def main(path: str, first_round: int) -> None:
    store = HistoryStore.open(path)
    print("ready", flush=True)
    round_ = first_round
    while True:
        round_ += 1
        sync_id = store.start_sync("web", f"c{round_ % 3}", f"rev{round_}", "poll")
        print("started", sync_id, flush=True)
        for step in range(3):
            store.record_results(
                sync_id,
                [
                    ResourceResult("Sync", step, "", "ConfigMap", "web", f"cm{step}-{n}", "created")
                    for n in range(25)
                ],
            )
            store.update_inventory(
                "web",
                f"c{round_ % 3}",
                revision=f"rev{round_}",
                applied=[("", "ConfigMap", "web", f"cm{step}-{n}") for n in range(25)],
            )
            store.save_progress(sync_id, {"step": step})
            print("progress", sync_id, step, flush=True)
        if round_ % 2:
            store.finish_sync(sync_id, "Succeeded", "done")
            print("finished", sync_id, flush=True)
        store.add_event("drift", f"round {round_}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
