from django import template

register = template.Library()


@register.inclusion_tag("helpdesk/_quiet_hours.html")
def quiet_hours_advice():
    """The contact page's 'best time to reach us', measured from the last four weeks of contacts."""
    from okwallet.helpdesk.selectors import quiet_hours

    return {"quiet": quiet_hours()}
