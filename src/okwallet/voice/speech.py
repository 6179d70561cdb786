"""What a caller said (the provider's ``SpeechResult``) → the key it stands for at that menu.

The IVR listens for speech as well as keys (``<Gather input="dtmf speech">`` in zh-CN, or en-US
once the caller chose English). Recognisers return free text ("我的密码被盗了。", "I'd like to
close my account"), so each menu has keywords in Mandarin (simplified and traditional) and
English; the first menu entry with a keyword in the text wins, negated answers ("不要冻结")
are looked for first where it matters, and a spoken digit ("按三", "two") counts as that key.
Asking for a person (人工, 转人工, 客服, agent, operator …) is the key 0 at every menu that
listens, like pressing 0.

Menus where the caller keys in an ID number (freezing by user ID + ID digits) do not listen
for speech at all: nobody should be invited to say ID digits aloud to a recogniser.
"""

from __future__ import annotations

import re
import unicodedata

PERSON = (
    "人工",
    "转人工",
    "轉人工",
    "客服",
    "真人",
    "接线员",
    "agent",
    "person",
    "operator",
    "human",
    "representative",
    "someone",
)
_REPEAT = ("重听", "再说一遍", "再听一遍", "repeat", "say again")
_CALLBACK = ("回电", "回拨", "打回来", "回電", "callback", "call back", "call me back", "ring me back")
_FREEZE = ("冻结", "凍結", "被盗", "被盜", "盗刷", "手机丢", "丢了", "freeze", "block", "stolen", "hacked")

# node → [(key, keywords)], in order of precedence
MENUS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "main_menu": [
        ("2", ("密码", "密碼", "安全", *_FREEZE, "password", "security", "fraud", "lost my phone")),
        ("3", ("投诉", "投訴", "complaint", "complain")),
        (
            "4",
            (
                "注销",
                "註銷",
                "销户",
                "銷戶",
                "close my account",
                "close the account",
                "close account",
                "closure",
                "delete my account",
                "cancel my account",
            ),
        ),
        (
            "1",
            (
                "充值",
                "提现",
                "提現",
                "存款",
                "取款",
                "到账",
                "到賬",
                "转账",
                "轉賬",
                "deposit",
                "withdraw",
                "top up",
                "top-up",
                "topup",
                "cash out",
                "transfer",
            ),
        ),
        ("9", ("english", "英语", "英文")),
        ("*", _REPEAT),
    ],
    "security_menu": [
        ("1", _FREEZE + ("lock",)),
        ("2", ("密码", "密碼", "其他", "别的", "password", "other", "something else")),
        ("*", _REPEAT),
    ],
    "closed_menu": [
        ("3", _FREEZE),
        ("2", _CALLBACK),
        ("1", ("留言", "语音信箱", "voicemail", "leave a message", "message")),
        ("*", _REPEAT),
    ],
    "freeze_confirm": [
        ("*", ("不要", "不用", "取消", "返回", "算了", "别冻", "no", "don't", "do not", "cancel", "back")),
        ("1", ("确认", "确定", "冻结", "凍結", "是的", "好的", "yes", "confirm", "freeze", "go ahead")),
    ],
    "queue_wait": [("1", _CALLBACK)],
    "after_freeze": [],
    "deposit_ref": [],
    "claim_user_id": [],
}
# Menus whose answer is a number the caller may also say ("二零二六一二零一…" is left to keys).
SPOKEN_NUMBER_NODES = ("deposit_ref", "claim_user_id")
LISTENS = tuple(MENUS)

_DIGITS = {
    "零": "0", "〇": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3", "四": "4", "五": "5",
    "六": "6", "七": "7", "八": "8", "九": "9", "zero": "0", "oh": "0", "one": "1", "two": "2",
    "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_SPOKEN_KEY = re.compile(
    r"^(?:我)?(?:要)?(?:按|选|选择|press|option|number)?\s*"
    r"(?P<d>[0-9零〇一幺二两三四五六七八九]|zero|oh|one|two|three|four|five|six|seven|eight|nine)"
    r"\s*(?:号|號|键|鍵)?(?:please)?$"
)
_PUNCT = re.compile(r"[\s\u3000,.!?;:，。！？；：、'\"“”‘’()（）\-]+")


def normalise(speech: str) -> str:
    """Lower-case, width-folded text with punctuation turned into single spaces."""
    text = unicodedata.normalize("NFKC", speech or "").lower()
    return _PUNCT.sub(" ", text).strip()


def _has(text: str, word: str) -> bool:
    if word.isascii():
        return re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", text) is not None
    return word in text.replace(" ", "")


def wants_person(speech: str) -> bool:
    text = normalise(speech)
    return bool(text) and any(_has(text, word) for word in PERSON)


def spoken_number(speech: str) -> str:
    """'123 456', '一二三' → '123456'; '' when the text is not only digits."""
    text = normalise(speech).replace(" ", "")
    if not text:
        return ""
    out = []
    for ch in text:
        if ch.isdigit():
            out.append(ch)
        elif ch in _DIGITS:
            out.append(_DIGITS[ch])
        else:
            return ""
    return "".join(out)


def key_for(node: str, speech: str) -> str | None:
    """The key ``speech`` means at ``node``: a digit, ``*``, or None when nothing matched.

    A person is ``0`` wherever the menu listens; a bare spoken digit is that digit.
    """
    text = normalise(speech)
    if not text or node not in MENUS:
        return None
    entries = MENUS[node]
    negation_first = bool(entries) and entries[0][0] == "*" and node == "freeze_confirm"
    if negation_first and any(_has(text, w) for w in entries[0][1]):
        return "*"
    if wants_person(text):
        return "0"
    match = _SPOKEN_KEY.match(text.replace(" ", "") if not text.isascii() else text)
    if match:
        digit = match.group("d")
        return _DIGITS.get(digit, digit)
    if node in SPOKEN_NUMBER_NODES:
        number = spoken_number(text)
        return (number + "#") if number else None
    for key, words in entries:
        if any(_has(text, word) for word in words):
            return key
    return None


def hints(node: str, lang: str) -> str:
    """Recogniser hints for ``node`` (the keywords in the caller's language), comma-separated."""
    words = [w for _key, group in MENUS.get(node, []) for w in group]
    words += ["人工", "转人工", "客服"] if lang == "zh" else ["agent", "operator", "person"]
    chosen = [w for w in words if w.isascii() == (lang == "en")]
    return ",".join(dict.fromkeys(chosen))[:500]
