"""Every page a city admin and a grid worker reach, in both languages: Chinese by default, English on request.

A Chinese page that shows a run of English words has a string nobody translated (or one that was never marked
for translation); an English page that shows Chinese outside the data has the opposite problem.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.test import Client

from govgrid.management.commands.seed_demo import Command as SeedDemo
from grids.models import User
from tests.project.test_fuzz_forms import crawl

# Three or more English words in a row, outside code, inputs and data the user typed.
ENGLISH_RUN = re.compile(r"\b[A-Za-z]{2,}(?:[ ,’'-]+[A-Za-z]{2,}){2,}\b")
# Words that are English on a Chinese page on purpose: the product's name, file formats, standards.
ALLOWED = re.compile(
    r"GovGrid|GeoJSON|Open311|XLSX|CSV|JPEG|PNG|WebP|HEIC|PDF|WeCom|DingTalk|OpenStreetMap|Leaflet|"
    r"E-mail|e-mail|webhook|Webhook|GB/T|HTTP|API|JSON|UTF|SMTP"
)


class VisibleText(HTMLParser):
    """The text a person reads: no scripts, styles, code, form values or select options (data)."""

    SKIP = {"script", "style", "code", "textarea", "option", "datalist", "pre", "kbd", "samp"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.depth = 0
        self.lang = ""

    def handle_starttag(self, tag, attrs):
        if tag == "html":
            self.lang = dict(attrs).get("lang", "")
        if tag in self.SKIP:
            self.depth += 1
        for name, value in attrs:
            if name in ("title", "placeholder", "aria-label") and value and not self.depth:
                self.parts.append(value)

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth:
            self.parts.append(data)


def read(html: str) -> VisibleText:
    text = VisibleText()
    text.feed(html)
    return text


@pytest.fixture
def demo(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    SeedDemo().handle()
    return User.objects.filter(username__in=["admin", "gridworker", "dispatcher", "handler"])


@pytest.mark.parametrize("username", ["admin", "gridworker", "handler"])
def test_every_page_in_chinese_then_in_english(demo, username):
    from django.utils import translation

    user = demo.get(username=username)
    chinese = Client(headers={"accept-language": "zh-hans"})
    chinese.force_login(user)
    english = Client(headers={"accept-language": "en"})
    english.force_login(user)
    untranslated: list[str] = []
    checked: list[str] = []

    def both_languages(url, zh):
        page = read(zh.content.decode())
        assert page.lang == "zh-hans", url
        text = ALLOWED.sub(" ", " ".join(page.parts))
        untranslated.extend(f"{url}: {run}" for run in ENGLISH_RUN.findall(text))
        en = english.get(url)
        assert en.status_code == 200 and read(en.content.decode()).lang == "en", url
        checked.append(url)

    with translation.override("zh-hans"):
        crawl(chinese, on_page=both_languages)
    assert len(checked) > 5
    assert not untranslated, "English left on Chinese pages:\n" + "\n".join(sorted(set(untranslated))[:40])
