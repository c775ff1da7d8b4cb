"""Test doubles that are real programs: e.g. a JSON-RPC node backed by LiteSVM."""
