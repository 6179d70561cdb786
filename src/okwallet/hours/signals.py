from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from okwallet.hours.models import CalendarDay, CalendarYear, Schedule, SchedulePeriod
from okwallet.hours.snapshot import invalidate


@receiver([post_save, post_delete], sender=Schedule)
@receiver([post_save, post_delete], sender=SchedulePeriod)
@receiver([post_save, post_delete], sender=CalendarDay)
@receiver([post_save, post_delete], sender=CalendarYear)
def _schedules_changed(**kwargs):
    invalidate()
