def seed(*, stdout) -> None:
    """Default schedules and every year of China's calendar the installed package knows (idempotent)."""
    from okwallet.hours.businesstime import missing_calendar_years
    from okwallet.hours.defaults import ensure_default_schedules, import_package_calendar

    created = ensure_default_schedules()
    years = import_package_calendar()
    stdout.write(f"hours: {created} schedules created, calendar years imported: {years or 'none needed'}\n")
    missing = missing_calendar_years()
    if missing:
        stdout.write(
            f"hours: no holiday calendar for {missing} yet: supervisors see a warning until it is entered\n"
        )
