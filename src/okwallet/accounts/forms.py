from django import forms
from django.utils.translation import gettext_lazy as _


class LoginForm(forms.Form):
    identifier = forms.CharField(
        label=_("Mobile number, email or user ID"),
        max_length=120,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        max_length=256,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


def code_field(label=None, required=True):
    return forms.CharField(
        label=label or _("6-digit code"),
        max_length=12,
        required=required,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9 ]*", "size": 8}
        ),
    )


def new_password_field(label=None):
    return forms.CharField(
        label=label or _("New password"),
        strip=False,
        max_length=256,
        help_text=_(
            "At least 8 characters; not a common password; without your mobile number, user ID or "
            "birth date. Mixing letters, digits and symbols makes it stronger."
        ),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "data-strength": "1"}),
    )


class PhoneForm(forms.Form):
    phone = forms.CharField(
        label=_("Mobile number"),
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel", "autofocus": True}),
        help_text=_("A mainland China mobile number, e.g. 138 1234 5678."),
    )


class SignupForm(forms.Form):
    code = code_field(_("Code from the SMS"))
    password = new_password_field(_("Password"))
    display_name = forms.CharField(label=_("Nickname (optional)"), max_length=60, required=False)
    email = forms.EmailField(
        label=_("Email (optional)"),
        required=False,
        max_length=200,
        help_text=_("We send a code to verify it. Useful for receipts and account alerts."),
    )


class SecondFactorForm(forms.Form):
    method = forms.ChoiceField(label=_("Verification method"), choices=())
    code = forms.CharField(
        label=_("Code"), max_length=20, widget=forms.TextInput(attrs={"autocomplete": "one-time-code"})
    )

    def __init__(self, *args, methods=(), **kwargs):
        super().__init__(*args, **kwargs)
        labels = {
            "totp": _("Authenticator app"),
            "recovery_code": _("Recovery code"),
            "sms": _("SMS code"),
        }
        self.fields["method"].choices = [(m, labels[m]) for m in methods]


class CodeForm(forms.Form):
    code = code_field()


class ResetIdentityForm(forms.Form):
    method = forms.ChoiceField(
        label=_("Verification method"),
        required=False,
        choices=[("totp", _("Authenticator app")), ("recovery_code", _("Recovery code"))],
    )
    second_factor = forms.CharField(label=_("Authenticator or recovery code"), max_length=20, required=False)
    id_last6 = forms.CharField(
        label=_("Last 6 characters of your ID number"),
        max_length=6,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "size": 8}),
    )

    def __init__(self, *args, needs=(), **kwargs):
        super().__init__(*args, **kwargs)
        if "second_factor" not in needs:
            del self.fields["method"]
            del self.fields["second_factor"]
        if "id_last6" not in needs:
            del self.fields["id_last6"]


class NewPasswordForm(forms.Form):
    password = new_password_field()


class PasswordChangeForm(forms.Form):
    old_password = forms.CharField(
        label=_("Current password"),
        strip=False,
        max_length=256,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    new_password = new_password_field()


class UnfreezeForm(forms.Form):
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        max_length=256,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    sms_code = code_field(_("Code from the SMS"))
    method = forms.ChoiceField(
        label=_("Verification method"),
        required=False,
        choices=[("totp", _("Authenticator app")), ("recovery_code", _("Recovery code"))],
    )
    second_factor = forms.CharField(label=_("Authenticator or recovery code"), max_length=20, required=False)
    id_last6 = forms.CharField(label=_("Last 6 characters of your ID number"), max_length=6, required=False)

    def __init__(self, *args, needs=(), **kwargs):
        super().__init__(*args, **kwargs)
        if "second_factor" not in needs:
            del self.fields["method"]
            del self.fields["second_factor"]
        if "id_last6" not in needs:
            del self.fields["id_last6"]


class FreezeForm(forms.Form):
    reason = forms.ChoiceField(
        label=_("Why are you freezing the account?"),
        choices=[
            ("lost_phone", _("I lost my phone")),
            ("suspected_fraud", _("I think someone else is using my account")),
            ("scam_contact", _("Someone contacted me pretending to be OK Wallet")),
            ("other", _("Other")),
        ],
    )


class ContactStartForm(forms.Form):
    new_value = forms.CharField(label=_("New value"), max_length=200)


class ContactConfirmForm(forms.Form):
    old_code = code_field(_("Code sent to your current contact"))
    new_code = code_field(_("Code sent to the new contact"))


class RealNameForm(forms.Form):
    name = forms.CharField(
        label=_("Name as on your ID card"),
        max_length=60,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    id_number = forms.CharField(
        label=_("18-digit resident ID number"),
        max_length=30,
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "text", "spellcheck": "false"}),
    )


class ClosureForm(forms.Form):
    reason = forms.CharField(label=_("Why are you leaving? (optional)"), max_length=300, required=False)
    confirm = forms.BooleanField(
        label=_("I understand that after the cooling-off period the account is closed for good."),
        required=True,
    )


class SourceCheckForm(forms.Form):
    """One verification source on the upgrade page (prefixed with the source, so ids are unique)."""

    id_number = forms.CharField(
        label=_("Your 18-digit ID number"),
        max_length=30,
        help_text=_(
            "The number you verified your real name with (we keep only part of it, so we ask again)."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    face_token = forms.CharField(
        label=_("Face check result"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def __init__(self, *args, needs=(), face_help="", **kwargs):
        super().__init__(*args, **kwargs)
        if "face_token" in needs:
            self.fields["face_token"].required = True
            self.fields["face_token"].help_text = face_help
        else:
            del self.fields["face_token"]
