"""Tests (they run against a real PostGIS)."""
