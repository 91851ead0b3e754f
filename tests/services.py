"""Say which database and Redis the tests use, as shell exports for `make test`.

PostgreSQL at 127.0.0.1:5432 and Redis at 127.0.0.1:6379 when they answer. Outside CI a missing PostgreSQL
falls back to SQLite with a loud warning (tests that need PostgreSQL skip); under CI=true a missing service
fails the run.
"""

import os
import socket
import sys

PG = os.environ.get("TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/govgrid")
REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def main() -> int:
    exports = {}
    if answers("127.0.0.1", 5432):
        exports["DATABASE_URL"] = PG
        exports["GOVGRID_TEST_POSTGRES"] = "1"
    elif CI:
        print("echo 'PostgreSQL does not answer at 127.0.0.1:5432: CI needs it.' >&2; exit 1")
        return 0
    else:
        print("echo '!!! PostgreSQL does not answer: falling back to SQLite; PostgreSQL-only tests skip. !!!' >&2")
        exports["DATABASE_URL"] = "sqlite:///var/test.sqlite3"
    if answers("127.0.0.1", 6379):
        exports["REDIS_URL"] = REDIS
        exports["GOVGRID_TEST_REDIS"] = "1"
    elif CI:
        print("echo 'Redis does not answer at 127.0.0.1:6379: CI needs it.' >&2; exit 1")
        return 0
    else:
        print("echo '!!! Redis does not answer: tests that need it skip. !!!' >&2")
    exports.setdefault("DEBUG", "1")
    exports["GOVGRID_TEST_SERVICES_CHECKED"] = "1"
    for key, value in exports.items():
        print(f"export {key}='{value}'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
