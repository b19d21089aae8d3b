"""The development SMS channel: records and logs what would have been sent.

Outside production the code is also shown on the login page, so nothing is lost. It is
refused in production by the settings guard; should it ever run there (``redact``), the
parameters (the code) are never logged or kept.
"""

from __future__ import annotations

import logging
from collections import deque

from linli.channels.sms import Sent, SmsMessage

log = logging.getLogger("linli.channels.sms")


class LogChannel:
    name = "log"

    def __init__(self, *, redact: bool = False, keep: int = 100) -> None:
        self.redact = redact
        self.sent: deque[SmsMessage] = deque(maxlen=keep)  # the last messages, newest last

    def send(self, message: SmsMessage) -> Sent:
        if self.redact:
            message = SmsMessage(message.phone, message.template, {k: "***" for k in message.params}, message.ref)
        self.sent.append(message)
        log.info("sms (log channel) to %s: template %s, params %s", message.phone, message.template, message.params)
        return Sent(provider_ref=f"log-{message.ref}")
