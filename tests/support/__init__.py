"""Code shared by the tests (importable because pytest puts tests/ on sys.path, see
pyproject.toml): fixture records, the fake API, helpers to run regsync and read its output.
Fixtures themselves live in tests/conftest.py."""
