"""Reading the benchmark presets' datasets (``--preset symsol``, ``--preset modelnet10-so3``,
FORMATS.md) as their own loaders do. The build writes them through its layouts
(:mod:`gpu_render.dataset.layouts.symsol`, :mod:`gpu_render.dataset.layouts.modelnet`).
"""
