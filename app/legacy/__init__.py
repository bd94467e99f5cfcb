"""The legacy import (SPEC §8): `flask import-legacy FILE [--dry-run]`."""
