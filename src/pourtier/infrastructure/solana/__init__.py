"""Solana adapters: one escrow chain over two nodes (local LiteSVM, JSON-RPC)."""
