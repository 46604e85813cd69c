"""Curriculum data files, loaders into one validated model, Cypher to write it, and the seeding function."""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
