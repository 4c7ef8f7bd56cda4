"""Command line: ``python -m fastconv {digits,filter,gallery,info}``."""
from __future__ import annotations

import argparse
import sys


def _info(argv) -> int:
    argparse.ArgumentParser(prog="fastconv info", description="Show build and threading facts.").parse_args(argv)
    import numpy as np

    import fastconv

    print(f"fastconv {fastconv.__version__}")
    print(f"numpy {np.__version__}")
    print(f"openmp_enabled: {fastconv.openmp_enabled()}")
    print(f"num_threads: {fastconv.get_num_threads()}")
    return 0


def _digits(argv) -> int:
    from .digits import main as digits_main

    return digits_main(argv)


def _filter(argv) -> int:
    from .filters import main_filter

    return main_filter(argv)


def _gallery(argv) -> int:
    from .filters import main_gallery

    return main_gallery(argv)


COMMANDS = {
    "digits": (_digits, "train the digits CNN (built-in data, no download)"),
    "filter": (_filter, "apply one named kernel to an image"),
    "gallery": (_gallery, "the ten classic kernels side by side"),
    "info": (_info, "build and threading facts"),
}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        lines = [f"  {name:8s} {help_}" for name, (_, help_) in COMMANDS.items()]
        out = "usage: python -m fastconv {" + ",".join(COMMANDS) + "} [options]\n\ncommands:\n" + "\n".join(lines)
        if argv and argv[0] not in ("-h", "--help"):
            print(f"fastconv: unknown command {argv[0]!r}\n{out}", file=sys.stderr)
            return 2
        print(out)
        return 0 if argv else 2
    func, _ = COMMANDS[argv[0]]
    return func(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
