"""``pondctl connect | join | send | request | presence | listen``."""

from __future__ import annotations

import time
from typing import Any

import click
from rich.text import Text

from pondsocket_tools.client import (
    Message,
    PresenceEvent,
    ServerError,
    StateChange,
)
from pondsocket_tools.client.transport import redact

from . import exitcodes
from .common import (
    channel_argument,
    connection_options,
    join_options,
    json_argument,
    make_client,
    run,
    settings_from,
)
from .identity import first_events, without_own
from .interactive import command_lines, interactive_join
from .output import (
    compact,
    format_event,
    json_line,
    presence_table,
    recovery_line,
    state_line,
    status,
    stderr_console,
    stdout_console,
)
from .pipes import OutputWatch

CONTEXT = {"help_option_names": ["-h", "--help"]}


def _state_printer(client: Any, console: Any) -> Any:
    def changed(change: StateChange) -> None:
        line = state_line(change, client.connects)
        if line is not None:
            status(console, *line)

    return changed


@click.command(context_settings=CONTEXT)
@click.argument("target_url", required=False, metavar="[URL]")
@connection_options
@click.option("--hold", is_flag=True,
              help="Stay connected (reconnecting when needed) and print state changes and "
                   "frames that belong to no channel, until Ctrl+C.")
def connect(target_url: str | None, hold: bool, **options: Any) -> None:
    """Check that a PondSocket endpoint accepts a connection.

    Connects to URL (or --url, PONDCTL_URL, the config file, the demo), waits for the
    server's CONNECT frame, prints the connection id and the time it took, disconnects.

    \b
    Examples:
      pondctl connect                                   # the demo, token=demo
      pondctl connect ws://127.0.0.1:8765/api/socket -t demo-mod
      pondctl connect wss://chat.example.com/socket -t "$TOKEN" --hold
      pondctl connect http://127.0.0.1:8765/api/socket --transport sse
    """
    if target_url:
        options["url"] = target_url
    settings = settings_from(options)

    async def main() -> int:
        out, err = stdout_console(), stderr_console()
        client = make_client(settings, reconnect=hold)
        gateway: list[Message] = []
        client.on_message(gateway.append)
        started = time.perf_counter()
        try:
            await client.connect()
            elapsed = (time.perf_counter() - started) * 1000
            out.print(Text("✓ connected ", style="bold green") + Text(
                f"to {redact(client.url)} over {settings.transport} in {elapsed:.0f} ms"))
            out.print(Text(f"  connection id: {client.connection_id or '(not sent)'}",
                           style="dim"))
            if not hold:
                return exitcodes.OK
            client.on_state_change(_state_printer(client, err))
            # The SDK shields callbacks: a closed pipe there must still end the command.
            watch = OutputWatch()
            client.on_message(watch.guard(lambda m: out.print(format_event(m))))
            for message in gateway:
                out.print(format_event(message))
            status(err, "holding the connection; Ctrl+C to quit")
            await watch.wait_closed()  # or Ctrl+C
            raise BrokenPipeError
        finally:
            await client.close()

    run(settings, main)


JOIN_HELP = f"""Join CHANNEL and chat: messages and presence are shown live, each line you
type is sent as an event.

Typed text goes out as EVENT {{"text": "<line>"}} (the demo broadcasts it to the room).
The connection is re-established (and the channel rejoined) when it drops. The header
names you as the server tracks you (your presence entry), else by -p name=..., else by
your user id.

\b
Commands in the session (/help lists them too):
{command_lines()}

\b
Examples:
  pondctl join /chat/1                              # the demo, right after scripts/demo
  pondctl join /chat/1 -p name=ada
  pondctl join /chat/1 -p name=mod -t demo-mod      # moderator: /request kick {{"name": "bob"}}
  pondctl join /rooms/42 -u wss://example.com/socket -t "$TOKEN" -j role:='"viewer"'
"""


@click.command(context_settings=CONTEXT, help=JOIN_HELP)
@channel_argument
@connection_options
@join_options
@click.option("-e", "--event", "event_name", default="message", show_default=True,
              help="Event that each typed line is sent as.")
@click.option("--text-key", default="text", show_default=True,
              help='Payload key of the typed line: {"text": "<line>"}.')
def join(channel: str, event_name: str, text_key: str, **options: Any) -> None:
    # The help text is JOIN_HELP: it lists the session commands from their one definition.
    settings = settings_from(options)

    async def main() -> int:
        return await interactive_join(settings, channel, event_name, text_key)

    run(settings, main)


@click.command(context_settings=CONTEXT)
@channel_argument
@click.argument("event")
@click.argument("payload", metavar="[JSON]", required=False, default="{}")
@connection_options
@join_options
def send(channel: str, event: str, payload: str, **options: Any) -> None:
    """Send EVENT with a JSON payload to CHANNEL (join, send, leave).

    JSON must be an object; "-" reads it from standard input. Exits with 6 when the server
    answers the message with an error.

    \b
    Examples:
      pondctl send /chat/1 message '{"text": "hello"}'
      echo '{"text": "from a pipe"}' | pondctl send /chat/1 message -
      pondctl send /chat/1 status '{"status": "away"}' -p name=ada
    """
    settings = settings_from(options)
    body = json_argument(payload)

    async def main() -> int:
        client = make_client(settings, reconnect=False)
        try:
            chat = await client.join(channel, settings.join_params)
            errors: list[Message] = []
            chat.on_message(lambda m: errors.append(m) if m.is_error else None)
            request_id = await chat.send(event, body)
            # The server answers frames in order: an error for the message arrives before
            # the acknowledgement of the leave.
            await chat.leave()
            for message in errors:
                if message.request_id == request_id and message.error is not None:
                    raise message.error
            stderr_console().print(Text("✓ sent ", style="green") +
                                   Text(f"{event} to {channel}"))
            return exitcodes.OK
        finally:
            await client.close()

    run(settings, main)


