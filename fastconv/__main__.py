"""``python -m fastconv ...``: the command line of :mod:`fastconv.cli`."""
from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
