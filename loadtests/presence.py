"""Presence churn: join (tracked), update status, leave, repeat, over --rooms rooms.

    locust -f loadtests/presence.py --host ws://127.0.0.1:8765 --headless -u 100 -r 20 -t 30s \
        --rooms 5 --updates 3

``join`` and ``leave`` time the ACKs; ``presence`` times a ``status`` event until the user sees
its own PRESENCE/UPDATE (which goes to every tracked member of the room).
"""

from __future__ import annotations

import random
from typing import Any

from locust import between, events, task
from pondsocket_user import PondSocketUser


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    parser.add_argument("--rooms", type=int, default=5, help="Number of rooms (default 5)")
    parser.add_argument("--updates", type=int, default=3,
                        help="Status updates per visit to a room (default 3)")


STATUSES = ["online", "away", "busy", "typing"]


class Churner(PondSocketUser):
    wait_time = between(0.1, 0.5)

    @task
    def visit(self) -> None:
        channel = self.room(random.randrange(max(1, self.option("rooms", 5))))
        if not self.join(channel):
            return
        for n in range(max(0, self.option("updates", 3))):
            self.update_status(channel, f"{random.choice(STATUSES)}-{n}")
            self.wait()
        self.leave(channel)
