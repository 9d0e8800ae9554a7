"""``pondctl inspect``: a Textual TUI over the admin HTTP API (see ``docs/inspector.md``).

* :mod:`.api`: the admin API client (httpx, httpx-sse), write actions included.
* :mod:`.app`: the Textual app: polling, the event stream, key bindings, actions.
* :mod:`.views`: its panels (channel tree, rates, channel, connections, nodes).
* :mod:`.screens`: the help screen and the confirmation of write actions.
* :mod:`.formatting`: plain formatting of times, ids, events and the status line.
* :mod:`.command`: the ``pondctl inspect`` click command.
"""
