"""Seed data of the synthetic-data generators (facility densities per checklist category)."""
