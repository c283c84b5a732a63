"""Offline-first sync: the change feed and batches of client operations."""
