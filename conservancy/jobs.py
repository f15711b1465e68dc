"""Old dotted path of the RQ job function, kept for jobs queued before the move.

RQ stores a job's function by its dotted path: a job queued by a deploy from before
issue 17 names ``conservancy.jobs.run``. Remove once no such job can be waiting."""

from conservancy.runtime import run

__all__ = ["run"]
