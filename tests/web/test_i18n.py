"""The catalogues: every UI text has a Chinese translation; language negotiation."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

import linli
from linli import i18n

SRC = Path(linli.__file__).parent


def _extracted() -> set[str]:
    with open(SRC / "locale" / "babel.cfg") as f:
        method_map, options_map = parse_mapping_cfg(f)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(str(SRC), method_map, options_map, keywords=keywords):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_ui_text_is_in_both_catalogues_and_translated_to_chinese():
    messages = _extracted()
    assert "Merchant console" in messages and "Enter an 11-digit mainland China mobile number." in messages
    zh, en = i18n.translations("zh_CN"), i18n.translations("en")
    untranslated = sorted(m for m in messages if zh.gettext(m) == m)
    assert not untranslated, f"add these to locale/zh_CN (see locale/README.md): {untranslated}"
    assert en.gettext("Merchant console") == "Merchant console"
    assert zh.gettext("Merchant console") == "商家后台"


def test_language_negotiation():
    assert i18n.negotiate(None, None) == "zh_CN"
    assert i18n.negotiate(None, "en-US,en;q=0.9") == "en"
    assert i18n.negotiate(None, "fr-FR, en;q=0.5, zh;q=0.8") == "zh_CN"
    assert i18n.negotiate(None, "fr-FR, de;q=0.5") == "zh_CN"
    assert i18n.negotiate(None, "en;q=0, zh-TW") == "zh_CN"
    assert i18n.negotiate("en", "zh-CN") == "en"
    assert i18n.negotiate("klingon", "en") == "en"
    assert i18n.negotiate("zh-CN", "en") == "zh_CN"