@click.command(context_settings=CONTEXT)
@channel_argument
@click.argument("event")
@click.argument("payload", metavar="[JSON]", required=False, default="{}")
@connection_options
@join_options
@click.option("--frame", "whole_frame", is_flag=True,
              help="Print the whole reply frame, not just its payload.")
@click.option("--compact", "one_line", is_flag=True, help="Print the JSON on one line.")
def request(channel: str, event: str, payload: str, whole_frame: bool, one_line: bool,
            **options: Any) -> None:
    """Send EVENT to CHANNEL and print the server's reply as JSON.

    The reply is matched by request id. Exits with 6 when the server answers with an
    error (its code and message are shown), 7 when no reply comes within --timeout.

    \b
    Examples:
      pondctl request /chat/1 ping '{}'
      pondctl request /chat/1 ping --compact | jq .time
      pondctl request /chat/1 kick '{"name": "bob"}' -t demo-mod --frame
    """
    settings = settings_from(options)
    body = json_argument(payload)

    async def main() -> int:
        client = make_client(settings, reconnect=False)
        try:
            chat = await client.join(channel, settings.join_params)
            reply = await chat.request(event, body, timeout=settings.timeout)
            value = reply.to_wire() if whole_frame else reply.payload
            click.echo(compact(value) if one_line else _pretty(value))
            await chat.leave()
            return exitcodes.OK
        finally:
            await client.close()

    run(settings, main)


def _pretty(value: Any) -> str:
    import json

    return json.dumps(value, indent=2, ensure_ascii=False)


@click.command(context_settings=CONTEXT)
@channel_argument
@connection_options
@join_options
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.option("--wait", type=click.FloatRange(min=0), default=2.0, show_default=True,
              metavar="SECONDS", help="How long to wait for the server's presence list.")
def presence(channel: str, as_json: bool, wait: float, **options: Any) -> None:
    """Show who else is in CHANNEL (joins it briefly to receive the presence list).

    The list leaves out this command's own entry: the first presence frame after the join
    is the server tracking it. The server sends presence only to members it tracks (the
    demo tracks everyone who joins); if no presence arrives within --wait seconds the list
    is empty.

    \b
    Examples:
      pondctl presence /chat/1
      pondctl presence /chat/1 --json | jq -r '.[].name'
    """
    settings = settings_from(options)

    async def main() -> int:
        client = make_client(settings, reconnect=False)
        try:
            chat = await client.join(channel, settings.join_params)
            first = await first_events(chat, wait)
            others = without_own(chat.presence, first.own_entry)
            await chat.leave()
            if as_json:
                click.echo(compact(others))
            else:
                out = stdout_console()
                if others:
                    out.print(presence_table(
                        channel, others, title=f"{channel}: {len(others)} present besides you"))
                else:
                    out.print(Text(f"{channel}: nobody else present"))
            if not first.presence_received:
                status(stderr_console(), f"no presence from the server within {wait:g}s "
                                         "(it sends presence only to tracked members)")
            elif first.own_entry is None:
                status(stderr_console(), "the first presence frame was not this client's "
                                         "JOIN: the list may include this client")
            return exitcodes.OK
        finally:
            await client.close()

    run(settings, main)


@click.command(context_settings=CONTEXT)
@channel_argument
@connection_options
@join_options
@click.option("--json", "as_json", is_flag=True,
              help="One JSON frame per line (action, event, channelName, requestId, "
                   "payload), for jq and other programs.")
@click.option("-e", "--event", "events", multiple=True, metavar="NAME",
              help="Only frames with this event name (repeatable; presence frames are "
                   "named JOIN, UPDATE, LEAVE).")
@click.option("--no-presence", is_flag=True, help="Leave out presence changes.")
@click.option("-n", "--count", type=click.IntRange(min=1), default=None, metavar="N",
              help="Exit after N frames.")
def listen(channel: str, as_json: bool, events: tuple[str, ...], no_presence: bool,
           count: int | None, **options: Any) -> None:
    """Join CHANNEL and print what arrives until Ctrl+C (or --count frames).

    Connection problems are reported on standard error and the channel is rejoined after
    a reconnect, so standard output carries frames only.

    \b
    Examples:
      pondctl listen /chat/1
      pondctl listen /chat/1 --json | jq -r 'select(.event == "message") | .payload.text'
      pondctl listen /chat/1 --json -e message -n 1     # wait for one message
    """
    settings = settings_from(options)
    wanted = frozenset(events)

    def keep(item: Message | PresenceEvent) -> bool:
        if isinstance(item, PresenceEvent):
            return not no_presence and (not wanted or item.kind in wanted)
        return not wanted or item.event in wanted

    async def main() -> int:
        out, err = stdout_console(), stderr_console()
        client = make_client(settings, reconnect=True)
        client.on_state_change(_state_printer(client, err))
        try:
            chat = await client.join(channel, settings.join_params)
            chat.on_join(lambda c: status(err, f"rejoined {c.name}", "green")
                         if c.joins > 1 else None)
            chat.on_recovery_failed(lambda f: status(err, recovery_line(f), "yellow"))
            status(err, f"listening on {channel}; Ctrl+C to stop")
            seen = 0
            async for item in chat.events():
                if not keep(item):
                    continue
                if as_json:
                    click.echo(json_line(item.to_wire()))
                else:
                    out.print(format_event(item))
                seen += 1
                if count is not None and seen >= count:
                    break
            return exitcodes.OK
        finally:
            await client.close()

    run(settings, main)


ALL = [connect, join, send, request, presence, listen]

__all__ = ["ALL", "ServerError"]
