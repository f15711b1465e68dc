"""Shared kernels: what every layer may use and that knows no business rule.

The clock, the domain's errors, gapless yearly numbering, once-only form
submissions, the kinds of uploaded files. (``conservancy.money`` is the other kernel.)
Imports nothing of conservancy's but ``money`` and ``infra.db``."""
