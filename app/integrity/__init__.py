"""The integrity check (SPEC §8): `flask integrity-check [--repair]`."""
