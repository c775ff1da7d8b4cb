"""Use cases: one business workflow each, each owning its transaction."""
