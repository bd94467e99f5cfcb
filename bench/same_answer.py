"""Registration and the forgotten password answer the same for any number (ID-001/002):
status, body and time, for a number with no account, one whose account never proved it and
one whose account did. In process, on a throw-away SQLite database, rate limits off and the
code pace off (so every request does the whole work).

    .venv/bin/python -m bench.same_answer [--requests 40]

Prints the median and 90th percentile of each case and the set of answers seen. The code's
SMS goes to the outbox either way; nothing is delivered.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40, help="requests per case")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="fc-same-answer-"))
    os.environ["INSTANCE_PATH"] = str(folder)

    from flask_migrate import upgrade

    from app import create_app
    from app.accounts.passwords import hash_password
    from app.db import utcnow
    from app.extensions import db
    from app.models import User

    app = create_app({"APP_ENV": "test", "DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
                      "SECRET_KEY": "bench-" + "k" * 40, "RATELIMIT_ENABLED": False,
                      "PHONE_CODE_RESEND_SECONDS": 0})
    with app.app_context():
        upgrade()
        hashed = hash_password("mật khẩu của phép đo")
        db.session.add_all([
            User(phone="+84912000001", name="Đã Xác Minh", password_hash=hashed,
                 phone_verified_at=utcnow()),
            User(phone="+84912000002", name="Chưa Xác Minh", password_hash=hashed)])
        db.session.commit()
    client = app.test_client()
    cases = {"no account": "+84912000003", "unproved account": "+84912000002",
             "proved account": "+84912000001"}
    sign_up = {"password": "hoa sen nở sớm 2026", "name": "Thử Nghiệm", "gender": "female"}
    for route in ("/api/v1/auth/register", "/api/v1/auth/password-reset"):
        body = sign_up if route.endswith("register") else {}
        for _ in range(5):  # warm up: argon2, zxcvbn's dictionaries, the statements
            client.post(route, json={**body, "phone": "+84912000009"})
        for name, phone in cases.items():
            times, answers = [], set()
            for _ in range(args.requests):
                start = time.perf_counter()
                response = client.post(route, json={**body, "phone": phone})
                times.append((time.perf_counter() - start) * 1000)
                answers.add((response.status_code, response.get_data(as_text=True).strip()))
            times.sort()
            print(f"{route:30} {name:17} median {statistics.median(times):6.1f} ms  "
                  f"p90 {times[int(len(times) * 0.9) - 1]:6.1f} ms  answers {sorted(answers)}")


if __name__ == "__main__":
    main()
