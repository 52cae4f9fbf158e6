"""Packaged data files (class tables, checklist, holiday calendar), read via importlib.resources."""
