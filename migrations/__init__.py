"""Alembic migrations; run with `zhitong db upgrade` (see `cases.migrate`)."""
