"""Card-code imports: read a CSV or XLSX file, check every row (a dry run), store the good rows in the vault.

One module per concern, each importing only from those above it:

    errors    the domain errors of an import (an unusable file, a refused import, a step out of turn)
    sources   reading a CSV or XLSX upload into numbered rows (format, encoding, delimiter, header aliases)
    checks    checking rows (malformed, duplicate in the file, already in the vault, serial, expiry) and the
              bad-row report shown to people
    store     writing checked rows into the vault (binary COPY on PostgreSQL, catalog's codes_insert elsewhere)
    jobs      the ImportJob lifecycle: upload, dry run, confirm, commit, cancel, retry, the django-q2 steps, the
              progress the page polls and the worker's heartbeat (voucherhub/core/jobs.py); `codes_import`
              checks and stores in one pass (the `import_codes` command, the benchmark)

Callers import from the module that owns a name (`from catalog.importing import jobs`); this package
re-exports nothing.
"""
