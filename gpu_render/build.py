"""``python -m gpu_render.build``: the command is :mod:`gpu_render.cli.build`."""

import sys

from gpu_render.cli.build import main

if __name__ == "__main__":
    sys.exit(main())
