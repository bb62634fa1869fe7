"""Notifications: what the platform tells people by e-mail, in their language, at once or in a
daily digest, as each person chooses (docs/operations.md)."""
