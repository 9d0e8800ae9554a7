"""``GET /channels/{name}?offset=&limit=``: a big channel's members a page at a time, with
the count of them all; bad numbers are a 400 and the server keeps serving."""

from __future__ import annotations

from typing import Any

from .test_admin_documents import ENCODED, ROOM, join_tracked


async def test_members_come_a_page_at_a_time_with_their_total(admin_env: Any) -> None:
    admin = await admin_env.start()
    for name in ("ann", "bob", "cy", "dee", "eve"):
        await join_tracked(await admin_env.ws(admin, name))
    whole = await admin.json(f"/channels/{ENCODED}")
    assert whole["member_count"] == 5 and len(whole["members"]) == 5
    order = [m["user_id"] for m in whole["members"]]
    first = await admin.json(f"/channels/{ENCODED}?offset=0&limit=2")
    rest = await admin.json(f"/channels/{ENCODED}?offset=2&limit=10")
    assert (first["members_total"], first["offset"], first["limit"]) == (5, 0, 2)
    assert [m["user_id"] for m in first["members"] + rest["members"]] == order
    assert (await admin.json(f"/channels/{ENCODED}?offset=9"))["members"] == []


async def test_bad_paging_numbers_are_a_400(admin_env: Any) -> None:
    admin = await admin_env.start()
    await join_tracked(await admin_env.ws(admin, "ann"))
    for query in ("offset=-1", "offset=x", "limit=0", "limit=2000000", "limit="):
        response = await admin.get(f"/channels/{ENCODED}?{query}")
        assert response.status_code == 400, (query, response.text)
        assert "must be a whole number" in response.json()["error"]
    assert (await admin.json(f"/channels/{ENCODED}"))["name"] == ROOM
