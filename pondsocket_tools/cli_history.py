"""``pondctl history CHANNEL``: a channel's stored broadcasts, read over the admin API."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import click

from .inspector.api import DEFAULT_URL, AdminClient, AdminError, UnreachableError


def _line(entry: dict[str, Any]) -> str:
    at = time.strftime("%H:%M:%S", time.localtime(entry.get("time") or 0))
    body = (json.dumps(entry["payload"], separators=(",", ":"), ensure_ascii=False)
            if "payload" in entry else "(payload not exposed)")
    return f"#{entry['offset']}  {at}  {entry['event']}  {body}"


@click.command()
@click.argument("channel")
@click.option("--url", default=DEFAULT_URL, show_default=True, envvar="PONDCTL_ADMIN_URL",
              show_envvar=True, help="The admin API's base URL.")
@click.option("-t", "--token", envvar="PONDCTL_ADMIN_TOKEN", show_envvar=True,
              help="The admin API's bearer token.")
@click.option("--endpoint", metavar="PATH", help="The endpoint of the channel (default: "
              "the first whose lobbies match the name).")
@click.option("-n", "--limit", default=20, show_default=True, type=click.IntRange(1, 1000),
              help="How many broadcasts to show (the latest, or the first after --after).")
@click.option("--after", type=click.IntRange(min=0), metavar="OFFSET",
              help="Show the broadcasts after this offset instead of the latest.")
@click.option("--json", "as_json", is_flag=True, help="Print the admin document as JSON.")
def history(channel: str, url: str, token: str | None, endpoint: str | None, limit: int,
            after: int | None, as_json: bool) -> None:
    """Print the stored broadcasts of CHANNEL (a lobby with history, docs/recovery.md),
    oldest first, with their offsets; payloads when the server exposes them
    (AdminOptions.expose_history_payloads; the demo does).

    \b
    Examples:
      pondctl demo --admin-token secret                  # in one terminal
      pondctl history /chat/1 --token secret -n 5        # in another
    """
    async def fetch() -> dict[str, Any]:
        client = AdminClient(url, token)
        try:
            if after is not None:
                return await client.history(channel, endpoint, after=after, limit=limit)
            document = await client.history(channel, endpoint, limit=1000)
            document["entries"] = document["entries"][-limit:]
            return document
        finally:
            await client.aclose()

    try:
        document = asyncio.run(fetch())
    except UnreachableError as exc:
        raise click.ClickException(f"admin API unreachable: {exc}") from None
    except AdminError as exc:
        raise click.ClickException(f"{exc}") from None
    if as_json:
        click.echo(json.dumps(document))
        return
    entries = document["entries"]
    click.echo(f"{document['channel']}: epoch {document['epoch']}, offset {document['offset']}"
               f", {len(entries)} shown")
    for entry in entries:
        click.echo(_line(entry))
