"""The inspector's modal screens: the help screen, a member's or connection's details and
the y/n confirmation of a write action."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

HELP = """\
[b]pondctl inspect[/b]: a live view of a PondSocket server's admin API.

[b]Keys[/b]
  [cyan]↑ ↓ enter[/]   pick a channel in the tree; [cyan]tab[/] moves the focus (the bright border)
  [cyan]1[/] [cyan]2[/] [cyan]3[/]       show the Channel, Connections or Nodes view
  [cyan]enter[/]       on a member or a connection: its details (channels, queue, frames, age)
  [cyan]][/] [cyan][[/]         the next / previous page of a big channel's members (200 a page)
  [cyan]s[/] [cyan]S[/] [cyan]i[/]       sort the table by the next / previous column; reverse it
  [cyan]/[/]           filter the focused pane: the event tail, else the shown table
  [cyan]escape[/]      clear that filter ([cyan]enter[/] in the filter keeps it)
  [cyan]f[/]           follow the selected channel: the server streams only its events
  [cyan]p[/] [cyan]c[/]         pause / resume the event tail (events are still collected), clear it
  [cyan]e[/]           evict the member selected in the Channel view (asks first)
  [cyan]x[/]           close the selected channel, evicting every member (asks first)
  [cyan]h[/]           the selected channel's recent history (epoch, offsets, latest broadcasts)
  [cyan]r[/] [cyan]?[/] [cyan]q[/]       refresh now, this help, quit

[b]Views[/b]
  Left: endpoints and their live channels with member counts (polled, see --interval).
  Top: connection state, node and sizes; message rates with sparklines of channel
  broadcasts/s and frames delivered/s (the server's 10 s averages when it sends them).
  Channel: the selected channel's rates and members with their node and presence.
  Connections: the first 500 by the sort: name, transport, channels, queue, sent, drops.
  Nodes: each cluster node with its counts, counters and rates, or why it did not answer.
  Bottom: the live event stream (/events): joins, leaves, presence, broadcasts, errors.

[b]Write actions[/b] ([cyan]e[/], [cyan]x[/]) need a server started with
AdminOptions(allow_writes=True) ([cyan]pondctl demo --admin-writes[/]).

Press [cyan]escape[/] or [cyan]?[/] to close."""


class HelpScreen(ModalScreen[None]):
    """The key bindings and what the views show."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 96; height: auto; max-height: 95%; border: round $accent;
        background: $surface; padding: 0 2;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(HELP, id="help-text")


class DetailsScreen(ModalScreen[None]):
    """A member's or connection's details: ``(label, value)`` lines (see
    :func:`~.formatting.user_details`)."""

    DEFAULT_CSS = """
    DetailsScreen { align: center middle; }
    DetailsScreen > Vertical {
        width: 80; height: auto; max-height: 90%; border: round $accent;
        background: $surface; padding: 0 1;
    }
    DetailsScreen #details-hint { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "dismiss", "Close")]

    def __init__(self, lines: list[tuple[str, str]]) -> None:
        super().__init__()
        self.lines = lines

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column(overflow="fold")
        for label, value in self.lines:
            table.add_row(label, value)
        with Vertical() as box:
            box.border_title = "details"
            yield Static(table, id="details")
            yield Static("escape, enter or q to close", id="details-hint")

    def text(self) -> str:
        """The details as plain ``label: value`` lines."""
        return "\n".join(f"{label}: {value}" for label, value in self.lines)


class ConfirmScreen(ModalScreen[bool]):
    """Asks ``question``; dismissed with True on ``y`` (or the Yes button), False on ``n`` or
    ``escape``."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 72; height: auto; border: thick $warning; background: $surface; padding: 1 2;
    }
    ConfirmScreen #question { margin-bottom: 1; }
    ConfirmScreen Horizontal { height: auto; align-horizontal: right; }
    ConfirmScreen Button { margin-left: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, id="question")
            with Horizontal():
                yield Button("Yes (y)", variant="error", id="yes")
                yield Button("No (n)", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
