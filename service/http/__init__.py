"""The HTTP layer: app factory, middleware, routes, dependencies, schemas and the error table."""
