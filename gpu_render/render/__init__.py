"""OpenGL contexts, shaders, the GPU renderers and the numpy CPU reference. Knows nothing of files."""
