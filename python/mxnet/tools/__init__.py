"""Command-line tools that ship with the package (run them with ``python -m``)."""
