"""Bot answers for chat (and later the hotline), measured on the public question set."""

import json
from pathlib import Path

import pytest

from okwallet.kb.search.text import has_cjk
from okwallet.kb.services import bot_answer

pytestmark = pytest.mark.django_db

QUESTIONS = [
    json.loads(line) for line in (Path(__file__).parent / "questions.jsonl").read_text().splitlines() if line
]


def test_bot_answers_most_public_questions_and_is_right_when_it_does():
    answered = correct = 0
    for row in QUESTIONS:
        got = bot_answer(text=row["q"], lang="zh-hans" if has_cjk(row["q"]) else "en")
        if got.confident:
            answered += 1
            correct += got.slug == row["slug"]
    assert answered / len(QUESTIONS) >= 0.8
    assert correct / answered >= 0.93


def test_confident_answer_has_article_summary_link_and_no_placeholders():
    got = bot_answer(text="客服电话是多少", lang="zh-hans")
    assert got.confident and got.slug == "hotline"
    assert got.url == "/help/a/hotline"
    assert "400-820-6655" in got.answer and "{" not in got.answer
    assert 0 < got.confidence <= 1


@pytest.mark.parametrize("text", ["今天天气怎么样", "你好", "谢谢", "asdfgh", "", "   ", "😀", "帮我订机票"])
def test_off_topic_or_empty_messages_hand_over_to_a_person(text):
    got = bot_answer(text=text, lang="zh-hans")
    assert got.confident is False and got.slug is None and got.answer == ""


def test_english_message_gets_the_english_article():
    got = bot_answer(text="I forgot my password", lang="en")
    assert got.confident and got.slug == "forgot-password"
    assert "Forgot" in got.title and "new password" in got.answer


def test_unknown_language_code_falls_back_to_chinese():
    got = bot_answer(text="忘记密码", lang="xx-yy")
    assert got.slug == "forgot-password"
