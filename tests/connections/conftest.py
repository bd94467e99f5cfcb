"""The connection pages' family (tests/connections/helpers.py builds it)."""

from __future__ import annotations

import pytest

from tests.connections.helpers import build_family


@pytest.fixture
def family(app):
    """family(patients=2, caregivers=2, relationship="con_gai") → a committed family whose
    caregivers follow every patient (see build_family)."""
    return lambda **kwargs: build_family(app, **kwargs)
