"""HTTP API: FastAPI app factory, routers, problem+json, OGC API, Open311, SSE."""
