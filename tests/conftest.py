"""The corpus harness's gradings (test_assignments.py) run beside the rest of the suite: they start
as soon as the session's tests are selected and stop with the session."""
from __future__ import annotations


def _harness(session):
    for item in session.items:
        module = getattr(item, "module", None)
        if module is not None and hasattr(module, "start_gradings"):
            return module
    return None


def pytest_collection_finish(session):
    harness = _harness(session)
    if harness is not None:
        harness.start_gradings(session)


def pytest_sessionfinish(session):
    harness = _harness(session)
    if harness is not None:
        harness.stop_gradings()
