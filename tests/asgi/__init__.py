"""Tests of the ASGI adapter and pondctl over real uvicorn servers and real clients."""
