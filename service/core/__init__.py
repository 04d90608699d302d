"""The service's core, without HTTP: backends that run a model (in this process or in a child
process), the batcher in front of each, the served models, and the requests' steps.

Nothing here imports FastAPI, Starlette or uvicorn (``lint-imports`` checks it).
"""
