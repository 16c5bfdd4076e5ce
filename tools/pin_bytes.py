"""Pin the exact bytes every layout writes: small builds of each layout, and the sha256 of
every file they write, kept in ``tests/pinned_bytes.json`` for ``tests/test_bytes_pinned.py``.

    python tools/pin_bytes.py            # build, print the table (JSON) on stdout
    python tools/pin_bytes.py --check    # build, compare with tests/pinned_bytes.json
    python tools/pin_bytes.py --twice    # build twice, report every entry that differs
    python tools/pin_bytes.py --write    # build, rewrite tests/pinned_bytes.json

Run ``--write`` after an intended change of what a build writes. The builds (``BUILDS``) run
as a user runs them, one ``python -m gpu_render.build`` process each, inside a temporary
folder with relative paths. The table maps build name -> entry -> sha256 (hex), where an
entry is a file's path relative to OUT, or ``PATH::PART`` for a part of a file:

- ``manifest.json`` is the sha256 of its JSON (``json.dumps(..., sort_keys=True)``) with the
  values of the keys that describe the run rather than the dataset (``VOLATILE``: time,
  seconds, renderer, host, version, ...) replaced by ``"<volatile>"``; the keys stay pinned,
  as does everything else (options, signature, chunk records). ``manifest.json::undrawn``
  also masks the checksums that hash drawn pixels: the chunks' sha256 and per-image digests,
  and the whole-file sha256s of ``files`` (each of those files has an entry of its own).
- ``X.npz::M`` is member ``M`` of an npz archive, ``X.tar::M`` a member of a tar shard,
  ``data.mdb::keys`` the keys of an LMDB database in order, and
  ``annotations/....npz::fields except bbox`` an ImageNet3D annotation without its bbox.
- Lock files (``.lock*``, LMDB's ``lock.mdb``) and ``.progress/`` are not pinned.
- ``demo-modelnet-tree`` pins the modelnet10-so3 build's input, tools/demo_modelnet_tree.py's
  meshes, so that a change of the input is told apart from a change of the build.

Entries that depend on the rendered pixels are *drawn* (:func:`drawn`): images, the arrays
and containers holding them, the chunk checksums (an ImageNet3D annotation's bbox is the
projected CAD model's, not drawn). They hold for the renderer the
table was made on, Mesa llvmpipe; every other entry holds on any renderer.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import lmdb
import numpy as np

REPO = Path(__file__).resolve().parent.parent
TABLE = REPO / "tests" / "pinned_bytes.json"
REGENERATE = "python tools/pin_bytes.py --write"
#: The renderer the drawn entries are pinned for (a substring of GL_RENDERER).
PINNED_RENDERER = "llvmpipe"

_CUBE = ("--step", "1.0", "--limit", "12", "--sizes", "32,64", "--batch", "5", "--workers", "1")
#: Build name -> the arguments of ``python -m gpu_render.build`` (run in a folder holding the
#: demo ModelNet10 tree as ``tree``); each writes into ``--out NAME``.
BUILDS: dict[str, tuple[str, ...]] = {
    "cube-jpg": (*_CUBE, "--format", "jpg"),
    "cube-png": (*_CUBE, "--format", "png"),
    "cube-npy": (*_CUBE, "--format", "npy"),
    "cube-wds": (*_CUBE, "--format", "wds"),
    "tetX-layers": (
        "--object",
        "tetX",
        "--poses",
        "random:6:1",
        "--sizes",
        "32",
        "--batch",
        "4",
        "--layers",
        "--format",
        "png",
        "--workers",
        "1",
    ),
    "icosa-imagenet3d": (
        "--object",
        "icosa",
        "--poses",
        "random:6:2",
        "--sizes",
        "32",
        "--batch",
        "4",
        "--layout",
        "imagenet3d",
        "--val-fraction",
        "0.34",
        "--workers",
        "1",
    ),
    "symsol": (
        "--preset",
        "symsol",
        "--views",
        "3,2",
        "--shapes",
        "tet,cylO",
        "--sizes",
        "32",
        "--batch",
        "4",
        "--workers",
        "1",
    ),
    "modelnet10-so3": (
        "--preset",
        "modelnet10-so3",
        "--meshes",
        "tree",
        "--categories",
        "bed,chair",
        "--views",
        "3,2",
        "--sizes",
        "32",
        "--workers",
        "1",
    ),
}
#: The input of the modelnet10-so3 build (tools/demo_modelnet_tree.py), pinned so that a change
#: of the stand-in meshes is told apart from a change of the build.
TREE = "demo-modelnet-tree"

#: Manifest keys (at any depth) whose values describe the run, not the dataset: they vary from
#: run to run (finished_at, seconds), machine to machine (renderer, host, node, egl_device) or
#: release to release (version). An absolute path of the build folder (--meshes) is ROOT_MARK.
VOLATILE = frozenset({"finished_at", "seconds", "renderer", "host", "node", "egl_device", "version"})
MASK = "<volatile>"
UNDRAWN_MASK = "<drawn>"
ROOT_MARK = "<ROOT>"
_DRAWN = re.compile(
    r"(\.(jpe?g|png|tar|mdb)$)"  # images, shards, LMDB databases of JPEGs
    r"|((^|/)(images|mask|depth)_\d+\.npy$)"  # npy images, --layers
    r"|(^manifest\.json$)"  # its chunk checksums hash the images
    r"|(modelnet10_\w+\.npz(::imgs\.npy)?$)",  # image2sphere's arrays hold the images
    re.IGNORECASE,
)


def drawn(entry: str) -> bool:
    """Whether a table entry depends on the rendered pixels (holds only for PINNED_RENDERER)."""
    return bool(_DRAWN.search(entry))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_volatile_file(rel: str) -> bool:
    """Lock and progress files: present while a build runs, or written with pids and times."""
    name = rel.rsplit("/", 1)[-1]
    return name.startswith(".lock") or name == "lock.mdb" or rel.split("/")[0] == ".progress"


def _masked(value: object, root: str, chunk_digests: bool) -> object:
    """The manifest ``value`` with VOLATILE values (and, unless ``chunk_digests``, the chunks'
    sha256) masked and the build folder's absolute path written as ROOT_MARK."""
    if isinstance(value, dict):
        out = {k: MASK if k in VOLATILE else _masked(v, root, chunk_digests) for k, v in value.items()}
        if chunk_digests:
            return out
        chunks = out.get("chunks")
        if isinstance(chunks, dict):
            out["chunks"] = {
                k: {**c, "sha256": UNDRAWN_MASK} if isinstance(c, dict) and "sha256" in c else c
                for k, c in chunks.items()
            }
        if "digests" in out:  # each image's short digest
            out["digests"] = UNDRAWN_MASK
        if isinstance(out.get("files"), dict):  # a sha256 per file written whole: each is pinned on its own
            out["files"] = {k: UNDRAWN_MASK for k in out["files"]}
        return out
    if isinstance(value, list):
        return [_masked(v, root, chunk_digests) for v in value]
    if isinstance(value, str):
        return value.replace(root, ROOT_MARK)
    return value


