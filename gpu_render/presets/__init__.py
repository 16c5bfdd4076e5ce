"""Benchmark presets: whole datasets in the on-disk layouts that the benchmarks' own loaders
read (FORMATS.md): ``--preset symsol`` and ``--preset modelnet10-so3``.

``python -m gpu_render.build --preset NAME ...`` hands its arguments to :func:`gpu_render.presets.cli.main`.
"""

PRESETS = ("symsol", "modelnet10-so3")
