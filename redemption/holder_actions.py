"""Actions of higher apps on the holder's private code page (/my/<token>/). Redemption imports none of them:
an app above it (settlement's after-sales report, say) adds its action here from its AppConfig.ready(),
and the page shows, under each code, the actions that give a URL for that holding."""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class HolderAction:
    label: object  # a lazy translation
    url_for: Callable[[object], str | None]  # holding -> the action's URL for it, or None when it does not apply


_actions: dict[str, HolderAction] = {}


def holder_action_add(*, key: str, label, url_for: Callable[[object], str | None]) -> None:
    """Register an action; registering the same key again replaces it."""
    _actions[key] = HolderAction(label=label, url_for=url_for)


def holder_actions(holding) -> list[tuple[str, str]]:
    """(url, label) of the registered actions that apply to `holding`."""
    out = []
    for action in _actions.values():
        url = action.url_for(holding)
        if url:
            out.append((url, str(action.label)))
    return out
