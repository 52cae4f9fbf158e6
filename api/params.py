"""Parameter types shared by the routers."""

from typing import Annotated

from fastapi import Path

# Row ids are PostgreSQL `integer`: a larger value can match nothing, so refuse it as a
# validation error (422) rather than let the database raise "integer out of range".
DB_INT_MAX = 2**31 - 1

FeatureId = Annotated[int, Path(ge=1, le=DB_INT_MAX, description="feature id")]
