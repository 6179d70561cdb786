"""What the IVR says, in Mandarin and English.

Prompts are chosen by the call's language (the caller presses 9 for English), not by the
web request's locale, so they live here rather than in the page catalogue. A recording may
replace any prompt: ``OKWALLET_VOICE_RECORDINGS = {"greeting": {"zh": "https://.../greeting.mp3"}}``.
"""

from __future__ import annotations

from okwallet.voice import conf

PROMPTS: dict[str, dict[str, str]] = {
    "greeting": {
        "zh": "您好，欢迎致电OK钱包客服热线。",
        "en": "Hello, and thank you for calling the OK Wallet hotline.",
    },
    "fraud_warning": {
        "zh": "温馨提示：OK钱包工作人员绝不会向您索要短信验证码或密码，请勿向任何人透露。",
        "en": "Please note: OK Wallet staff will never ask you for a verification code or your password. "
        "Never tell them to anyone.",
    },
    "english_hint": {"zh": "For English, press 9.", "en": ""},
    "recognised": {
        "zh": "我们已识别您使用注册手机号来电。",
        "en": "We recognise the registered number you are calling from.",
    },
    "identify_hint": {
        "zh": "我们未能识别您的来电号码，如方便，请按8输入您的用户ID。",
        "en": "We do not recognise your number; to key in your user ID, press 8.",
    },
    "ask_claim_user_id": {
        "zh": "请输入您的用户ID，以井号键结束。",
        "en": "Key in your user ID followed by the hash key.",
    },
    "claim_noted": {
        "zh": "已记录，客服接听时会看到。",
        "en": "Thank you; the agent will see it.",
    },
    "main_menu": {
        "zh": "存款与提现问题请按1；密码与账户安全、立即冻结账户请按2；投诉请按3；注销账户请按4；"
        "人工服务请按0；重听请按星号键。",
        "en": "For deposits and withdrawals, press 1. For passwords and account security, or to freeze your "
        "account now, press 2. For complaints, press 3. To close your account, press 4. To speak to a "
        "person, press 0. To hear these options again, press star.",
    },
    "invalid": {"zh": "对不起，您的输入有误。", "en": "Sorry, that is not one of the options."},
    "no_input": {"zh": "对不起，我们没有收到您的按键。", "en": "Sorry, we did not hear a key press."},
    "deposit_ref": {
        "zh": "如您有交易单号，请输入单号中的数字后按井号键；没有请直接按井号键。随时按0转人工。",
        "en": "If you have the transaction reference, key in its digits followed by the hash key; "
        "otherwise just press hash. Press 0 at any time for a person.",
    },
    "tx_found": {
        "zh": "我们找到了这笔{kind}，金额{amount}元，状态为{status}。接下来为您转接人工客服。",
        "en": "We found this {kind} of {amount} yuan; its status is {status}. We will now put you through "
        "to an agent.",
    },
    "tx_noted": {
        "zh": "已记录您输入的单号，客服接听时会看到。",
        "en": "We have noted the reference; the agent will see it.",
    },
    "security_menu": {
        "zh": "需要立即冻结账户，请按1；其他密码与安全问题，请按2转人工。冻结服务24小时可用。",
        "en": "To freeze your account now, press 1. For other password and security questions, press 2 for a "
        "person. Freezing is available 24 hours a day.",
    },
    "freeze_confirm": {
        "zh": "即将冻结尾号{last4}的手机号注册的账户。冻结后将无法付款、转账和提现。确认冻结请按1，返回请按星号键。",
        "en": "We are about to freeze the account registered to the number ending {last4}. Payments, "
        "transfers and withdrawals will stop. To confirm, press 1. To go back, press star.",
    },
    "ask_user_id": {
        "zh": "为核实身份，请输入您的用户ID，以井号键结束。",
        "en": "To verify you, key in your user ID followed by the hash key.",
    },
    "ask_id_last4": {
        "zh": "请输入您身份证号码的后四位；如末位为X，请按星号键代替。",
        "en": "Key in the last four characters of your ID number; if the last one is X, press star instead.",
    },
    "verify_failed": {
        "zh": "对不起，身份核实未通过。",
        "en": "Sorry, we could not verify your identity.",
    },
    "verify_locked": {
        "zh": "核实失败次数过多，为保护账户安全，请稍后再试或由人工客服协助。",
        "en": "Too many failed attempts. To protect the account, please try again later or speak to an agent.",
    },
    "frozen_done": {
        "zh": "您的账户已冻结，付款、转账和提现均已停止。电话无法解冻账户，解冻请在App内完成身份核验，"
        "或由人工客服核实后办理。我们已将确认短信发送到您的注册手机。",
        "en": "Your account is now frozen: payments, transfers and withdrawals are stopped. An account cannot "
        "be unfrozen by phone; to unfreeze, verify your identity in the app or with an agent. A "
        "confirmation has been sent to your registered number.",
    },
    "frozen_already": {
        "zh": "您的账户目前已处于冻结状态。",
        "en": "Your account is already frozen.",
    },
    "after_freeze_open": {
        "zh": "如需人工协助请按0，结束通话请直接挂机。",
        "en": "For help from a person, press 0; otherwise you may hang up.",
    },
    "closure_info": {
        "zh": "注销账户前，请确认余额已清零、没有处理中的交易。注销后资金和信息无法恢复。接下来为您转接账户专员。",
        "en": "Before closing an account, the balance must be zero with no transaction in progress. Once closed, "
        "funds and information cannot be recovered. We will now put you through to an account specialist.",
    },
    "complaint_info": {
        "zh": "正在为您转接高级客服经理受理投诉。",
        "en": "We are putting you through to a senior manager who handles complaints.",
    },
    "to_person": {
        "zh": "正在为您转接人工客服，请稍候。",
        "en": "Putting you through to a person, please hold.",
    },
    "priority_person": {
        "zh": "为方便您，我们将优先为您转接人工客服。",
        "en": "For your convenience, we are putting you straight through to a person.",
    },
    "position": {
        "zh": "您前面还有{ahead}位客户，预计等待约{minutes}分钟。",
        "en": "There are {ahead} callers ahead of you; the expected wait is about {minutes} minutes.",
    },
    "position_next": {
        "zh": "您是下一位，客服即将接听。",
        "en": "You are next in line; an agent will answer shortly.",
    },
    "position_unknown": {
        "zh": "当前来电较多，暂时无法估计等待时间。",
        "en": "Lines are busy; we cannot estimate the wait right now.",
    },
    "offer_callback": {
        "zh": "如不想继续等待，请按1预约回电，我们会在服务时间内按来电号码回拨给您。",
        "en": "If you would rather not wait, press 1 and we will call you back on this number during service "
        "hours.",
    },
    "hold": {"zh": "感谢您的耐心等待。", "en": "Thank you for holding."},
    "closed": {
        "zh": "您好，人工客服服务时间为工作日9点至18点，将于{reopen}恢复服务。",
        "en": "Our agents answer on working days from 9 am to 6 pm; the line reopens {reopen}.",
    },
    "closed_now": {
        "zh": "您好，人工客服暂时无法接听。",
        "en": "Our agents cannot take calls right now.",
    },
    "closed_menu": {
        "zh": "留言请按1；预约回电请按2；需要立即冻结账户请按3，冻结服务24小时可用；重听请按星号键。",
        "en": "To leave a voicemail, press 1. To request a callback, press 2. To freeze your account now, "
        "press 3; freezing is available 24 hours a day. To hear these options again, press star.",
    },
    "voicemail_prompt": {
        "zh": "请在提示音后留言，说明您的问题和方便联系的时间，留言完毕请按井号键或挂机。",
        "en": "After the tone, tell us your question and when we can reach you. Press hash or hang up when done.",
    },
    "voicemail_thanks": {
        "zh": "留言已收到，工单号为{ticket}，我们会尽快处理并通过短信通知您。再见。",
        "en": "We have your message; the ticket number is {ticket}. We will get back to you by text. Goodbye.",
    },
    "voicemail_thanks_noticket": {
        "zh": "留言已收到，我们会尽快处理并通过短信通知您。再见。",
        "en": "We have your message and will get back to you by text. Goodbye.",
    },
    "voicemail_empty": {
        "zh": "我们没有录到留言内容。",
        "en": "We did not record a message.",
    },
    "callback_done": {
        "zh": "已为您预约回电，我们会在{when}后按来电号码回拨。确认短信已发送。再见。",
        "en": "Your callback is booked; we will call this number back from {when}. A confirmation text is on "
        "its way. Goodbye.",
    },
    "callback_no_number": {
        "zh": "对不起，无法识别您的来电号码，无法预约回电。",
        "en": "Sorry, we cannot see your number, so we cannot book a callback.",
    },
    "callback_intro": {
        "zh": "您好，这里是OK钱包客服中心，按您的预约为您回电，正在为您接通客服，请稍候。",
        "en": "Hello, this is the OK Wallet service centre calling you back as you asked; putting you through "
        "to an agent now, please hold.",
    },
    "callback_agent_missed": {
        "zh": "对不起，客服暂时无法接听，我们会稍后再次为您回电。再见。",
        "en": "Sorry, the agent cannot take the call right now; we will call you back again shortly. Goodbye.",
    },
    "callback_over": {
        "zh": "本次回电已结束，如需帮助请致电客服热线。再见。",
        "en": "This callback has ended; please call the hotline if you still need help. Goodbye.",
    },
    "too_many": {
        "zh": "我们将为您转接人工客服。",
        "en": "Let us put you through to a person.",
    },
    "closed_no_person": {
        "zh": "现在不在人工服务时间。",
        "en": "Agents are not available at this time.",
    },
    "goodbye": {"zh": "感谢您的来电，再见。", "en": "Thank you for calling. Goodbye."},
    "sorry_restart": {
        "zh": "对不起，通话状态已失效，我们将重新为您播放菜单。",
        "en": "Sorry, we lost track of your call; let us start again.",
    },
    "call_over": {"zh": "本次通话已结束。", "en": "This call has ended."},
    "one_moment": {"zh": "请稍候。", "en": "One moment, please."},
}

TX_KIND = {
    "deposit": {"zh": "充值", "en": "deposit"},
    "withdrawal": {"zh": "提现", "en": "withdrawal"},
    "transfer_out": {"zh": "转出", "en": "outgoing transfer"},
    "transfer_in": {"zh": "转入", "en": "incoming transfer"},
}
TX_STATUS = {
    "pending": {"zh": "处理中", "en": "in progress"},
    "succeeded": {"zh": "已成功", "en": "successful"},
    "failed": {"zh": "失败", "en": "failed"},
    "reversed": {"zh": "已退回", "en": "reversed"},
}

VOICES = {"zh": "zh-CN", "en": "en-US"}


def text(key: str, lang: str, **values) -> str:
    entry = PROMPTS[key]
    template = entry.get(lang) or entry["zh"]
    return template.format(**values) if values else template


def recording(key: str, lang: str) -> str:
    """The configured recording URL for this prompt, or ''. Prompts with values are always spoken."""
    recordings = conf.get("OKWALLET_VOICE_RECORDINGS") or {}
    return (recordings.get(key) or {}).get(lang, "")
