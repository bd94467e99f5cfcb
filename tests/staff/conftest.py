"""The staff pages' fixtures: a staff member and a test client signed in as them."""

from __future__ import annotations

import pytest


@pytest.fixture
def staff(person):
    """A committed staff member who reads English."""
    return person(is_staff=True, name="Nhân Viên")


@pytest.fixture
def as_staff(staff, login):
    return login(staff)
