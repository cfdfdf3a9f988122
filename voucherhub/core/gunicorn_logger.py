"""gunicorn's logger with private-link tokens dropped from the access log (named in gunicorn.conf.py).

Every access-log atom that can hold a path (the request line %(r)s, the path %(U)s, the referrer %(f)s,
any request header or environ variable) goes through `private_paths_masked`, so `/my/<token>/` is logged
as `/my/***` whatever `access_log_format` is used. gunicorn's own error log (the "gunicorn.error"
logger) gets the same treatment through PrivatePathFilter.
"""

from gunicorn.glogging import Logger

from voucherhub.core.logmask import PrivatePathFilter, private_paths_masked


class PrivatePathLogger(Logger):
    def setup(self, cfg) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers + self.access_log.handlers:
            if not any(isinstance(f, PrivatePathFilter) for f in handler.filters):
                handler.addFilter(PrivatePathFilter())

    def atoms(self, resp, req, environ, request_time) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: private_paths_masked(value) if isinstance(value, str) else value for key, value in atoms.items()}
