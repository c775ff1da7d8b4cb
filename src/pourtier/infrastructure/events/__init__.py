"""Sinks the relay delivers events to: Courier and webhook endpoints."""
