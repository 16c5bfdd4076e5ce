"""``python -m gpu_render``: the list of commands; ``python -m gpu_render COMMAND ARGS`` runs one.

Exit status: 0 for the list, ``--help`` and ``--version``; 2 for a command that does not exist;
a command's own status otherwise.
"""

from __future__ import annotations

import importlib
import sys

from gpu_render.cli.commands import COMMANDS, MAIN_SCRIPT, prog_name, version_line

PROG = "gpu_render"


def usage() -> str:
    """The short help: every command, how to start it and what it does."""
    prog = prog_name(PROG)
    width = max(len(c.name) for c in COMMANDS)
    lines = [
        f"usage: {prog} COMMAND [ARGS ...]   (or each command alone: python -m gpu_render.COMMAND, gpu-render-COMMAND)",
        "",
        f"{version_line()}: pose datasets rendered on the GPU, with exact labels.",
        "",
        "commands:",
        *(f"  {c.name:<{width}}  {c.summary}" for c in COMMANDS),
        "",
        f"'{prog} COMMAND --help' (or 'python -m gpu_render.COMMAND --help') shows a command's options;",
        f"'{prog} --version' prints the version.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if args[0] == "--version":
        print(version_line())
        return 0
    by_name = {c.name: c for c in COMMANDS}
    command = by_name.get(args[0])
    if command is None:
        known = ", ".join(by_name)
        print(
            f"{prog_name(PROG)}: error: unknown command {args[0]!r}: the commands are {known} "
            f"('{MAIN_SCRIPT} --help' lists them)",
            file=sys.stderr,
        )
        return 2
    return int(importlib.import_module(command.main_module).main(args[1:]))


if __name__ == "__main__":
    sys.exit(main())
