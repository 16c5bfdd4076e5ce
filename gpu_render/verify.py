"""``python -m gpu_render.verify``: the command is :mod:`gpu_render.cli.verify`."""

import sys

from gpu_render.cli.verify import main

if __name__ == "__main__":
    sys.exit(main())
