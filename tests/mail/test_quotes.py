"""Quote and signature stripping for replies from the clients our customers use."""

from __future__ import annotations

from pathlib import Path

import pytest

from okwallet.mail.parsing import parse_message
from okwallet.mail.quotes import split_quotes, strip_quotes_and_signature

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("qq_mail_reply.eml", "流水号是 2026112514030001，麻烦尽快处理。"),
        ("foxmail_reply.eml", "已经重新提交了，谢谢。"),
        ("netease_163_reply.eml", "好的，我这就去设置。"),
        ("outlook_zh_reply.eml", "我已经上传了身份证照片，请再审核一下。\n\n谢谢\n周杰"),
        ("iphone_reply.eml", "收到，谢谢！"),
        ("gmail_en_reply.eml", "Thanks, the deposit has arrived now.\n\nBest,\nAlice"),
    ],
)
def test_reply_from_each_client_keeps_only_what_the_customer_wrote(fixture, expected):
    msg = parse_message((FIXTURES / fixture).read_bytes())
    assert strip_quotes_and_signature(msg.text) == expected


def test_html_only_reply_is_stripped_via_blockquotes():
    from okwallet.mail.html import html_to_text

    html = (
        '<div dir="ltr">Works now</div><div class="gmail_quote">On Thu, Nov 26, 2026 at 10:05 AM Support '
        "&lt;support@okwallet.cn&gt; wrote:<br><blockquote>old text</blockquote></div>"
    )
    assert strip_quotes_and_signature(html_to_text(html)) == "Works now"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Got it.\n\n-----Original Message-----\nFrom: Support\nSent: Thursday\nTo: me\nSubject: x\n\nold",
            "Got it.",
        ),
        (
            "OK\n\nFrom: OK Wallet <support@okwallet.cn>\nSent: Thursday, November 26, 2026 10:05 AM\n"
            "To: Bob <bob@example.com>\nSubject: RE: hi\n\nold",
            "OK",
        ),
        (
            "好的\n\n张三 <zhangsan@gmail.com> 于2026年11月26日周四 上午10:05写道：\n\n> 旧内容",
            "好的",
        ),
        ("好的\n\n在 2026年11月26日 星期四 10:05，OK钱包客服 写道：\n> 旧内容", "好的"),
        ('好\n\n在 2026-11-26 10:05:00，"客服" <support@okwallet.cn> 写道:\n旧内容', "好"),
        ("收到\n\n发自我的华为手机", "收到"),
        ("收到\n\n发自我的小米手机\n\n------------------ 原始邮件 ------------------\n发件人: x", "收到"),
        ("Sure\n\nSent from my iPhone", "Sure"),
        ("收到\n\n-----邮件原件-----\n发件人: 客服\n发送时间: 2026年11月26日\n主题: x\n\n旧", "收到"),
        (
            "收到了\n\n寄件者: OK錢包客服 <support@okwallet.cn>\n寄件日期: 2026年11月26日 上午 10:05\n"
            "收件者: 陳大文\n主旨: 付款失敗\n\n舊內容",
            "收到了",
        ),
        ("Sure\n\nGet Outlook for iOS", "Sure"),
        ("Thanks\n-- \nBob Smith\nACME Ltd", "Thanks"),
        ("Answer one\n> question one\nAnswer two\n> question two", "Answer one\nAnswer two"),
        ("hi\n\n------------------&nbsp;Original&nbsp;------------------\nFrom: a\nDate: b\nTo: c\n", "hi"),
    ],
)
def test_known_quote_and_signature_shapes(text, expected):
    assert strip_quotes_and_signature(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "发自我的手机银行的转账失败了\n请帮忙",
        "On Monday I tried again and it failed.",
        "From: my bank account to my wallet, nothing arrived.",
        "我在 2026年11月26日 转账，对方说已经写道了备注",
    ],
)
def test_customer_sentences_that_look_like_markers_are_kept(text):
    assert strip_quotes_and_signature(text) == text


def test_message_that_is_only_a_quote_returns_the_original():
    text = "> only the quote\n> nothing new"
    assert strip_quotes_and_signature(text) == text


def test_forwarded_content_is_not_treated_as_a_quote():
    text = (
        "请看银行通知\n\n---------- Forwarded message ----------\nFrom: 银行 <n@bank.example>\n"
        "Date: Wed, 25 Nov 2026\nSubject: 扣款通知\nTo: me@example.com\n\n支出 500 元"
    )
    assert strip_quotes_and_signature(text) == text


def test_split_keeps_the_original_the_quote_and_the_signature():
    text = "收到\n\n发自我的iPhone\n\n> 在 2026年11月26日，OK钱包客服 写道：\n> 旧内容"
    split = split_quotes(text)
    assert split.original == text
    assert split.visible == "收到"
    assert split.signature == "发自我的iPhone"
    assert "旧内容" in split.quoted


def test_empty_text():
    assert strip_quotes_and_signature("") == ""


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("qq_mail_reply.eml", "流水号是 2026112514030001，麻烦尽快处理。"),
        ("netease_163_reply.eml", "好的，我这就去设置。"),
        ("gmail_en_reply.eml", "Thanks, the deposit has arrived now.\n\nBest,\nAlice"),
    ],
)
def test_html_part_of_each_reply_strips_the_same_way(fixture, expected):
    import email
    import email.policy

    from okwallet.mail.html import html_to_text

    message = email.message_from_bytes((FIXTURES / fixture).read_bytes(), policy=email.policy.default)
    html = message.get_body(("html",)).get_content()
    assert strip_quotes_and_signature(html_to_text(html)) == expected
