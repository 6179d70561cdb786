from django.urls import path

from okwallet.accounts import views, views_console, views_upgrade

url_prefix = "accounts/"
app_name = "accounts"
urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("login/verify/", views.login_verify, name="login_verify"),
    path("logout/", views.logout_view, name="logout"),
    path("signup/", views.signup_start, name="signup"),
    path("signup/finish/", views.signup_finish, name="signup_finish"),
    path("password/forgot/", views.reset_start, name="reset"),
    path("password/forgot/code/", views.reset_code, name="reset_code"),
    path("password/forgot/identity/", views.reset_identity, name="reset_identity"),
    path("password/reset/<str:token>/", views.reset_password, name="reset_password"),
    path("not-me/<str:token>/", views.not_me, name="not_me"),
    path("security/", views.security, name="security"),
    path("security/history/", views.history, name="history"),
    path("security/sessions/", views.sessions_view, name="sessions"),
    path("security/verify/", views.step_up_view, name="step_up"),
    path("security/password/", views.password_change, name="password_change"),
    path("security/password/reminder/", views.password_reminder, name="password_reminder"),
    path("security/2fa/", views.totp_view, name="totp"),
    path("security/2fa/sms/", views.sms_factor, name="sms_factor"),
    path("security/freeze/", views.freeze, name="freeze"),
    path("security/unfreeze/", views.unfreeze, name="unfreeze"),
    path("security/contact/<str:kind>/", views.contact_change, name="contact_change"),
    path("security/email/verify/", views.email_verify, name="email_verify"),
    path("realname/", views.realname, name="realname"),
    path("realname/upgrade/", views_upgrade.realname_upgrade, name="realname_upgrade"),
    path("closure/", views.closure_view, name="closure"),
    path("console/security/", views_console.customer_security, name="console_security"),
]
