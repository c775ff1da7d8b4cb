"""Entities, value objects, errors and ports. Pure Python by design."""
