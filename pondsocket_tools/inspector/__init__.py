"""``pondctl inspect``: a Textual TUI over the admin HTTP API (see ``docs/inspector.md``).

* :mod:`.api`: the admin API client (httpx, httpx-sse), write actions included.
* :mod:`.app`: the Textual app: polling, the event stream, key bindings, filters, actions.
* :mod:`.views`: its panels (channel tree, rates, channel, connections, nodes).
* :mod:`.tables`: the table the views share: sorted by any column, filtered by text.
* :mod:`.names`: the presence names seen for user ids (shown next to ids).
* :mod:`.screens`: the help screen, a member's or connection's details, and the
  confirmation of write actions.
* :mod:`.formatting`: plain formatting of times, ids, events, details and the status line.
* :mod:`.command`: the ``pondctl inspect`` click command.
"""
