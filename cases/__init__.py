"""The case domain and its storage: models, lifecycle, deadline clock, routing, case numbers."""
