"""SO(3) math and pose sources. Pure functions (file: sources read their one .npy)."""
