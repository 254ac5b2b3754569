"""Helpers of the restore drill tests (tests/test_drill_restore.py)."""
