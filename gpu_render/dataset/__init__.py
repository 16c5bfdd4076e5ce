"""The dataset on disk: layouts, atomic IO, encoders, manifest, loader and torch Dataset."""
