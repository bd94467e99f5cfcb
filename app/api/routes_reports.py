"""Stub: filled by the API work of issue 4."""
