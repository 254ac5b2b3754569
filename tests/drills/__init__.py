"""Helpers of the restore drill tests (tests/drills/test_drill_restore.py)."""
