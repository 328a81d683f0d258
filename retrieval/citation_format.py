"""Short references to articles: "ст. 113 Трудового кодекса РК" / "Еңбек кодексінің 113-бабы".

    format_citation(hit_or_article, "rus") -> ("ст. 113 Трудового кодекса РК", "https://adilet.zan.kz/rus/docs/K1500000414")

Russian act titles are put in the genitive ("Трудовой кодекс Республики Казахстан" ->
"Трудового кодекса РК"; a law "О защите прав потребителей" -> "Закона РК «О защите прав
потребителей»"); Kazakh titles get the genitive ending ("Еңбек кодексі" -> "Еңбек
кодексінің") with the article in the possessive ("113-бабы"). Titles the rules do not
cover are quoted as they are.

    article_link("https://adilet.zan.kz/rus/docs/K1500000414", "88", "rus")
    -> "https://adilet.zan.kz/rus/docs/K1500000414#:~:text=%D0%A1%D1%82...%2088."   ("Статья 88.")

Article-level links are the act URL plus a text fragment (`#:~:text=`) with the article's
heading as the corpus writes it ("Статья 88." / "88-бап."), so a browser that supports text
fragments scrolls to the article. Which deep-link form adilet.zan.kz honours was not checked
live (no internet where this was written); the act URL is kept as the fallback (`url`), and
URLs that already carry a fragment (zan.gov.kz "#!/doc/...") get no text fragment.
"""

from __future__ import annotations

import re
from urllib.parse import quote

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


def version_label(valid_from: str | None, lang: str = "rus") -> str:
    """"(в ред. от 2024-01-01)" / "(2024-01-01 редакциясы)"; "" when the version date is unknown."""
    if not valid_from:
        return ""
    return f"({valid_from} редакциясы)" if normalize_lang(lang) == "kaz" else f"(в ред. от {valid_from})"


def format_citation(hit_or_article, lang: str | None = None, with_version: bool = False) -> tuple[str, str]:
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
    if with_version:
        vf = hit_or_article.get("valid_from") if isinstance(hit_or_article, dict) else getattr(hit_or_article, "valid_from", None)
        label = version_label(vf, lang)
        ref = f"{ref} {label}" if label else ref
    return ref, url


def article_heading(number: str, lang: str, titled: bool = True) -> str:
    """The article's heading as the corpus (and adilet) writes it: "Статья 88." / "88-бап."."""
    head = f"{number}-бап" if lang == "kaz" else f"Статья {number}"
    return head + ("." if titled else "")


def article_link(act_url: str | None, number: str | None, lang: str = "rus", titled: bool = True) -> str | None:
    """The act URL with a text fragment that opens it at the article (see the module doc).
    Dashes are escaped (%2D) because a text fragment reads a bare "-" as its prefix marker."""
    if not act_url:
        return None
    if not number or "#" in act_url:
        return act_url
    lang = normalize_lang(lang) or "rus"
    url = act_url.replace("/kaz/docs/", "/rus/docs/") if lang == "rus" else act_url.replace("/rus/docs/", "/kaz/docs/")
    fragment = quote(article_heading(str(number), lang, titled), safe="").replace("-", "%2D")
    return f"{url}#:~:text={fragment}"
