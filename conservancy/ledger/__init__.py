"""The books engine: the only code that imports Beancount.

* ``accounts``  the chart of accounts
* ``entries``   entries as plain values (no Beancount), checked when made
* ``outbox``    recording entries with the money event, posting them exactly once
* ``writer``    Beancount text through Beancount's own printer
* ``files``     where the books live, and the writers' lock
* ``snapshot``, ``books``  balances from memory, kept current incrementally
* ``index``     every transaction touching a fund, in SQLite, for pages and statements
* ``tails``     reading what was appended to the app's files since a cursor
* ``check``     ``conservancy ledger check``
* ``years``     closed years: what the day-to-day books and the full history load
* ``close``     ``conservancy ledger close``: closing a year
"""
