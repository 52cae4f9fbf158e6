"""GB/T 30428.2-style class tables (components.csv, events.csv); sources in README.md."""
