"""The worker's mailbox: merged triggers share one reply, and a reply can be awaited."""

from __future__ import annotations

import anyio
import pytest

from fleet.runtime.mailbox import Mailbox, Trigger

pytestmark = pytest.mark.anyio


async def test_an_equal_pending_trigger_absorbs_a_new_one() -> None:
    box = Mailbox()
    first = box.post(Trigger("manual"))
    second = box.post(Trigger("manual"))
    assert second is first, "the caller must watch the trigger that will run"
    assert await box.take() == [first]


async def test_a_prune_confirmation_is_never_merged_away() -> None:
    box = Mailbox()
    plain = box.post(Trigger("manual"))
    confirming = box.post(Trigger("manual", confirm_prune=True))
    dry = box.post(Trigger("manual", dry_run=True))
    assert confirming is not plain
    assert dry is not plain
    assert [t.confirm_prune for t in await box.take()] == [False, True, False]


async def test_waiting_for_the_sync_id() -> None:
    trigger = Trigger("manual")
    got: list[int] = []

    async def waiter() -> None:
        await trigger.reply.wait()
        got.extend(trigger.reply)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(waiter)
        await anyio.sleep(0.01)
        assert got == []
        trigger.reply.append(42)  # what the worker does when the sync is recorded
    assert got == [42]
    with anyio.fail_after(1):
        await trigger.reply.wait()  # already there: returns at once


@pytest.mark.parametrize(
    ("waiting", "holds"),
    [
        ([], False),
        ([Trigger("drift")], True),
        ([Trigger("drift", revision="abc")], False),
        ([Trigger("drift", dry_run=True)], False),
        ([Trigger("drift", confirm_prune=True)], False),
        ([Trigger("poll")], False),
        ([Trigger("poll"), Trigger("drift", detail="MODIFIED x")], True),
    ],
)
async def test_holds_plain_is_true_exactly_when_a_new_trigger_would_merge(
    waiting: list[Trigger], holds: bool
) -> None:
    box = Mailbox()
    for trigger in waiting:
        box.post(trigger)
    assert box.holds_plain("drift") is holds
    new = Trigger("drift")
    assert (box.post(new) is not new) is holds
