"""The Twilio-compatible adapter: signature validation and TwiML rendering.

Any provider that speaks TwiML and signs its requests the Twilio way (HMAC-SHA1 of the full
URL plus the sorted POST parameters, base64, in ``X-Twilio-Signature``) can drive the hotline.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Dial, VoiceResponse
from twilio.twiml.voice_response import Gather as TwimlGather

from okwallet.voice import conf, flow, prompts, speech


def auth_token() -> str:
    return conf.get("OKWALLET_TWILIO_AUTH_TOKEN") or ""


def request_url(request) -> str:
    """The URL the provider signed. Behind a proxy set OKWALLET_VOICE_PUBLIC_URL (https://host)."""
    base = (conf.get("OKWALLET_VOICE_PUBLIC_URL") or "").rstrip("/")
    if base:
        return base + request.get_full_path()
    return request.build_absolute_uri()


def signature_valid(request, params: dict) -> bool:
    """False when no auth token is configured, the header is missing, or the HMAC does not match."""
    token = auth_token()
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        return False
    validator = RequestValidator(token)
    return bool(
        validator.validate(request_url(request), params if request.method == "POST" else {}, signature)
    )


def _url(name: str, **query) -> str:
    path = reverse(f"voice:{name}")
    return f"{path}?{urlencode(query)}" if query else path


def _speak(target, say: flow.Say) -> None:
    if say.url:
        target.play(say.url)
    elif say.text:
        target.say(say.text, language=prompts.VOICES.get(say.lang, "zh-CN"))


def render(actions: list, *, call) -> str:
    response = VoiceResponse()
    seq = call.seq if call is not None else 0
    for action in actions:
        if isinstance(action, flow.Say):
            _speak(response, action)
        elif isinstance(action, flow.Gather):
            lang = getattr(call, "language", "zh")
            gather = TwimlGather(
                action=_url("twilio_gather", node=action.node, seq=seq),
                method="POST",
                timeout=action.timeout_s,
                action_on_empty_result=True,
                input="dtmf speech" if action.speech else "dtmf",
                language=prompts.VOICES.get(lang, "zh-CN") if action.speech else None,
                hints=speech.hints(action.node, lang) if action.speech else None,
                speech_timeout="auto" if action.speech else None,
                num_digits=action.num_digits,
                finish_on_key=action.finish_on_key or None,
            )
            for item in action.prompts:
                _speak(gather, item)
            response.append(gather)
            # Providers without actionOnEmptyResult fall through to here on silence.
            response.redirect(_url("twilio_gather", node=action.node, seq=seq, timeout=1), method="POST")
        elif isinstance(action, flow.Enqueue):
            name = f"{action.queue}-priority" if action.priority else action.queue
            response.enqueue(
                name,
                action=_url("twilio_queue_exit"),
                method="POST",
                wait_url=_url("twilio_wait"),
                wait_url_method="POST",
            )
        elif isinstance(action, flow.Record):
            response.record(
                action=_url("twilio_recorded", node=action.node, seq=seq),
                method="POST",
                max_length=action.max_seconds,
                finish_on_key="#",
                play_beep=True,
                timeout=5,
            )
        elif isinstance(action, flow.Hold):
            music = conf.get("OKWALLET_VOICE_HOLD_MUSIC_URL")
            if music:
                response.play(music)
            else:
                response.pause(length=action.seconds)
        elif isinstance(action, flow.Pause):
            response.pause(length=action.seconds)
        elif isinstance(action, flow.Hangup):
            response.hangup()
        elif isinstance(action, flow.ConnectAgent):
            dial = Dial(
                action=_url("twilio_callback_result", leg=action.leg),
                method="POST",
                timeout=action.timeout_s,
            )
            dial.client(action.agent)
            response.append(dial)
    return str(response)


def render_retry(path: str) -> str:
    """A duplicate arrived while the first delivery is still being processed: come back in a second."""
    response = VoiceResponse()
    response.pause(length=1)
    response.redirect(path, method="POST")
    return str(response)


def render_apology() -> str:
    response = VoiceResponse()
    response.say(prompts.text("one_moment", "zh"), language="zh-CN")
    response.enqueue(
        "person", wait_url=_url("twilio_wait"), wait_url_method="POST", action=_url("twilio_queue_exit")
    )
    return str(response)


def render_agent_dial(*, queue: str, agent_id: int) -> str:
    """TwiML for an agent's softphone: take the next caller from ``queue`` (bridge marks the answer)."""
    response = VoiceResponse()
    dial = Dial()
    dial.queue(queue, url=_url("twilio_bridge", agent=agent_id), method="POST")
    response.append(dial)
    return str(response)
