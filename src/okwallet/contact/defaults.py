"""Default contact channels and official identities (seeded by a migration; editable in admin)."""

CHANNELS = [
    {
        "kind": "hotline",
        "value": "400-820-6655",
        "schedule": "hotline",
        "order": 1,
        "label_zh": "客服热线",
        "label_en": "Customer hotline",
        "text_zh": "人工客服工作日 9:00–18:00 接听。按 0 随时转人工。节假日前后来电较多，建议错峰拨打。",
        "text_en": "Agents answer on working days 9:00–18:00. Press 0 at any time for a person. "
        "Lines are busiest around public holidays; call at a quieter time if you can.",
    },
    {
        "kind": "chat",
        "value": "",
        "schedule": "chat",
        "order": 2,
        "label_zh": "在线客服",
        "label_en": "Live chat",
        "text_zh": "在 App 或网站右下角打开在线客服，先由智能助手解答，随时可以转人工。",
        "text_en": "Open live chat in the app or at the bottom right of the site. The assistant answers first; "
        "you can ask for a person at any time.",
    },
    {
        "kind": "email",
        "value": "support@okwallet.example",
        "schedule": "email",
        "order": 3,
        "reply_promise_working_days": 2,
        "label_zh": "邮件支持",
        "label_en": "Email support",
        "text_zh": "问题不急或需要书面记录时，请写信给我们，写明手机号、用户ID和交易单号。",
        "text_en": "For questions that are not urgent or need a written record. Include your phone number, "
        "user ID and the transaction reference.",
    },
    {
        "kind": "security",
        "value": "400-820-6600",
        "schedule": "security",
        "order": 4,
        "label_zh": "24小时账户安全专线",
        "label_en": "24/7 account security line",
        "text_zh": "手机丢失或怀疑被盗用？随时拨打，立即冻结账户。",
        "text_en": "Lost your phone or suspect misuse? Call at any time to freeze your account at once.",
    },
]

OFFICIAL = [
    ("phone", "400-820-6655", "客服热线", "Customer hotline"),
    ("phone", "400-820-6600", "账户安全专线", "Account security line"),
    ("phone", "021-6088-6655", "客服外呼号码", "Outbound calls from our agents"),
    ("phone", "10690066550", "短信发送号码", "Number our SMS messages come from"),
    ("domain", "okwallet.example", "官方网站", "Official website"),
    ("email", "okwallet.example", "官方邮箱域名", "Official email domain"),
]


def ensure_default_contact(channel_model=None, identity_model=None) -> None:
    """Idempotent: fills an empty channel table and adds missing official identities."""
    if channel_model is None:
        from okwallet.contact.models import ContactChannel as channel_model
        from okwallet.contact.models import OfficialIdentity as identity_model
    if not channel_model.objects.exists():
        for spec in CHANNELS:
            channel_model.objects.create(**spec)
    for kind, value, note_zh, note_en in OFFICIAL:
        identity_model.objects.get_or_create(
            kind=kind, value=value, defaults={"note_zh": note_zh, "note_en": note_en}
        )
