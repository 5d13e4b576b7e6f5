"""Helpers shared by tests/unit and tests/integration (importable as ``support``: pyproject's
``pythonpath = ["tests"]``)."""
