"""Service schedules per channel or team, and China's working calendar.

A day is a *workday*, a *weekend* day or a *holiday*: a ``CalendarDay`` override decides (a
public holiday closes, a make-up working day 调休 opens), otherwise the weekday does. Each
schedule has its own periods for each kind of day (several a day for a lunch break), or is open
around the clock. A ``CalendarYear`` row says a year's official calendar has been entered;
without it the year falls back to the plain weekday rule and supervisors are warned.
"""

from __future__ import annotations

from datetime import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


class DayType(models.TextChoices):
    WORKDAY = "workday", _("Working day")
    WEEKEND = "weekend", _("Weekend")
    HOLIDAY = "holiday", _("Public holiday")


class Schedule(models.Model):
    code = models.SlugField(
        max_length=40,
        unique=True,
        help_text=_("Key used by the channels: hotline, chat, email, complaints, security, or a team's own."),
    )
    name_zh = models.CharField(_("name (Chinese)"), max_length=80)
    name_en = models.CharField(_("name (English)"), max_length=80)
    always_open = models.BooleanField(_("open 24/7"), default=False)
    note_zh = models.CharField(_("note (Chinese)"), max_length=200, blank=True)
    note_en = models.CharField(_("note (English)"), max_length=200, blank=True)
    order = models.PositiveSmallIntegerField(default=10)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "code"]
        verbose_name = _("service schedule")
        verbose_name_plural = _("service schedules")

    def __str__(self) -> str:
        return f"{self.code} · {self.name_zh}"


class SchedulePeriod(models.Model):
    """One opening period on one kind of day. ``end`` 00:00 means midnight at the end of the day."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="periods")
    day_type = models.CharField(_("kind of day"), max_length=10, choices=DayType.choices)
    start = models.TimeField(_("opens"))
    end = models.TimeField(_("closes"), help_text=_("00:00 means midnight at the end of the day."))

    class Meta:
        ordering = ["schedule", "day_type", "start"]
        verbose_name = _("opening period")
        verbose_name_plural = _("opening periods")

    def clean(self):
        if self.start is not None and self.end is not None and self.end != time(0) and self.end <= self.start:
            raise ValidationError(
                _("A period must close after it opens; split a period that crosses midnight in two.")
            )

    @property
    def start_minute(self) -> int:
        return self.start.hour * 60 + self.start.minute

    @property
    def end_minute(self) -> int:
        return 24 * 60 if self.end == time(0) else self.end.hour * 60 + self.end.minute

    def __str__(self) -> str:
        return f"{self.get_day_type_display()} {self.start:%H:%M}–{self.end:%H:%M}"


class CalendarDay(models.Model):
    """An override of the weekday rule: a closed public holiday or an open make-up working day."""

    class Kind(models.TextChoices):
        HOLIDAY = "holiday", _("Public holiday (closed)")
        WORKDAY = "workday", _("Make-up working day (调休, open)")

    class Source(models.TextChoices):
        PACKAGE = "package", _("chinese-calendar package")
        MANUAL = "manual", _("Entered by hand")

    date = models.DateField(unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    name_zh = models.CharField(_("name (Chinese)"), max_length=80, blank=True)
    name_en = models.CharField(_("name (English)"), max_length=80, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MANUAL)

    class Meta:
        ordering = ["date"]
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")

    def __str__(self) -> str:
        return f"{self.date} {self.get_kind_display()} {self.name_zh}"


class CalendarYear(models.Model):
    """Marks a year whose official holiday calendar has been entered in full."""

    year = models.PositiveSmallIntegerField(unique=True)
    source = models.CharField(
        max_length=10, choices=CalendarDay.Source.choices, default=CalendarDay.Source.MANUAL
    )
    entered_at = models.DateTimeField(auto_now_add=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-year"]
        verbose_name = _("calendar year")
        verbose_name_plural = _("calendar years (entered)")

    def __str__(self) -> str:
        return str(self.year)
