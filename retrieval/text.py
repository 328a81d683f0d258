"""Text analysis shared by BM25 and the hashing embedder: normalise, tokenise, stem.

Russian: case folding, ё -> е, Snowball stemming (snowballstemmer "russian").
Kazakh: case folding, Latin look-alikes inside Cyrillic words -> Cyrillic (i/ə/c/... ->
і/ә/с/...; the corpus mixes them), and a light, conservative suffix stripping of plural,
possessive and case endings (the same rules run on documents and queries, so they only
need to be consistent, not linguistically perfect).

Hyphens: "113-бап" gives "113" and "бап"; a number like "88-1" also stays whole ("88-1").

    >>> analyze("Трудового кодекса", "rus")
    ['трудов', 'кодекс']
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import snowballstemmer

# Latin letters that look like Cyrillic ones; applied only inside words that already hold
# Cyrillic letters (so Latin codes such as "K1500000414" or English words stay as they are).
_LOOKALIKE = str.maketrans({
    "a": "а", "c": "с", "e": "е", "o": "о", "p": "р", "x": "х", "y": "у",
    "i": "і", "k": "к", "h": "һ", "m": "м", "t": "т", "b": "в",
})
_ALWAYS = (("ё", "е"), ("ə", "ә"), ("\u00ad", ""), ("\u2011", "-"), ("\u2010", "-"))
_CYR = re.compile(r"[а-яәіңғүұқөһ]")
_KAZ_ONLY = re.compile(r"[әіңғүұқөһ]")
_TOKEN = re.compile(r"\w+(?:-\w+)*")
_LATIN = re.compile(r"[a-z]")
_LATIN_WORD = re.compile(r"\b\w*[a-z]\w*")
_NUMBERISH = re.compile(r"^\d+(?:-\d+)*$")

_RU_STEMMER = snowballstemmer.stemmer("russian")

# Kazakh endings, longest first. Stripped repeatedly (case, then possessive, then plural),
# never leaving fewer than 3 letters (4 for one-letter endings). Endings that only follow a
# vowel (possessive -сы/-сі, -ны/-ні) are stripped only after a vowel; accusative -ды/-ті
# is left alone because it collides with stems ending in д/т + possessive -ы/-і.
_KAZ_SUFFIXES = sorted({
    "лар", "лер", "дар", "дер", "тар", "тер",  # plural
    "ның", "нің", "дың", "дің", "тың", "тің",  # genitive
    "ға", "ге", "қа", "ке", "на", "не",  # dative
    "да", "де", "та", "те",  # locative
    "нан", "нен", "дан", "ден", "тан", "тен",  # ablative
    "мен", "бен", "пен", "менен",  # instrumental
    "ымыз", "іміз", "ыңыз", "іңіз", "ым", "ім", "ың", "ің",  # possessive
    "сы", "сі", "ны", "ні",  # after a vowel only
    "ы", "і", "а", "е", "н",
}, key=len, reverse=True)
_AFTER_VOWEL = {"сы", "сі", "ны", "ні"}
_VOWELS = set("аәеиоөуұүыіэюя")


def detect_lang(text: str) -> str:
    """"kaz" when the text holds Kazakh-only letters (ә і ң ғ ү ұ қ ө һ), else "rus"."""
    return "kaz" if _KAZ_ONLY.search(text.lower()) else "rus"


def normalize(text: str) -> str:
    """Case folding, ё -> е, ə -> ә, soft hyphens dropped, Latin look-alikes in Cyrillic words fixed."""
    text = text.lower()
    for old, new in _ALWAYS:  # str.replace is much faster than translate() with a dict
        if old in text:
            text = text.replace(old, new)
    if not _LATIN.search(text):
        return text
    return _LATIN_WORD.sub(_fix_word, text)


def _fix_word(m: re.Match) -> str:
    word = m.group(0)
    if _CYR.search(word) and not word.isascii():
        return word.translate(_LOOKALIKE)
    return word


def fold_for_comparison(text: str | None) -> str:
    """`normalize` (case, ё, look-alikes), NFC, then every character that is not a letter, digit
    or space -> space, spaces collapsed: the one key for comparing texts (eval metrics, SFT
    de-duplication)."""
    if not text:
        return ""
    text = normalize(unicodedata.normalize("NFC", text))
    return " ".join("".join(ch if ch.isalnum() or ch.isspace() else " " for ch in text).split())


def tokenize(text: str) -> list[str]:
    """Normalised tokens; hyphenated words give their parts (numbers like 88-1 also stay whole)."""
    out: list[str] = []
    for tok in _TOKEN.findall(normalize(text)):
        if "-" in tok:
            if _NUMBERISH.match(tok):
                out.append(tok)
            out.extend(p for p in tok.split("-") if p)
        else:
            out.append(tok)
    return [t.replace("_", "") for t in out if t.strip("_")]


@lru_cache(maxsize=200_000)
def stem_rus(token: str) -> str:
    return _RU_STEMMER.stemWord(token)


@lru_cache(maxsize=200_000)
def stem_kaz(token: str) -> str:
    if not _CYR.search(token):
        return token
    word = token
    for _ in range(4):
        for suf in _KAZ_SUFFIXES:
            keep = 4 if len(suf) == 1 else 3
            rest = len(word) - len(suf)
            if word.endswith(suf) and rest >= keep and (suf not in _AFTER_VOWEL or word[rest - 1] in _VOWELS):
                word = word[: -len(suf)]
                break
        else:
            break
    return word


def analyze(text: str, lang: str | None = None) -> list[str]:
    """Tokens stemmed for `lang` ("rus"/"kaz"; None: guessed from the letters)."""
    lang = lang or detect_lang(text)
    stem = stem_kaz if lang == "kaz" else stem_rus
    return [stem(t) if not t.isdigit() else t for t in tokenize(text)]
