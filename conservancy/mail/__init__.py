"""E-mail to donors, sent after the commit from an outbox, never twice.

* ``models``     the outbox: one row per message, keyed so it is queued once
* ``outbox``     queueing a message in the caller's transaction, and sending what is due
* ``transport``  SMTP when ``CONSERVANCY_SMTP_URL`` is set, otherwise .eml files
"""
