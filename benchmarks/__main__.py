"""Run the benchmarks: ``python -m benchmarks [--quick] [--rounds N] ...`` (see cli.py)."""

from .cli import main

if __name__ == "__main__":
    main()
