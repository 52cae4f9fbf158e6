"""Alembic migrations (run with ``gridgis db migrate``)."""
