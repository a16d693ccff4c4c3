"""Root of the test tree: makes the shared test helpers beside it (``live_server``) importable."""
