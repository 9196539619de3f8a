"""The strict pydantic base of every config section: unknown keys are errors, values are frozen."""

from pydantic import BaseModel, ConfigDict


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
