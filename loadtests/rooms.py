"""Chat rooms: every user joins one of --rooms rooms and both publishes and receives.

    locust -f loadtests/rooms.py --host ws://127.0.0.1:8765 --headless -u 200 -r 20 -t 60s \
        --rooms 20 --message-rate 1
"""

from __future__ import annotations

import random
from typing import Any

from locust import events, task
from pondsocket_user import PondSocketUser, paced


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    parser.add_argument("--rooms", type=int, default=10, help="Number of rooms (default 10)")


class Chatter(PondSocketUser):
    wait_time = paced()

    def on_start(self) -> None:
        super().on_start()
        self.channel = self.room(random.randrange(max(1, self.option("rooms", 10))))
        self.join(self.channel)

    @task
    def chat(self) -> None:
        self.publish(self.channel)
