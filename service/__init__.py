"""The HTTP tagging service: app factory, routes, batcher, metrics and settings."""
