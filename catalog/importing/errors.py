"""The domain errors of a code import: an unusable file, an all-or-nothing import refused, a step out of turn.

Each is a CatalogError (a DomainError), so a view turns it into a form error or a 4xx body.
"""

from django.utils.translation import gettext_lazy as _

from catalog.models import ImportJob
from catalog.services import CatalogError


class CodeImportError(CatalogError):
    code = "import_error"


class ImportFileRejected(CodeImportError):
    """The whole file is unusable (format, header, size). Nothing was stored."""

    code = "import_file_rejected"

    def __init__(self, failure: str, *, detail: str = "", job: ImportJob | None = None, field: str | None = None):
        self.failure = failure
        self.detail = detail
        self.job = job
        message = ImportJob.Failure(failure).label
        super().__init__(f"{message} {detail}".strip() if detail else message, field=field)


class ImportRefused(CodeImportError):
    """All or nothing, and some rows are bad: nothing was stored. `job.errors` lists the rows."""

    code = "import_refused"
    default_message = _("All or nothing: the file has bad rows, so nothing was stored.")

    def __init__(self, *, job: ImportJob):
        self.job = job
        super().__init__()


class ImportJobStateError(CodeImportError):
    code = "import_job_state"
    status = 409
    default_message = _("This import is not in a state that allows this step.")


class AllModeHasBadRows(CodeImportError):
    code = "import_all_mode_bad_rows"
    default_message = _("All or nothing is impossible: the file has bad rows. Store only the valid rows, or fix the file.")
