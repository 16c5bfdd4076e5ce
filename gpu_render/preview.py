"""``python -m gpu_render.preview``: the command is :mod:`gpu_render.cli.preview`."""

import sys

from gpu_render.cli.preview import main

if __name__ == "__main__":
    sys.exit(main())
