"""Write a legacy file for `flask import-legacy`: N family records (default 100,000) with about
five distinct people each, as JSON Lines (default) or a JSON array.

    .venv/bin/python -m bench.import_generate /tmp/legacy.jsonl              # 100,000 records
    .venv/bin/python -m bench.import_generate /tmp/legacy.json --records 10000 --array

Each record: its admin, one or two patients, two or three caregivers with a relationship;
one admin in five is also listed as a patient of their own family. Phones are written the
ways people type them (0912 345 678, 0912345678, +84912345678). To exercise the report,
one record in 2,000 is bad (in turn: an invalid phone, an unknown plan, a line that is not
JSON — an object with a wrong type in an array) and one in 1,000 lists as a patient the
first patient of the record before it (a BR-057 conflict). The same --seed writes the same
file. The writer streams: memory does not grow with N.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

# Vietnamese mobile prefixes: 10 digits each, 7 after the prefix.
PREFIXES = ("090", "091", "093", "094", "096", "097", "098", "086", "088", "032")
FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng",
          "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý")
MALE = ("An", "Bình", "Cường", "Dũng", "Hùng", "Khoa", "Long", "Minh", "Nam", "Phúc",
        "Quang", "Sơn", "Tài", "Thắng", "Tuấn", "Việt")
FEMALE = ("Anh", "Cúc", "Dung", "Giang", "Hà", "Hạnh", "Hoa", "Hương", "Lan", "Linh", "Mai",
          "Ngọc", "Phương", "Thảo", "Trang", "Yến")
RELATIONSHIPS = ("con_trai", "con_gai", "vo", "chong", "chau", "anh_trai", "chi_gai",
                 "em_trai", "em_gai", "khac")
BAD_EVERY = 2000
SHARED_EVERY = 1000


def national(index: int) -> str:
    """The index-th distinct phone number, national form (0912345678)."""
    return PREFIXES[index % len(PREFIXES)] + f"{index // len(PREFIXES):07d}"


def typed(index: int, rng: random.Random) -> str:
    number = national(index)
    style = rng.random()
    if style < 0.2:
        return f"{number[:4]} {number[4:7]} {number[7:]}"
    if style < 0.3:
        return "+84" + number[1:]
    return number


def _name(rng: random.Random, gender: str) -> str:
    middle = "Văn" if gender == "male" else "Thị"
    given = rng.choice(MALE if gender == "male" else FEMALE)
    return f"{rng.choice(FAMILY)} {middle} {given}"


def records(count: int, *, seed: int = 2026) -> Iterator[dict[str, Any] | str]:
    """The records, one at a time (a str is a line that is not JSON)."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    next_phone = 0
    previous_patient: dict[str, Any] | None = None
    for n in range(1, count + 1):
        def person(gender: str | None = None, **extra) -> dict[str, Any]:
            nonlocal next_phone
            gender = gender or rng.choice(("male", "female"))
            found = {"name": _name(rng, gender), "phone": typed(next_phone, rng),
                     "gender": gender, **extra}
            next_phone += 1
            return found

        admin = person()
        patients = [person() for _i in range(rng.choice((1, 1, 2)))]
        if rng.random() < 0.2 and len(patients) < 2:
            patients.append(dict(admin))
        if n % SHARED_EVERY == 0 and previous_patient is not None and len(patients) < 2:
            patients.append(dict(previous_patient))  # already a patient of the record before
        caregivers = [person(relationship=rng.choice(RELATIONSHIPS))
                      for _i in range(rng.choice((2, 3, 3)))]
        previous_patient = patients[0]
        record = {
            "legacyId": f"family_{n:07d}",
            "familyName": f"Gia đình {admin['name'].split()[0]} {n}",
            "admin": {"name": admin["name"], "phone": admin["phone"]},
            "plan": "family",
            "patients": patients,
            "caregivers": caregivers,
            # The old app's extra keys: ignored by the import.
            "address": f"{rng.randint(1, 400)} Đường Số {rng.randint(1, 40)}, TP. HCM",
            "preferredPrograms": ["morning_walk"] if rng.random() < 0.3 else [],
        }
        if n % BAD_EVERY == 0:
            kind = (n // BAD_EVERY) % 3
            if kind == 0:
                record["admin"]["phone"] = "12345"
            elif kind == 1:
                record["plan"] = "gold"
            else:
                yield "{not json"
                continue
        yield record


def write(path: Path, count: int, *, array: bool = False, seed: int = 2026) -> int:
    """Write the file; the number of records written."""
    written = 0
    with path.open("w", encoding="utf-8") as out:
        if array:
            out.write("[\n")
        for record in records(count, seed=seed):
            if array and written:
                out.write(",\n")
            _one(out, record, array=array)
            written += 1
        if array:
            out.write("\n]\n")
    return written


def _one(out: TextIO, record: dict[str, Any] | str, *, array: bool) -> None:
    if isinstance(record, str):
        # In an array a broken record would end the file: write a wrong-typed one instead.
        text = '{"legacyId": 42}' if array else record
    else:
        text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    out.write(text if array else text + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--array", action="store_true", help="a JSON array, not JSON Lines")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    if args.records < 1:
        print("--records must be at least 1", file=sys.stderr)
        return 2
    written = write(args.path, args.records, array=args.array, seed=args.seed)
    print(f"wrote {written} records to {args.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
