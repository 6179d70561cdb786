from django import forms
from django.utils.translation import gettext_lazy as _

from okwallet.antifraud.models import ScamReport


class VerifyForm(forms.Form):
    q = forms.CharField(
        label=_("Phone number, website or email address"),
        max_length=500,
        widget=forms.TextInput(attrs={"autofocus": True, "placeholder": "400-820-6655 / okwallet.example"}),
    )


class ReportForm(forms.Form):
    kind = forms.ChoiceField(label=_("What are you reporting?"), choices=ScamReport.Kind.choices)
    value = forms.CharField(label=_("The number, link or address"), max_length=500, required=False)
    message = forms.CharField(
        label=_("What did they say or send?"),
        max_length=5000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    lost_money = forms.BooleanField(label=_("I have already lost money"), required=False)
    reporter_contact = forms.CharField(
        label=_("How can we reach you? (optional)"), max_length=200, required=False
    )
