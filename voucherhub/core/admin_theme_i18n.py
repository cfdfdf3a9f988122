"""The admin theme's own words, in our catalog: django-unfold ships no translations, so ops and finance
saw its buttons, filters and menus in English on the Chinese admin ("Select action", "Run", "Apply
Filters", "Light"/"Dark"/"System"...). Django looks a message up in every catalog, so the theme's
templates find these in voucherhub/core/locale. They are marked here, never imported, only so that
`make messages` keeps them there; add a string when an unfold upgrade shows a new one."""

from django.utils.translation import gettext_noop

THEME_STRINGS = [
    # sidebar, search and colour scheme
    gettext_noop("All applications"),
    gettext_noop("Search apps and models..."),
    gettext_noop("Recent searches"),
    gettext_noop("No recent searches"),
    gettext_noop("No results found"),
    gettext_noop("No results matching your query"),
    gettext_noop("Loading more results..."),
    gettext_noop("Type to search"),
    gettext_noop("Light"),
    gettext_noop("Dark"),
    gettext_noop("System"),
    gettext_noop("Return to site"),
    gettext_noop("Welcome"),
    gettext_noop("You have been successfully logged out from the administration"),
    # lists: actions, selection, filters, empty pages
    gettext_noop("Select action"),
    gettext_noop("Select action to run"),
    gettext_noop("Run"),
    gettext_noop("More actions"),
    gettext_noop("Select all rows"),
    gettext_noop("Select record"),
    gettext_noop("Expand row"),
    gettext_noop("Collapse"),
    gettext_noop("Apply Filters"),
    gettext_noop("Reset filters"),
    gettext_noop("Select value"),
    gettext_noop("Date from"),
    gettext_noop("Date to"),
    gettext_noop("True"),
    gettext_noop("False"),
    gettext_noop("No data"),
    gettext_noop("Not enough data."),
    gettext_noop("This page yielded into no results. Create a new item or reset your filters."),
    # forms and exports
    gettext_noop("General"),
    gettext_noop("Go back"),
    gettext_noop("Add row"),
    gettext_noop("Add new item"),
    gettext_noop("This item will be deleted."),
    gettext_noop("Choose file to upload"),
    gettext_noop("Current file"),
    gettext_noop("Click to download"),
    gettext_noop("Click to cancel"),
    gettext_noop("Image preview"),
    gettext_noop("Toggle password visibility"),
    gettext_noop("Select currency"),
    gettext_noop("Select format"),
    gettext_noop("This exporter will export the following fields"),
    gettext_noop("Date"),
    gettext_noop("Value"),
    gettext_noop("Default"),
]
