"""The client commands of ``pondctl``: connect, join, send, request, presence, listen.

See ``docs/cli-client.md``; exit codes are in :mod:`.exitcodes`, configuration in
:mod:`.config`.
"""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    """Add the client commands to the ``pondctl`` group."""
    from .commands import ALL

    for command in ALL:
        group.add_command(command)


__all__ = ["register"]
