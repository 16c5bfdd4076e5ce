"""The test suite: ``pytest`` runs everything, ``pytest -m quick`` the in-process tier (CONTRIBUTING.md)."""
