"""Fixtures of the training tests (the helpers themselves are in ``bundle_runner.py``)."""

from bundle_runner import train_data  # noqa: F401  (a session fixture shared by the modules of this folder)
