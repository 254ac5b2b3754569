"""JSON Schemas of what breakglass prints for machines (engine/results.py)."""
