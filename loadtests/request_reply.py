"""Request/reply: every user sends ``ping`` and waits for the ``pong`` with its requestId.

    locust -f loadtests/request_reply.py --host ws://127.0.0.1:8765 --headless -u 100 -r 20 \
        -t 30s --request-rate 10
"""

from __future__ import annotations

import random
from typing import Any

from locust import events, task
from pondsocket_user import PondSocketUser, paced


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    parser.add_argument("--rooms", type=int, default=10, help="Number of rooms (default 10)")
    parser.add_argument("--request-rate", type=float, default=5.0,
                        help="Requests per second per user (default 5)")
    parser.add_argument("--request-event", default="ping",
                        help="Event answered with a reply (default ping)")


class Requester(PondSocketUser):
    wait_time = paced("request_rate")

    def on_start(self) -> None:
        super().on_start()
        self.channel = self.room(random.randrange(max(1, self.option("rooms", 10))))
        self.join(self.channel)

    @task
    def ping(self) -> None:
        self.request(self.channel, self.option("request_event", "ping"),
                     {"pad": "x" * self.option("payload_size", 100)})
