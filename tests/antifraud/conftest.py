import uuid

import pytest


@pytest.fixture(autouse=True)
def _own_rate_limit_namespace(settings, db):
    settings.OKWALLET_RATELIMIT_NAMESPACE = f"t{uuid.uuid4().hex[:10]}"
    from okwallet.contact.defaults import ensure_default_contact
    from okwallet.contact.selectors import contact_cache_clear

    ensure_default_contact()
    contact_cache_clear()