def manifest_entries(data: bytes, root: str) -> dict[str, str]:
    manifest = json.loads(data)
    return {
        "manifest.json": sha256(json.dumps(_masked(manifest, root, True), sort_keys=True).encode()),
        "manifest.json::undrawn": sha256(json.dumps(_masked(manifest, root, False), sort_keys=True).encode()),
    }


def _canonical(value: object) -> bytes:
    """Bytes that identify a numpy or Python value exactly (dtype, shape and raw bytes for numpy)."""
    if isinstance(value, (np.ndarray, np.generic)):
        a = np.asarray(value)
        return f"{a.dtype.str}{a.shape}".encode() + a.tobytes()
    return repr(value).encode()


def part_entries(rel: str, data: bytes, path: Path) -> Iterator[tuple[str, str]]:
    """The ``PATH::PART`` entries of the file at ``rel`` (bytes ``data``)."""
    if rel.endswith(".npz"):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for name in z.namelist():
                yield f"{rel}::{name}", sha256(z.read(name))
        if rel.startswith("annotations/"):
            records = np.load(io.BytesIO(data), allow_pickle=True)["annotations"]
            h = hashlib.sha256()
            for record in records:
                for key in sorted(record):
                    if key != "bbox":
                        h.update(key.encode() + b"=" + _canonical(record[key]) + b"\n")
            yield f"{rel}::fields except bbox", h.hexdigest()
    elif rel.endswith(".tar"):
        with tarfile.open(fileobj=io.BytesIO(data)) as t:
            for member in t.getmembers():
                f = t.extractfile(member)
                yield f"{rel}::{member.name}", sha256(f.read() if f else b"")
    elif rel.endswith("data.mdb"):
        with lmdb.open(str(path.parent), readonly=True, lock=False, subdir=True) as env, env.begin() as txn:
            keys = b"\n".join(key for key, _ in txn.cursor())
        yield f"{rel}::keys", sha256(keys)


