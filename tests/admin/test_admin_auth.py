"""The admin API is off by default and refuses requests without the right bearer token."""

from __future__ import annotations

from typing import Any

from pondsocket import AdminOptions

from .conftest import PREFIX, TOKEN


async def test_missing_token_is_401_with_challenge(admin_env: Any) -> None:
    admin = await admin_env.start()
    for headers in ({}, {"authorization": "Basic abc"}, {"authorization": "Bearer"}):
        response = await admin.get("/overview", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["status"] == 401


async def test_wrong_token_is_403(admin_env: Any) -> None:
    admin = await admin_env.start()
    response = await admin.get("/channels", headers={"authorization": "Bearer nope"})
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/json"
    assert "www-authenticate" not in response.headers
    # Unknown admin routes are also behind the token.
    assert (await admin.get("/nothing", headers={})).status_code == 401
    response = await admin.get("/nothing")
    assert response.status_code == 404 and response.json()["error"] == "unknown admin route"


async def test_right_token_is_accepted(admin_env: Any) -> None:
    admin = await admin_env.start()
    for route in ("", "/", "/overview"):
        doc = await admin.json(route)
        assert doc["node_id"] == admin.app.pond.node_id
    response = await admin.get("/overview", headers={"authorization": f"bearer {TOKEN}"})
    assert response.status_code == 200


async def test_admin_is_off_by_default(admin_env: Any) -> None:
    admin = await admin_env.start(None, default=False)
    assert admin.app.admin is None
    unknown = await admin.http.get(admin.server.http_url("/somewhere/else"))
    for route in ("/overview", "/channels", ""):
        response = await admin.get(route)
        assert response.status_code == unknown.status_code == 404
        assert response.text == unknown.text
        assert response.headers["content-type"].startswith("text/plain")


async def test_custom_prefix(admin_env: Any) -> None:
    admin = await admin_env.start(AdminOptions(token=TOKEN, prefix="/ops/"))
    assert admin.prefix == "/ops"
    assert (await admin.json("/endpoints"))["endpoints"]
    # The default prefix is now an ordinary unknown request.
    response = await admin.http.get(admin.server.http_url(PREFIX + "/overview"),
                                    headers={"authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 404 and response.headers["content-type"].startswith(
        "text/plain")
    # A path that merely starts with the prefix's letters is not an admin path.
    response = await admin.http.get(admin.server.http_url("/opsx"))
    assert response.headers["content-type"].startswith("text/plain")
