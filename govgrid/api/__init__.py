"""Shared pieces of the REST API: keyset pagination, the one error body, throttles, strict filters."""
