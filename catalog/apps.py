from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = _("Catalog")

    def ready(self) -> None:
        from catalog.audit_actions import AUDIT_ACTIONS
        from catalog.importing.jobs import import_job_give_up, import_job_requeue
        from catalog.models import ImportJob
        from voucherhub.core import roles
        from voucherhub.core.audit import audit_actions_register
        from voucherhub.core.jobs import jobs_register

        audit_actions_register(AUDIT_ACTIONS)
        jobs_register(model=ImportJob, requeue=import_job_requeue, give_up=import_job_give_up)

        # Operations run the catalog: goods, code stock and the vault's guarded actions.
        roles.grant(
            roles.OPS,
            [
                *(f"catalog.{verb}_{model}" for model in ("supplier", "product", "sku") for verb in ("view", "add", "change")),
                "catalog.view_codebatch",
                "catalog.view_cardcode",
                "catalog.view_codeevent",
                "catalog.view_importjob",
                "catalog.add_importjob",
                "catalog.import_cardcode",
                "catalog.generate_cardcode",
                "catalog.void_cardcode",
                "catalog.reveal_cardcode",
            ],
        )
        # Finance reads what is sold and at which cost; it never sees codes.
        roles.grant(roles.FINANCE, ["catalog.view_supplier", "catalog.view_product", "catalog.view_sku"])
