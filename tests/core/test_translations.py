"""Every user-facing string has a Vietnamese translation, and the compiled catalogue is current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
VI = ROOT / "app" / "translations" / "vi" / "LC_MESSAGES"


def _id(message) -> str:
    """A message's id; a plural's is its singular."""
    return message.id if isinstance(message.id, str) else message.id[0]


def _strings(message) -> tuple[str, ...]:
    """A message's translations: one, or one per plural form."""
    return (message.string,) if isinstance(message.string, str) else tuple(message.string)


def _ids(catalog) -> set[str]:
    return {_id(m) for m in catalog if m.id}


def test_every_extracted_string_is_translated_to_vietnamese(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg",
                    "-k", "_l", "-k", "lazy_gettext", "-o", str(pot), "."],
                   cwd=ROOT, check=True, capture_output=True)
    with pot.open("rb") as f:
        extracted = _ids(read_po(f))
    with (VI / "messages.po").open("rb") as f:
        vi = read_po(f)
    # A catalogue without its header reads as fuzzy, and pybabel compile skips it.
    assert not vi.fuzzy, "the .po header is missing or fuzzy"
    assert str(vi.locale) == "vi"
    translated = {_id(m) for m in vi if m.id and all(_strings(m)) and not m.fuzzy}
    assert extracted, "extraction found no strings"
    assert sorted(extracted - translated) == []


def test_compiled_vietnamese_catalogue_matches_the_po_file():
    with (VI / "messages.po").open("rb") as f:
        po = {_id(m): _strings(m) for m in read_po(f) if m.id and all(_strings(m))}
    with (VI / "messages.mo").open("rb") as f:
        mo = {_id(m): _strings(m) for m in read_mo(f) if m.id}
    assert mo == po, "run scripts/i18n compile"
