"""Demo data: app versions per platform (idempotent)."""

from okwallet.antifraud.models import AppRelease


def seed(*, stdout) -> None:
    for platform in AppRelease.Platform.values:
        AppRelease.objects.get_or_create(
            platform=platform,
            defaults={
                "min_supported": "3.0.0",
                "latest": "3.4.0",
                "notes_zh": "修复安全问题，建议尽快更新。",
                "notes_en": "Security fixes: please update soon.",
            },
        )
    stdout.write("antifraud: app versions (min 3.0.0, latest 3.4.0)")