def digest_tree(out: Path, root: Path) -> dict[str, str]:
    """Every entry of the build in ``out`` (run inside ``root``): entry -> sha256 hex."""
    table: dict[str, str] = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = path.relative_to(out).as_posix()
        if is_volatile_file(rel):
            continue
        data = path.read_bytes()
        if rel == "manifest.json":
            table.update(manifest_entries(data, str(root)))
            continue
        table[rel] = sha256(data)
        table.update(part_entries(rel, data, path))
    return table


def run_builds(root: Path) -> dict[str, Path]:
    """Make the demo tree and run every build of BUILDS inside ``root``; returns name -> OUT."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}

    def run(*args: str) -> None:
        p = subprocess.run(
            [sys.executable, *args], cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({p.returncode}): {p.stderr.strip()}")

    run(str(REPO / "tools" / "demo_modelnet_tree.py"), "tree")
    for name, args in BUILDS.items():
        run("-m", "gpu_render.build", *args, "--out", name)
    return {name: root / name for name in BUILDS}


def build_table(root: Path) -> dict:
    """Build everything in ``root`` and return the table (see the module's docstring)."""
    outs = run_builds(root)
    renderer = json.loads((outs["cube-jpg"] / "manifest.json").read_text())["renderer"]
    builds = {name: {"args": list(BUILDS[name]), "entries": digest_tree(out, root)} for name, out in outs.items()}
    builds[TREE] = {"args": [], "entries": digest_tree(root / "tree", root)}
    return {"renderer": renderer, "regenerate": REGENERATE, "builds": builds}


def differences(expected: dict, actual: dict, with_drawn: bool) -> list[str]:
    """One line per build whose arguments differ and per entry changed, new or missing;
    ``with_drawn=False`` leaves out the entries :func:`drawn` names."""
    lines = []
    for name in sorted(set(expected["builds"]) | set(actual["builds"])):
        old, new = expected["builds"].get(name), actual["builds"].get(name)
        if old is None or new is None:
            lines.append(f"{name}: build {'missing from the table' if old is None else 'no longer made'}")
            continue
        if old["args"] != new["args"]:
            lines.append(f"{name}: arguments {old['args']} are now {new['args']}")
        for entry in sorted(set(old["entries"]) | set(new["entries"])):
            if not with_drawn and drawn(entry):
                continue
            a, b = old["entries"].get(entry), new["entries"].get(entry)
            if a != b:
                what = "changed" if a and b else "new, not in the table" if b else "missing, no longer written"
                lines.append(f"{name}/{entry}: {what}")
    return lines


def write_table(table: dict, path: Path) -> None:
    """Write ``table`` to ``path`` atomically (temporary name, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"rewrite {TABLE.relative_to(REPO)}")
    mode.add_argument("--check", action="store_true", help=f"compare with {TABLE.relative_to(REPO)}")
    mode.add_argument("--twice", action="store_true", help="build twice and compare the two runs")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "a").mkdir()
        table = build_table(Path(tmp) / "a")
        if args.twice:
            (Path(tmp) / "b").mkdir()
            again = build_table(Path(tmp) / "b")
    if args.twice:
        lines = differences(table, again, with_drawn=True)
        print(
            "\n".join(lines)
            or f"two runs agree on all {sum(len(b['entries']) for b in table['builds'].values())} entries"
        )
        return 1 if lines else 0
    if args.check:
        full = PINNED_RENDERER in table["renderer"]
        lines = differences(json.loads(TABLE.read_text()), table, with_drawn=full)
        print("\n".join(lines) or f"all entries match{'' if full else ' (drawn ones not compared)'}")
        return 1 if lines else 0
    if args.write:
        if PINNED_RENDERER not in table["renderer"]:
            print(
                f"pin_bytes: the table is made on {PINNED_RENDERER}, this machine renders with {table['renderer']}",
                file=sys.stderr,
            )
            return 2
        write_table(table, TABLE)
        print(f"wrote {TABLE.relative_to(REPO)}")
        return 0
    print(json.dumps(table, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
