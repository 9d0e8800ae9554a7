"""Multi-node deployments: :class:`RedisPubSub` (needs ``pip install "pondsocket[redis]"``)."""

from .history import RedisHistoryStore
from .redis_pubsub import RedisPubSub

__all__ = ["RedisHistoryStore", "RedisPubSub"]
