"""Page-number pagination whose count is bounded: a console list over a million rows must not
count them all on every page view (Django's Paginator runs ``COUNT(*)`` over every match: at
1,000,000 tickets that alone was most of an inbox request). Past ``CAP`` rows the list shows
"10,000+" and stops offering pages beyond it, as Zendesk's views do; searching narrows it."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.functional import cached_property

CAP = 10_000


class CappedPaginator(Paginator):
    cap = CAP

    @cached_property
    def count(self) -> int:
        """At most ``cap + 1``: a COUNT over a LIMITed subquery (one more row says "more")."""
        object_list = self.object_list
        if hasattr(object_list, "count") and hasattr(object_list, "query"):
            return object_list[: self.cap + 1].count()
        return min(len(object_list), self.cap + 1)

    @property
    def capped(self) -> bool:
        """There are more than ``cap`` rows; ``count`` and ``num_pages`` stop there."""
        return self.count > self.cap
