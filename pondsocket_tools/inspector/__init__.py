"""``pondctl inspect``: a Textual TUI over the admin HTTP API (see ``docs/inspector.md``).

* :mod:`.api`: the admin API client (httpx, httpx-sse).
* :mod:`.app`: the Textual app; :mod:`.widgets`: its panels and the help screen.
* :mod:`.command`: the ``pondctl inspect`` click command.
"""
