"""Input readers: CSV, STIX bundles and JSON Lines, detected from content."""
