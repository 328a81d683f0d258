"""Short references to articles: "ст. 113 Трудового кодекса РК" / "Еңбек кодексінің 113-бабы".

    format_citation(hit_or_article, "rus") -> ("ст. 113 Трудового кодекса РК", "https://adilet.zan.kz/rus/docs/K1500000414")

Russian act titles are put in the genitive ("Трудовой кодекс Республики Казахстан" ->
"Трудового кодекса РК"; a law "О защите прав потребителей" -> "Закона РК «О защите прав
потребителей»"); Kazakh titles get the genitive ending ("Еңбек кодексі" -> "Еңбек
кодексінің") with the article in the possessive ("113-бабы"). Titles the rules do not
cover are quoted as they are.
"""

from __future__ import annotations

import re

from lexkz.common import normalize_lang
from retrieval.text import detect_lang

_RK_RU = re.compile(r"\s*Республики Казахстан", re.I)
_RK_KZ = re.compile(r"^\s*Қазақстан Республикасының\s+", re.I)
_DATE_TAIL = re.compile(r"\s*\(\d{4}(-\d\d-\d\d)?\)\s*$")

# nominative -> genitive of the first words of Russian code titles
_RU_GENITIVE = [
    ("Трудовой кодекс", "Трудового кодекса"),
    ("Уголовный кодекс", "Уголовного кодекса"),
    ("Гражданский кодекс", "Гражданского кодекса"),
    ("Налоговый кодекс", "Налогового кодекса"),
    ("Предпринимательский кодекс", "Предпринимательского кодекса"),
    ("Земельный кодекс", "Земельного кодекса"),
    ("Уголовно-процессуальный кодекс", "Уголовно-процессуального кодекса"),
    ("Гражданский процессуальный кодекс", "Гражданского процессуального кодекса"),
    ("Кодекс", "Кодекса"),
    ("Конституция", "Конституции"),
    ("Закон", "Закона"),
]


def _fields(obj) -> dict:
    if isinstance(obj, dict):
        return obj
    return {k: getattr(obj, k, None) for k in ("act_code", "act_title", "number", "lang", "url")}


def _ru_act(title: str) -> str:
    title = _DATE_TAIL.sub("", title or "").strip()
    if not title:
        return "акта РК"
    if title.startswith("О ") or title.startswith("Об "):  # a law named by its subject
        return f"Закона РК «{title}»"
    core = _RK_RU.sub(" РК", title).strip()
    for nom, gen in _RU_GENITIVE:
        if core.startswith(nom):
            return gen + core[len(nom):]
    return f"«{core}»"


def _kaz_genitive(word: str) -> str:
    """Genitive ending after the possessive -(с)ы/-(с)і: "кодексі" -> "кодексінің"."""
    if word[-1:] in "ыі":
        return word + "нің" if word[-1] == "і" else word + "ның"
    back = any(c in "аоұы" for c in word.lower())
    if word[-1:] in "аәеоөұүуиэюя":
        return word + ("ның" if back else "нің")
    return word + ("тың" if back else "тің") if word[-1:] in "кқпстфхцчшщ" else word + ("дың" if back else "дің")


def _kaz_act(title: str) -> str:
    title = _DATE_TAIL.sub("", title or "").strip()
    if not title:
        return "ҚР актісінің"
    if detect_lang(title) != "kaz":  # a Russian title (act without a Kazakh text): quote it
        return f"«{_RK_RU.sub(' РК', title).strip()}»"
    core = _RK_KZ.sub("ҚР ", title).strip()
    head, _, last = core.rpartition(" ")
    return f"{head} {_kaz_genitive(last)}".strip()


def _kaz_article(number: str) -> str:
    """"113" -> "113-бабы" (бап + possessive)."""
    return f"{number}-бабы"


def format_citation(hit_or_article, lang: str | None = None) -> tuple[str, str]:
    """(short reference, URL) for a Hit, an Article or a dict with act_title/number/lang/url.

    `lang` chooses the reference language (default: the hit's own). The URL is the hit's
    official page; for a Kazakh reference to a Russian hit the /rus/ is switched to /kaz/.
    """
    f = _fields(hit_or_article)
    lang = normalize_lang(lang) or f.get("lang") or "rus"
    number = str(f.get("number") or "").strip()
    title = f.get("act_title") or ""
    url = f.get("url") or ""
    if lang == "kaz":
        ref = f"{_kaz_act(title)} {_kaz_article(number)}" if number else _kaz_act(title)
        url = url.replace("/rus/docs/", "/kaz/docs/")
    else:
        ref = f"ст. {number} {_ru_act(title)}" if number else _ru_act(title)
        url = url.replace("/kaz/docs/", "/rus/docs/")
    return ref, url
