"""The date range of a dashboard: ?start=YYYY-MM-DD&end=YYYY-MM-DD (local days, both included), last 30 days by
default, at most 366 days; the previous period is the same number of days just before it."""

from dataclasses import dataclass
from datetime import date, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MAX_DAYS = 366
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class Period:
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> "Period":
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def each_day(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range(self.days)]


class PeriodForm(forms.Form):
    start = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        today = timezone.localdate()
        end = data.get("end") or today
        start = data.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            self.add_error("start", _("The start date must not be after the end date."))
        elif (end - start).days + 1 > MAX_DAYS:
            self.add_error("start", _("Choose at most %(days)d days.") % {"days": MAX_DAYS})
        data["period"] = Period(start, end)
        return data


def period_from(params) -> tuple[Period, PeriodForm]:
    """The period asked for in `params` (a QueryDict), or the default when the form has errors (shown beside it)."""
    form = PeriodForm(params)
    if form.is_valid():
        return form.cleaned_data["period"], form
    today = timezone.localdate()
    return Period(today - timedelta(days=DEFAULT_DAYS - 1), today), form
