"""The PondSocket toolkit: ``pondctl``, the demo server, and (to come) the client SDK,
the inspector and load tests."""
