"""Settings, the database and the files the package ships.

``config`` (typed Settings from CONSERVANCY_* variables), ``db`` (the declarative
base, engines, sessions, migrations), ``resources`` (templates, static files and
migrations, installed or editable). Below the domain: imports only the kernels."""
