"""The interactive ``pondctl join`` session: live messages and presence, typed lines sent."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from typing import Any

from rich.console import Console
from rich.text import Text

from pondsocket_tools.client import (
    Channel,
    ConnectionState,
    PondClient,
    PondClientError,
    StateChange,
)
from pondsocket_tools.client.transport import redact

from . import exitcodes
from .common import channel_problem, make_client
from .config import ConfigError, Settings, parse_json_object
from .identity import display_name, first_events
from .output import (
    clock,
    compact,
    format_event,
    name_style,
    presence_table,
    recovery_line,
    state_line,
    status,
    stderr_console,
    stdout_console,
)

#: The commands of a session: ``/help`` and ``pondctl join --help`` both list these.
SESSION_COMMANDS: tuple[tuple[str, str], ...] = (
    ("/event NAME [JSON]", "send event NAME with a JSON object payload"),
    ("/request NAME [JSON]", "send NAME and show the server's reply"),
    ("/presence", "show who is in the channel"),
    ("/join CHANNEL", "join CHANNEL and leave this one (stays here if declined)"),
    ("/leave", "leave the channel and exit"),
    ("/quit", "disconnect and exit (Ctrl+D too)"),
    ("/help", "this help"),
    ("//text", "send text that starts with /"),
)


def command_lines(indent: str = "  ") -> str:
    """The session commands, one per line, aligned."""
    return "\n".join(f"{indent}{usage:<22} {text}" for usage, text in SESSION_COMMANDS)


def session_help(event_name: str, text_key: str) -> str:
    """What ``/help`` prints."""
    text_line = f'  {"<text>":<22} send the text as {event_name} {{"{text_key}": "<text>"}}'
    return text_line + "\n" + command_lines()


_QUIT = "quit"
#: How long ``join`` waits for its own presence entry before printing its header.
IDENTITY_WAIT = 1.0


def stdin_lines() -> asyncio.Queue[str | None]:
    """Lines typed on standard input, read by a daemon thread (``None`` at end of input).

    A thread works for terminals, pipes and test runners alike, and being a daemon it never
    holds up the exit while blocked in a read.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    stream = sys.stdin

    def put(item: str | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def read() -> None:
        try:
            while True:
                line = stream.readline()
                if not line:
                    break
                put(line.rstrip("\r\n"))
        except (OSError, ValueError):
            pass
        put(None)

    threading.Thread(target=read, name="pondctl-stdin", daemon=True).start()
    return queue


class Session:
    """One interactive session on one channel."""

    def __init__(self, client: PondClient, chat: Channel, event_name: str, text_key: str,
                 out: Console, err: Console, timeout: float,
                 join_params: dict[str, Any] | None = None) -> None:
        self.client = client
        self.chat = chat
        self.event_name = event_name
        self.text_key = text_key
        self.out = out
        self.err = err
        self.timeout = timeout
        self.join_params = join_params or {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._printer: asyncio.Future[None] | None = None

    def note(self, text: str, style: str = "dim") -> None:
        status(self.out, text, style)

    def error(self, text: str) -> None:
        self.out.print(Text(f"[{clock()}] ", style="dim") + Text("✗ " + text, style="red"))

    async def handle(self, line: str) -> str | None:
        """Act on one typed line; returns ``"quit"`` to end the session."""
        if not line.strip():
            return None
        if line.startswith("//"):
            await self._send_text(line[1:])
            return None
        if not line.startswith("/"):
            await self._send_text(line)
            return None
        command, _, rest = line[1:].partition(" ")
        command = command.lower()
        if command in ("quit", "exit", "q"):
            return _QUIT
        if command == "leave":
            await self.chat.leave()
            self.note(f"left {self.chat.name}")
            return _QUIT
        if command in ("help", "?"):
            self.out.print(Text(session_help(self.event_name, self.text_key)))
            return None
        if command in ("presence", "who"):
            self.out.print(presence_table(self.chat.name, self.chat.presence))
            return None
        if command in ("join", "switch"):
            target = rest.strip()
            problem = channel_problem(target) if target else None
            if not target:
                self.error(f"usage: /{command} CHANNEL")
            elif problem:
                self.error(problem)
            elif target == self.chat.name:
                self.error(f"already in {target}")
            else:
                await self._switch(target)
            return None
        if command in ("event", "send", "request", "req"):
            name, _, raw = rest.strip().partition(" ")
            if not name:
                self.error(f"usage: /{command} NAME [JSON]")
                return None
            try:
                payload = parse_json_object(raw.strip() or "{}")
            except ConfigError as exc:
                self.error(str(exc))
                return None
            if command in ("event", "send"):
                await self._guarded(self.chat.send(name, payload))
            else:
                self._spawn(self._request(name, payload))
            return None
        self.error(f"unknown command /{command}; /help lists the commands")
        return None

    async def _switch(self, target: str) -> None:
        """Join ``target`` (with the same join parameters), then leave the current channel;
        when the join fails, stay where we are."""
        try:
            joined = await self.client.join(target, self.join_params, timeout=self.timeout)
        except PondClientError as exc:
            self.error(f"cannot join {target}: {exc}; still in {self.chat.name}")
            return
        previous = self.chat
        if self._printer is not None:
            self._printer.cancel()  # its channel is about to end: that is not the session's end
        self.chat = joined
        self._start_printer()
        await self._guarded(previous.leave())
        self.out.print(Text("Joined ", style="bold green") + Text(target, style="bold")
                       + Text(f" (left {previous.name})", style="dim"))

    async def _send_text(self, text: str) -> None:
        await self._guarded(self.chat.send(self.event_name, {self.text_key: text}))

    async def _guarded(self, operation: Any) -> None:
        try:
            await operation
        except PondClientError as exc:
            self.error(str(exc))

    async def _request(self, name: str, payload: dict[str, Any]) -> None:
        try:
            reply = await self.chat.request(name, payload, timeout=self.timeout)
        except PondClientError as exc:
            self.error(f"{name}: {exc}")
            return
        self.out.print(Text(f"[{clock(reply.received_at)}] ", style="dim")
                       + Text(f"↩ {reply.event} ", style="bold yellow")
                       + Text(compact(reply.payload)))

    async def _settle(self) -> None:
        """Let requests still waiting for their reply finish (bounded by the timeout)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self.timeout)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def show_events(self) -> None:
        """Print messages and presence until the channel ends (raising its reason)."""
        async for item in self.chat.events():
            self.out.print(format_event(item))

    def _start_printer(self) -> None:
        self._printer = asyncio.ensure_future(self.show_events())

    async def run(self) -> int:
        lines = stdin_lines()
        self._start_printer()
        try:
            while True:
                printer = self._printer
                assert printer is not None
                next_line = asyncio.ensure_future(lines.get())
                pending: set[asyncio.Future[Any]] = {next_line, printer}
                await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if printer.done():
                    next_line.cancel()
                    printer.result()  # raises why the channel ended
                    return exitcodes.OK
                line = next_line.result()
                if line is None:  # end of input: leave (what was sent is answered first)
                    await self._settle()
                    await self.chat.leave()
                    break
                if await self.handle(line) == _QUIT:
                    await self._settle()
                    break
            # Show what already arrived before going.
            await self.client.close()
            if self._printer is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._printer, 2.0)
            return exitcodes.OK
        finally:
            if self._printer is not None:
                self._printer.cancel()
            for task in list(self._tasks):
                task.cancel()


async def interactive_join(settings: Settings, channel: str, event_name: str,
                           text_key: str) -> int:
    """``pondctl join``: connect, join, then chat until /quit, /leave, EOF or eviction."""
    out, err = stdout_console(), stderr_console()
    client = make_client(settings, reconnect=True)

    def changed(change: StateChange) -> None:
        line = state_line(change, client.connects)
        if line is not None and change.state is not ConnectionState.CLOSED:
            status(out, *line)  # giving up ends the session with the error instead

    client.on_state_change(changed)
    try:
        chat = await client.join(channel, settings.join_params)
        chat.on_join(lambda c: status(out, f"rejoined {c.name}", "green")
                     if c.joins > 1 else None)
        chat.on_recovery_failed(lambda f: status(out, recovery_line(f), "yellow"))
        # Our own presence entry names us; it comes with the first presence frame (a server
        # that tracks nobody costs at most a second's wait here).
        first = await first_events(chat, min(settings.timeout, IDENTITY_WAIT))
        name = display_name(first.own_entry, settings.params, settings.join_params,
                            client.user_id)
        ids = f" (user id {client.user_id})" if client.user_id and client.user_id != name else ""
        out.print(Text("Joined ", style="bold green") + Text(channel, style="bold")
                  + Text(f" on {redact(client.url)} as ", style="dim")
                  + Text(name, style=name_style(name)) + Text(ids, style="dim"))
        out.print(Text(f"Type a message and press Enter ({event_name} "
                       f'{{"{text_key}": ...}}); /help for commands, /quit to exit.',
                       style="dim"))
        session = Session(client, chat, event_name, text_key, out, err, settings.timeout,
                          settings.join_params)
        for item in first.items:  # read while waiting for our name: shown now, in order
            out.print(format_event(item))
        return await session.run()
    finally:
        await client.close()
