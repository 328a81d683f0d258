"""All prompts of the ask workflow, each with an id that is recorded in outputs.

Light on purpose (no torch, no index): finetune builds its RAG-mode training examples
with the same `build_messages`, so a model is trained on exactly what it is asked at
inference.

    from graph.prompts import build_messages, prompt_id
    messages = build_messages("Сколько дней отпуска?", hits, "rus", "rag")
    prompt_id("rus", "rag")   # "rag_rus_v1"

Context blocks are numbered [1]..[k] and show act, article number and title; the model
is told to answer only from the context and to cite "ст. N <акт>" or [n].
`parse_context_blocks` reads the blocks back (the extractive generator uses it).
"""

from __future__ import annotations

import re
from typing import Any

PROMPT_VERSION = "v1"

SYSTEM_PROMPTS = {
    ("rag", "rus"): (
        "Вы — юридический помощник по законодательству Республики Казахстан. "
        "Отвечайте только на основе статей из раздела «Контекст». "
        "Каждое утверждение подтверждайте ссылкой на статью в виде «ст. N <название акта>» "
        "(например, «ст. 88 Трудового кодекса РК») или номером блока контекста [n]. "
        "Не ссылайтесь на статьи, которых нет в контексте. "
        "Если в контексте нет ответа, прямо скажите, что ответа в найденных статьях нет. "
        "Отвечайте по-русски, кратко и точно."
    ),
    ("rag", "kaz"): (
        "Сіз Қазақстан Республикасының заңнамасы бойынша заң көмекшісісіз. "
        "Тек «Контекст» бөліміндегі баптарға сүйеніп жауап беріңіз. "
        "Әр тұжырымды «<акт атауы> N-бабы» түрінде (мысалы, «Еңбек кодексінің 88-бабы») "
        "немесе контекст блогының нөмірімен [n] дәлелдеңіз. "
        "Контексте жоқ баптарға сілтеме жасамаңыз. "
        "Егер контексте жауап болмаса, табылған баптарда жауап жоқ екенін тура айтыңыз. "
        "Қазақ тілінде қысқа әрі нақты жауап беріңіз."
    ),
    ("closed_book", "rus"): (
        "Вы — юридический помощник по законодательству Республики Казахстан. "
        "Ответьте на вопрос и укажите статьи, на которых основан ответ, в виде "
        "«ст. N <название акта>» (например, «ст. 88 Трудового кодекса РК»). "
        "Если вы не уверены в номере статьи, не указывайте его. "
        "Отвечайте по-русски, кратко и точно."
    ),
    ("closed_book", "kaz"): (
        "Сіз Қазақстан Республикасының заңнамасы бойынша заң көмекшісісіз. "
        "Сұраққа жауап беріп, жауап негізделген баптарды «<акт атауы> N-бабы» түрінде "
        "(мысалы, «Еңбек кодексінің 88-бабы») көрсетіңіз. "
        "Бап нөміріне сенімді болмасаңыз, оны көрсетпеңіз. "
        "Қазақ тілінде қысқа әрі нақты жауап беріңіз."
    ),
}

# Labels of the user message; the extractive generator parses them back.
LABELS = {
    "rus": {"context": "Контекст:", "question": "Вопрос:", "article": "ст. {number}"},
    "kaz": {"context": "Контекст:", "question": "Сұрақ:", "article": "{number}-бап"},
}

MODES = ("rag", "closed_book")


def prompt_id(lang: str, mode: str) -> str:
    """The id recorded in outputs, e.g. "rag_rus_v1"."""
    _check(lang, mode)
    return f"{mode}_{lang}_{PROMPT_VERSION}"


def system_prompt(lang: str, mode: str) -> str:
    _check(lang, mode)
    return SYSTEM_PROMPTS[(mode, lang)]


def _check(lang: str, mode: str) -> None:
    if lang not in ("rus", "kaz"):
        raise ValueError(f"lang must be 'rus' or 'kaz', got {lang!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def _get(obj: Any, name: str, default: Any = "") -> Any:
    """Read a field of a Hit, an Article or a plain dict alike."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def block_header(n: int, hit: Any, lang: str) -> str:
    """"[n] <act title>, ст. N. <title>" (Kazakh: "[n] <act title>, N-бап. <title>")."""
    article = LABELS[lang]["article"].format(number=_get(hit, "number"))
    header = f"[{n}] {_get(hit, 'act_title')}, {article}"
    title = (_get(hit, "title") or "").strip()
    return f"{header}. {title}" if title else header


def context_block(n: int, hit: Any, lang: str, max_chars: int = 4000) -> str:
    text = (_get(hit, "text") or _get(hit, "snippet") or "").strip()
    if len(text) > max_chars:
        text = text[:max_chars].rstrip() + " …"
    return f"{block_header(n, hit, lang)}\n{text}"


def format_context(hits: list[Any], lang: str, max_chars: int = 4000) -> str:
    """The numbered context blocks [1]..[k], separated by blank lines."""
    return "\n\n".join(context_block(i, h, lang, max_chars) for i, h in enumerate(hits, 1))


RETRY = {
    "rus": ("Проверка ссылок предыдущего ответа нашла ошибки: {items}. Ответьте заново: ссылайтесь только на "
            "статьи из контекста, с правильным актом и пунктом, и только там, где статья подтверждает утверждение."),
    "kaz": ("Алдыңғы жауаптың сілтемелерін тексеру қателер тапты: {items}. Қайта жауап беріңіз: тек контекстегі "
            "баптарға, дұрыс акт пен тармақпен, бап тұжырымды растайтын жерде ғана сілтеме жасаңыз."),
}


def retry_note(lang: str, findings: list[dict]) -> str:
    """What the verifier found in the first answer, for the one regeneration (added to the system prompt)."""
    items = "; ".join(f"«{f.get('raw') or ''}» — {f.get('status')}" + (f" ({f['warning']})" if f.get('warning') else '') for f in findings)
    return RETRY[lang].format(items=items)


def build_messages(question: str, hits: list[Any] | None, lang: str, mode: str, max_chars: int = 4000,
                   feedback: str = "") -> list[dict]:
    """Chat messages for one question: system prompt (+ `feedback` on a retry) + user turn
    (context blocks, then the question).

    `hits` may be Hit objects, Articles or dicts with act_title, number, title, text.
    In closed_book mode the hits are ignored.
    """
    labels = LABELS[lang]
    if mode == "rag":
        user = f"{labels['context']}\n\n{format_context(hits or [], lang, max_chars)}\n\n{labels['question']} {question.strip()}"
    else:
        user = f"{labels['question']} {question.strip()}"
    system = system_prompt(lang, mode) + (f"\n\n{feedback}" if feedback else "")
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


_BLOCK_HEAD = re.compile(r"^\[(\d+)\] (.+)$", re.M)


def parse_context_blocks(messages: list[dict]) -> tuple[str, list[dict]]:
    """Read (question, blocks) back from messages made by `build_messages`.

    Each block is {"n", "header", "text"}; header is the line after "[n] ".
    """
    user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    question = user
    for labels in LABELS.values():
        marker = "\n\n" + labels["question"] + " "
        if marker in user:
            body, question = user.rsplit(marker, 1)
            break
        if user.startswith(labels["question"] + " "):
            return user[len(labels["question"]) + 1:].strip(), []
    else:
        return question.strip(), []
    heads = list(_BLOCK_HEAD.finditer(body))
    blocks = []
    for i, m in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(body)
        blocks.append({"n": int(m.group(1)), "header": m.group(2).strip(), "text": body[m.end():end].strip()})
    return question.strip(), blocks
