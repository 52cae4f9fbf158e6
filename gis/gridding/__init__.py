"""Grid generation, plans and validation."""
