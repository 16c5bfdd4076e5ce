"""The ``python -m gpu_render.build`` command line that builds a dataset again from its
signature: what a shard build prints for sealing and what verify and refusals suggest."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from gpu_render.dataset.layouts.render4cnn import render4cnn_command


def build_command(signature: dict[str, Any], out: Path | str) -> str:
    """The ``python -m gpu_render.build`` command line that builds a dataset of ``signature``."""
    if "preset" in signature:
        return preset_command(signature, out)
    args = ["python -m gpu_render.build"]
    if signature["poses"] == "clpr":
        args.append(f"--step {signature['step']!r}")
    else:
        args.append(f"--poses {shlex.quote(signature['poses'])}")
    if signature.get("limit") is not None:
        args.append(f"--limit {signature['limit']}")
    args += [
        f"--sizes {','.join(str(s) for s in signature['sizes'])}",
        f"--format {signature['format']}",
        *([f"--image-format {signature['image_format']}"] if signature.get("image_format") else []),
        f"--batch {signature['batch']}",
    ]
    obj = signature.get("object")
    if obj:
        args.append(f"--object {shlex.quote(obj)}")
        args.append(f"--fov {signature['fov']!r} --distance {signature['distance']!r}")
        # "--light=": a first component below zero would otherwise read as an option of its own
        args.append("--light=" + ",".join(repr(float(x)) for x in signature["light"]))
        args.append("--color " + ",".join(str(c) for c in signature["color"]))
        args.append("--background " + ",".join(str(c) for c in signature["background"]))
        if signature.get("grayscale"):
            args.append("--grayscale")
        if signature.get("layout"):
            args.append(f"--layout {signature['layout']}")
            if signature.get("val_fraction") is not None:
                args.append(f"--val-fraction {signature['val_fraction']!r}")
        elif signature.get("layers"):
            args.append("--layers")
        args.append("--antialias" if signature.get("antialias") else "--no-antialias")
    elif signature.get("antialias"):
        args.append("--antialias")
    args.append(f"--out {shlex.quote(str(out))}")
    return " ".join(args)


def preset_command(signature: dict[str, Any], out: Path | str) -> str:
    """The ``python -m gpu_render.build --preset NAME`` command line of a preset's ``signature``."""
    if signature["preset"] == "render4cnn":
        return render4cnn_command(signature, out)
    args = [f"python -m gpu_render.build --preset {signature['preset']}"]
    if signature["preset"] == "modelnet10-so3":
        args.append(f"--meshes {shlex.quote(str(signature['meshes']))}")
        args.append(f"--categories {','.join(signature['categories'])}")
    else:
        args.append(f"--shapes {','.join(signature['shapes'])} --batch {signature['batch']}")
        args.append(f"--fov {signature['fov']!r} --distance {signature['distance']!r}")
        args.append("--light=" + ",".join(repr(float(x)) for x in signature["light"]))
        args.append("--color " + ",".join(str(c) for c in signature["color"]))
        args.append("--background " + ",".join(str(c) for c in signature["background"]))
        args.append(
            ("--grayscale " if signature.get("grayscale") else "")
            + ("--antialias" if signature.get("antialias") else "--no-antialias")
        )
    views = signature["views"]
    args += [f"--views {views[0]},{views[1]}", f"--sizes {signature['size']}", f"--seed {signature['seed']}"]
    args.append(f"--out {shlex.quote(str(out))}")
    return " ".join(args)
