"""The staff pages' fixtures: a staff member and a test client signed in as them."""

from __future__ import annotations

import pytest

from tests.pages import ReasonGiving


@pytest.fixture
def staff(person):
    """A committed staff member who reads English."""
    return person(is_staff=True, name="Nhân Viên")


@pytest.fixture
def as_staff(staff, login):
    """Signed in as staff; gives a reason the first time it opens a family or a file."""
    return ReasonGiving(login(staff))
