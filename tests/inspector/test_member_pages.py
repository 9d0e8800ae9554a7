"""A big channel's members in the inspector: a page at a time (``]`` next, ``[`` previous),
the title saying which members of how many are shown."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import DataTable

from pondsocket_tools.inspector.app import MEMBER_PAGE, InspectorApp
from pondsocket_tools.inspector.views import ChannelView

from . import conftest
from .conftest import FakeAPI, wait_for

TOTAL = MEMBER_PAGE * 2 + 50


@pytest.fixture
def big_lobby(monkeypatch: pytest.MonkeyPatch) -> None:
    members = [conftest._member(f"user{i:04d}", f"n{i}", "online", "member", 1000.0 + i)
               for i in range(TOTAL)]
    monkeypatch.setitem(conftest.CHANNEL, "lobby", {**conftest.CHANNEL["lobby"],
                                                    "member_count": TOTAL, "members": members})


def shown(app: InspectorApp) -> tuple[int, str, str]:
    view = app.query_one(ChannelView)
    table = view.query_one(DataTable)
    return table.row_count, min(view.members), str(view._title)


async def test_members_are_paged_and_the_title_says_which(big_lobby: Any) -> None:
    app = InspectorApp(FakeAPI(), poll_interval=3600, reconnect_delay=3600)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.channel_doc is not None, what="the channel")
        await pilot.pause()
        rows, first, title = shown(app)
        assert (rows, first) == (MEMBER_PAGE, "user0000")
        assert f"members 1-{MEMBER_PAGE} of {TOTAL}" in title
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: min(app.query_one(ChannelView).members) != "user0000",
                       what="the next page")
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: len(app.query_one(ChannelView).members) == 50,
                       what="the last page")
        rows, first, title = shown(app)
        assert first == f"user{2 * MEMBER_PAGE:04d}"
        assert f"members {2 * MEMBER_PAGE + 1}-{TOTAL} of {TOTAL}" in title
        await pilot.press("right_square_bracket")  # no page beyond the last
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: len(app.query_one(ChannelView).members) == MEMBER_PAGE,
                       what="the previous page")
        assert shown(app)[1] == f"user{MEMBER_PAGE:04d}"
