"""What is drawn: objects, cameras, looks, symmetry groups and the labels they imply.

Pure data and math; imports neither render nor dataset.
"""
