"""Build engines: who renders which chunk where. ``local`` renders in this process with forked
encoders; ``ray`` spreads chunks over Ray actors, one per GPU. Both run every chunk through
:class:`gpu_render.engines.pipeline.ChunkPipeline` and write OUT the same way."""
