"""Anti-fraud API: official-channel verifier, scam reports, app versions (all public)."""

from __future__ import annotations

from datetime import datetime

from ninja import Field, Query, Router, Schema, Status

from okwallet.accounts import conf
from okwallet.antifraud.selectors import app_version_info
from okwallet.antifraud.services import scam_report_create
from okwallet.antifraud.verifier import verify
from okwallet.core import ratelimit
from okwallet.core.audit import client_ip

router = Router(tags=["antifraud"])


class VerifyQuery(Schema):
    q: str = Field(..., min_length=1, max_length=500, description="Phone number, website address or email")


class VersionQuery(Schema):
    platform: str = Field("android", pattern="^(android|ios|harmony)$")
    version: str = Field("", max_length=20)


class VerdictOut(Schema):
    kind: str
    value: str
    official: bool
    label: str
    lookalike: bool
    advice: list[str]


@router.get(
    "/antifraud/verify",
    response=VerdictOut,
    auth=None,
    summary="Is this number, website or email OK Wallet's?",
)
def verify_api(request, params: Query[VerifyQuery]):
    ratelimit.enforce(conf.rl(f"verify:ip:{client_ip(request)}"), limit=60, window_seconds=60)
    return verify(params.q).__dict__


class ReportIn(Schema):
    kind: str = Field(..., pattern="^(phone|url|email|message)$")
    value: str = Field("", max_length=500)
    message: str = Field("", max_length=5000)
    lost_money: bool = False
    reporter_contact: str = Field("", max_length=200)


class ReportOut(Schema):
    reference: str
    status: str
    official_match: bool
    created_at: datetime


def _optional_user(request):
    from okwallet.api.auth import token_auth

    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        user = token_auth.authenticate(request, header[7:].strip())
        if user is not None:
            return user
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


@router.post(
    "/antifraud/reports",
    response={201: ReportOut},
    auth=None,
    summary="Report a scam number, link or message",
)
def report_api(request, payload: ReportIn):
    ratelimit.enforce(conf.rl(f"scamreport:ip:{client_ip(request)}"), limit=10, window_seconds=3600)
    report = scam_report_create(
        kind=payload.kind,
        value=payload.value,
        message=payload.message,
        lost_money=payload.lost_money,
        reporter=_optional_user(request),
        reporter_contact=payload.reporter_contact,
        request=request,
    )
    return Status(201, report)


class VersionOut(Schema):
    platform: str
    min_supported: str
    latest: str
    download_url: str
    update_required: bool | None
    update_available: bool | None


@router.get(
    "/app/version", response=VersionOut, auth=None, summary="Minimum supported and latest app version"
)
def app_version(request, params: Query[VersionQuery]):
    return app_version_info(params.platform, params.version)
