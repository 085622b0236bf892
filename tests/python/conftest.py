"""Shared pytest setup: make the MXNet 1.9.1 fixture loader importable as `fixtures`."""
import os
import sys

FIXTURES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures")
if FIXTURES_DIR not in sys.path:
    sys.path.insert(0, FIXTURES_DIR)
