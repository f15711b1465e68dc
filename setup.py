"""The packages, with the folders kept at the top of the checkout mapped into the package.

``templates/``, ``static/`` and ``migrations/`` stay where they are and ship in the wheel as
``conservancy.templates``, ``conservancy.static`` and ``conservancy.migrations``;
conservancy/infra/resources.py finds them through importlib.resources, installed or editable.
Everything else about the distribution is in setup.cfg.
"""

from setuptools import find_packages, setup

DATA = {
    "conservancy.templates": ("templates", ["**/*"]),
    "conservancy.static": ("static", ["**/*"]),
    "conservancy.migrations": ("migrations", ["script.py.mako", "versions/*.py"]),
}

setup(
    packages=[*find_packages(include=["conservancy", "conservancy.*"]), *DATA],
    package_dir={package: folder for package, (folder, _) in DATA.items()},
    package_data={package: globs for package, (_, globs) in DATA.items()},
    # What Python leaves in the checkout's folders never ships.
    exclude_package_data={package: ["**/__pycache__/*", "*.pyc"] for package in DATA},
)
