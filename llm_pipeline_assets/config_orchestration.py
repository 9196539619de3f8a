"""The ``orchestration`` config section: when the data refresh runs and how long a training run may take.

Imported by ``config.py``, which re-exports it. Validated when the code location loads, so a bad cron
string fails there (naming ``orchestration.data_refresh_cron``) instead of when the daemon first ticks.
"""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from llm_pipeline_assets.config_base import _Strict


class OrchestrationConfig(_Strict):
    # When the corpus is re-ingested (raw_corpus on_cron / the data_refresh_schedule): weekly, Monday 03:00.
    data_refresh_cron: str = "0 3 * * 1"
    timezone: str = "UTC"
    # Who starts the weekly re-ingest: "automation" = raw_corpus's on_cron condition (one backfill per tick,
    # the automation sensor runs by default); "schedule" = data_refresh_schedule launches one source_refresh
    # run per source. Only one of them is on, so a source is never ingested twice per tick.
    data_refresh_trigger: Literal["automation", "schedule"] = "automation"
    # Ceiling for a training run (the dagster/max_runtime tag; needs run_monitoring in dagster.yaml).
    training_max_runtime_hours: float = Field(default=48.0, gt=0)

    @field_validator("data_refresh_cron")
    @classmethod
    def _valid_cron(cls, v: str) -> str:
        from dagster._utils.schedules import is_valid_cron_string  # the check ScheduleDefinition itself applies

        if not is_valid_cron_string(v):
            raise ValueError(f"{v!r} is not a 5-field cron string Dagster accepts (e.g. '0 3 * * 1')")
        return v

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not an IANA time zone (e.g. 'UTC', 'Europe/Berlin')") from None
        return v
