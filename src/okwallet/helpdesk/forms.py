from django import forms
from django.utils.translation import gettext_lazy as _

from okwallet.helpdesk.models import Category, Priority, Status

CUSTOMER_CATEGORIES = [
    (c.value, c.label) for c in Category if c not in (Category.COMPLAINT, Category.SUGGESTION)
]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data if d]
        return [single(data, initial)] if data else []


class TicketForm(forms.Form):
    category = forms.ChoiceField(label=_("What is it about?"), choices=CUSTOMER_CATEGORIES)
    subject = forms.CharField(label=_("Subject"), max_length=200)
    body = forms.CharField(
        label=_("Describe the problem"), widget=forms.Textarea(attrs={"rows": 6}), max_length=10000
    )
    reference = forms.CharField(
        label=_("Transaction reference (if any)"),
        max_length=64,
        required=False,
        help_text=_("Found in the transaction details, e.g. D20261201..."),
    )
    attachments = MultipleFileField(
        label=_("Screenshots or documents"),
        required=False,
        help_text=_("Up to 5 files, 10 MB each: images, PDF or text."),
    )


class ComplaintForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Type"),
        choices=[(Category.COMPLAINT.value, _("Complaint")), (Category.SUGGESTION.value, _("Suggestion"))],
        widget=forms.RadioSelect,
        initial=Category.COMPLAINT.value,
    )
    subject = forms.CharField(label=_("Subject"), max_length=200)
    body = forms.CharField(
        label=_("What happened, and what would you like us to do?"),
        widget=forms.Textarea(attrs={"rows": 7}),
        max_length=10000,
    )
    reference = forms.CharField(label=_("Transaction reference (if any)"), max_length=64, required=False)
    contact_phone = forms.CharField(
        label=_("Phone number we may call you on"),
        max_length=20,
        required=False,
        help_text=_("Leave empty to use your registered mobile number."),
    )
    attachments = MultipleFileField(label=_("Evidence"), required=False)


class CustomerReplyForm(forms.Form):
    body = forms.CharField(label=_("Your reply"), widget=forms.Textarea(attrs={"rows": 4}), max_length=10000)
    attachments = MultipleFileField(label=_("Attach files"), required=False)


class AgentReplyForm(forms.Form):
    body = forms.CharField(label=_("Message"), widget=forms.Textarea(attrs={"rows": 6}), max_length=20000)
    internal = forms.BooleanField(label=_("Internal note (not shown to the customer)"), required=False)
    set_status = forms.ChoiceField(
        label=_("Then set status"),
        required=False,
        choices=[("", _("Waiting for customer (default)"))]
        + [(s.value, s.label) for s in Status if s not in (Status.NEW,)],
    )


class TicketUpdateForm(forms.Form):
    priority = forms.TypedChoiceField(label=_("Priority"), choices=Priority.choices, coerce=int)
    category = forms.ChoiceField(label=_("Category"), choices=Category.choices)
    tags = forms.CharField(label=_("Tags (comma separated)"), required=False, max_length=400)


class CsatForm(forms.Form):
    score = forms.TypedChoiceField(
        label=_("How satisfied are you with how we handled your request?"),
        choices=[(i, str(i)) for i in range(5, 0, -1)],
        coerce=int,
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label=_("Anything to add? (optional)"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=2000,
    )
