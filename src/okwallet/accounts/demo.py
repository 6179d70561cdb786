"""Demo data: real-name verify the demo customers with sandbox identities (idempotent).

张秀英 (13800138003) is 68, so chat and the hotline put her in the priority queue.
"""

from okwallet.accounts.models import RealName, User

DEMO_IDENTITIES = [
    ("+8613800138001", "王小明", "110101199003071233", ["identity"]),
    ("+8613800138002", "李华", "44030519951120789X", ["identity", "bank_card", "carrier"]),
    ("+8613800138003", "张秀英", "310104195806154567", ["identity"]),
]


def seed(*, stdout) -> None:
    from okwallet.accounts.services import realname_add_source, realname_verify

    for phone, name, id_number, sources in DEMO_IDENTITIES:
        user = User.objects.filter(phone=phone).first()
        if user is None or RealName.objects.filter(user=user).exists():
            continue
        realname_verify(user=user, name=name, id_number=id_number)
        for source in sources[1:]:
            realname_add_source(user=user, source=source)
    stdout.write("accounts: demo customers real-name verified (sandbox identities; 张秀英 is 68)")
