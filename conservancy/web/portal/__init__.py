"""The donor portal: signed-in donors' gifts, receipts and schedules."""
