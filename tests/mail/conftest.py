from tests.mail.dovecot import dovecot  # noqa: F401 - pytest fixture
