"""Work after the commit: jobs (RQ or in-process), the sweep for lost work, the
courier thread, the removal of stale rows.

Above the domain, below the runtime and the web: never imports ``conservancy.web``."""
