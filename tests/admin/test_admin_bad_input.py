"""Every malformed admin request gets a 4xx JSON error that names the problem, never a 500,
and the admin API keeps answering afterwards."""

from __future__ import annotations

from typing import Any

import pytest

from pondsocket import AdminOptions

from .conftest import AUTH, TOKEN

ROOM = "%2Froom%2F1"


@pytest.mark.parametrize("limit", ["²", "٣", "0", "-1", "1.5", "", "1" * 5000, "1000001"],
                         ids=["superscript-two", "arabic-indic-three", "zero", "negative",
                              "fraction", "empty", "5000-digits", "over-the-cap"])
async def test_a_bad_connections_limit_is_400(admin_env: Any, limit: str) -> None:
    admin = await admin_env.start()
    response = await admin.http.get(admin.url("/connections"), params={"limit": limit},
                                    headers=AUTH)
    assert response.status_code == 400, response.text
    assert response.json() == {"error": "limit must be a whole number from 1 to 1000000",
                               "status": 400}
    assert (await admin.json("/connections?limit=1000000"))["total"] == 0


@pytest.mark.parametrize(("body", "status", "error"), [
    (b"[" * 50_000, 400, "nested too deeply"),
    (b'{"user_id": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", 400, "nested too deeply"),
    (b"\xff\xfe", 400, "Invalid JSON"),
    (b'"just a string"', 400, "the body must be a JSON object"),
    (b'{"user_id": "x", "reason": ' + b" " * 70_000 + b'"y"}', 413, "request body over"),
], ids=["unclosed-array-50000-deep", "object-20000-deep", "not-utf8", "not-an-object", "over-64k"])
async def test_a_malformed_write_body_is_refused_with_its_reason(
        admin_env: Any, body: bytes, status: int, error: str) -> None:
    admin = await admin_env.start(AdminOptions(token=TOKEN, allow_writes=True))
    response = await admin.http.post(admin.url(f"/channels/{ROOM}/evict"), content=body,
                                     headers=AUTH)
    assert response.status_code == status, response.text
    assert error in response.json()["error"]
    assert (await admin.json("/overview"))["connection_count"] == 0
