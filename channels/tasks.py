"""django-q2 entry points. Each calls a service and is safe to run twice."""

import logging

from channels.services import levels_upgrade

log = logging.getLogger(__name__)


def levels_upgrade_run() -> int:
    """The scheduled level upgrade (daily; `manage.py run_level_upgrades` runs it now)."""
    changes = levels_upgrade()
    for change in changes:
        log.info("level upgrade: distributor %s %s -> %s", change.distributor_id, change.from_level_id, change.to_level_id)
    return len(changes)
