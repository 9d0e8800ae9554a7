"""Multi-node deployments: :class:`RedisPubSub` (needs ``pip install "pondsocket[redis]"``)."""

from .redis_pubsub import RedisPubSub

__all__ = ["RedisPubSub"]
