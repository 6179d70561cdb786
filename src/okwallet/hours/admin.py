from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from okwallet.core.errors import OkError
from okwallet.hours.businesstime import missing_calendar_years
from okwallet.hours.defaults import import_package_calendar, package_years
from okwallet.hours.hooks import calendar_warning_text
from okwallet.hours.models import CalendarDay, CalendarYear, Schedule, SchedulePeriod
from okwallet.hours.services import calendar_year_enter, parse_calendar_lines


class CalendarWarningMixin:
    """Every hours admin page says when a coming year's holiday calendar is missing."""

    def changelist_view(self, request, extra_context=None):
        years = missing_calendar_years()
        if years:
            messages.warning(request, calendar_warning_text(years))
        return super().changelist_view(request, extra_context)


class SchedulePeriodInline(admin.TabularInline):
    model = SchedulePeriod
    extra = 1


@admin.register(Schedule)
class ScheduleAdmin(CalendarWarningMixin, admin.ModelAdmin):
    list_display = ["code", "name_zh", "name_en", "always_open", "order", "updated_at"]
    list_editable = ["order"]
    inlines = [SchedulePeriodInline]
    search_fields = ["code", "name_zh", "name_en"]


@admin.register(CalendarDay)
class CalendarDayAdmin(CalendarWarningMixin, admin.ModelAdmin):
    list_display = ["date", "weekday", "kind", "name_zh", "name_en", "source"]
    list_filter = ["kind", "source", "date"]
    date_hierarchy = "date"
    search_fields = ["name_zh", "name_en"]
    actions = ["import_from_package"]

    @admin.display(description=_("weekday"))
    def weekday(self, obj):
        return obj.date.strftime("%a")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.source = CalendarDay.Source.MANUAL
        super().save_model(request, obj, form, change)

    @admin.action(
        description=_("Import every year the chinese-calendar package knows and that is not entered yet")
    )
    def import_from_package(self, request, queryset):
        years = import_package_calendar()
        if years:
            self.message_user(request, _("Imported %(years)s.") % {"years": ", ".join(map(str, years))})
        else:
            self.message_user(
                request,
                _("Nothing to import: the package knows %(first)s–%(last)s, all entered.")
                % {"first": package_years()[0], "last": package_years()[-1]},
                messages.WARNING,
            )


class CalendarYearForm(forms.Form):
    year = forms.IntegerField(label=_("Year"), min_value=2000, max_value=2100)
    holidays = forms.CharField(
        label=_("Public-holiday days (closed)"),
        widget=forms.Textarea(attrs={"rows": 10, "cols": 60}),
        help_text=_("One line per day or range with the holiday's name, e.g. 2027-02-06..2027-02-13 春节"),
    )
    workdays = forms.CharField(
        label=_("Make-up working days (调休, open)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "cols": 60}),
        help_text=_("One Saturday or Sunday per line with the holiday it belongs to, e.g. 2027-02-14 春节"),
    )


@admin.register(CalendarYear)
class CalendarYearAdmin(CalendarWarningMixin, admin.ModelAdmin):
    list_display = ["year", "source", "entered_at", "entered_by", "note"]
    readonly_fields = ["entered_at", "entered_by"]
    fields = ["year", "note", "entered_at", "entered_by"]

    def add_view(self, request, form_url="", extra_context=None):
        """Entering a year is one form: its holiday days and make-up days together, then the year is marked."""
        if not self.has_add_permission(request):
            return super().add_view(request, form_url, extra_context)
        missing = missing_calendar_years()
        form = CalendarYearForm(request.POST or None, initial={"year": missing[0] if missing else None})
        if request.method == "POST" and form.is_valid():
            try:
                calendar_year_enter(
                    year=form.cleaned_data["year"],
                    holidays=parse_calendar_lines(form.cleaned_data["holidays"]),
                    workdays=parse_calendar_lines(form.cleaned_data["workdays"]),
                    actor=request.user,
                    request=request,
                )
            except OkError as error:
                form.add_error(None, str(error.message))
            else:
                self.message_user(
                    request, _("The %(year)s calendar is entered.") % {"year": form.cleaned_data["year"]}
                )
                return redirect("admin:hours_calendarday_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": _("Enter a year's holiday calendar"),
            "form": form,
            "opts": self.model._meta,
            "missing_years": missing,
        }
        return TemplateResponse(request, "admin/hours/calendaryear/enter.html", context)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.entered_by = request.user
            obj.source = CalendarDay.Source.MANUAL
        super().save_model(request, obj, form, change)
