"""Output writers: CSV, STIX and the run summary."""
