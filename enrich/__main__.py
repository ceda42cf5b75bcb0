"""`python -m enrich`."""

from enrich.cli import main

main()
