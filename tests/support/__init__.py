"""Helpers shared by the test packages: scripted backends, tiny models, stores, payloads."""
