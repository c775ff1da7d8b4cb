"""Pourtier: the user-facing API of a Solana trading platform."""

__version__ = "0.1.0"
