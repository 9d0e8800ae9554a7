"""The servers under test, each started in its own process by the benchmark runner."""
