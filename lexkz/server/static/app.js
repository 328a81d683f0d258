// lexkz page: ask (streamed over Server-Sent Events), read cited articles in place, search.
// Plain JS, no build step. Unknown citation statuses are shown as they come, with a neutral badge.
"use strict";

const I18N = {
  rus: {
    tagline: "Вопросы о праве Республики Казахстан: ответ со ссылками на статьи, каждая проверена по тексту закона.",
    plumbing: "Генератор — крошечная случайная модель: это проверка конвейера, а не юридический ответ.",
    token: "Токен API", tab_ask: "Вопрос", tab_search: "Поиск статей",
    question_label: "Ваш вопрос (на русском или казахском)", ask: "Спросить", hint: "Ctrl+Enter — отправить",
    as_of: "Право на дату", version: d => `(в ред. от ${d})`,
    answer: "Ответ", warnings: "Предупреждения", sources: "Источники", no_sources: "(ссылок на статьи нет)",
    search_label: "Слова для поиска", search: "Искать", article: n => `ст. ${n}`, open: "текст статьи",
    close: "скрыть", adilet: "adilet.zan.kz", meta: (v, n, g) => `Индекс: версия ${v}, статей ${n} · генератор: ${g}`,
    working: "Ищу статьи и составляю ответ…", no_hits: "Ничего не найдено.", loading: "Загрузка…",
    nodes: { retrieve: "поиск", generate: "генерация", verify_citations: "проверка ссылок", respond: "ответ" },
    found: n => `${n} статей`, need_token: "Нужен токен API: введите его выше и повторите.",
    other_lang: "на казахском", point: "цитируемая часть выделена",
    status: { supported: "в найденном контексте", in_corpus_not_retrieved: "есть в корпусе, не найдена поиском",
              invented: "не подтверждена", unresolved: "не проверена", wrong_act: "другой акт",
              no_such_point: "нет такого пункта", not_supported: "текст не подтверждает",
              in_force: "действует", repealed: "утратил силу" },
  },
  kaz: {
    tagline: "Қазақстан Республикасының құқығы туралы сұрақтар: жауап баптарға сілтемемен, әрқайсысы заң мәтінімен тексерілген.",
    plumbing: "Генератор — кішкентай кездейсоқ модель: бұл конвейерді тексеру, заңдық жауап емес.",
    token: "API токені", tab_ask: "Сұрақ", tab_search: "Баптарды іздеу",
    question_label: "Сұрағыңыз (орыс немесе қазақ тілінде)", ask: "Сұрау", hint: "Ctrl+Enter — жіберу",
    as_of: "Күнге құқық", version: d => `(${d} редакциясы)`,
    answer: "Жауап", warnings: "Ескертулер", sources: "Дереккөздер", no_sources: "(баптарға сілтеме жоқ)",
    search_label: "Іздеу сөздері", search: "Іздеу", article: n => `${n}-бап`, open: "бап мәтіні",
    close: "жасыру", adilet: "adilet.zan.kz", meta: (v, n, g) => `Индекс: нұсқа ${v}, баптар ${n} · генератор: ${g}`,
    working: "Баптарды іздеп, жауап құрастырудамын…", no_hits: "Ештеңе табылмады.", loading: "Жүктелуде…",
    nodes: { retrieve: "іздеу", generate: "генерация", verify_citations: "сілтемелерді тексеру", respond: "жауап" },
    found: n => `${n} бап`, need_token: "API токені қажет: оны жоғарыда енгізіп, қайталаңыз.",
    other_lang: "орыс тілінде", point: "келтірілген бөлігі белгіленген",
    status: { supported: "табылған контексте", in_corpus_not_retrieved: "корпуста бар, іздеу таппады",
              invented: "расталмады", unresolved: "тексерілмеді", wrong_act: "басқа акт",
              no_such_point: "мұндай тармақ жоқ", not_supported: "мәтін растамайды",
              in_force: "қолданыста", repealed: "күшін жойған" },
  },
};
const STATUS_CLASS = { supported: "ok", in_force: "ok", in_corpus_not_retrieved: "warn", not_supported: "warn",
                       repealed: "warn", invented: "bad", wrong_act: "bad", no_such_point: "bad" };

let uiLang = "rus";
let serverInfo = null;
const $ = id => document.getElementById(id);
const t = key => I18N[uiLang][key];

function detectLang(text) { return /[әғқңөұүһі]/i.test(text || "") ? "kaz" : "rus"; }

function setUiLang(lang) {
  uiLang = I18N[lang] ? lang : "rus";
  document.documentElement.lang = uiLang === "kaz" ? "kk" : "ru";
  for (const el of document.querySelectorAll("[data-i18n]")) {
    const v = t(el.dataset.i18n);
    if (typeof v === "string") el.textContent = v;
  }
  showMeta();
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function badge(status) {
  const label = (t("status") || {})[status] || status || "?";
  return el("span", { class: `badge ${STATUS_CLASS[status] || "neutral"}`, "data-status": status || "" }, label);
}

// ------------------------------------------------------------------ API
function headers() {
  const token = sessionStorage.getItem("lexkz-token") || $("token").value.trim();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function api(path, opts = {}) {
  const resp = await fetch(path, { ...opts, headers: { ...headers(), ...(opts.headers || {}) } });
  if (resp.status === 401) { $("token-box").hidden = false; throw new Error(t("need_token")); }
  if (!resp.ok) {
    let msg = `HTTP ${resp.status}`;
    try { const body = await resp.json(); msg = body.error || msg; } catch (_) { /* not JSON */ }
    throw new Error(msg);
  }
  return resp;
}

function showMeta() {
  if (!serverInfo) return;
  const g = serverInfo.generator || {};
  const name = [g.backend, g.model, g.adapter ? `+ ${g.adapter}` : null].filter(Boolean).join(" ");
  const n = serverInfo.counts ? serverInfo.counts.articles : "?";
  $("meta").textContent = t("meta")(serverInfo.version, n, name);
  $("plumbing").hidden = !g.tiny_random;
}

async function loadInfo() {
  try { serverInfo = await (await api("/api/index")).json(); showMeta(); }
  catch (e) { $("meta").textContent = e.message; }
}

// ------------------------------------------------------------------ ask
function showError(box, message) { box.textContent = message; box.hidden = !message; }

async function ask(event) {
  event.preventDefault();
  const question = $("question").value;
  setUiLang(detectLang(question));
  showError($("ask-error"), "");
  $("progress").replaceChildren(el("li", {}, t("working")));
  $("answer").textContent = "";
  $("sources").replaceChildren(); $("warnings").replaceChildren();
  $("warnings-box").hidden = true; $("no-sources").hidden = true; $("result").hidden = true;
  $("ask-button").disabled = true;
  try {
    const params = { question };
    if ($("as-of").value) params.as_of = $("as-of").value;  // the law in force that day
    const resp = await api(`/api/ask/stream?${new URLSearchParams(params)}`, { headers: { Accept: "text/event-stream" } });
    await readEvents(resp, onEvent);
  } catch (e) {
    $("progress").replaceChildren();
    showError($("ask-error"), e.message);
  } finally {
    $("ask-button").disabled = false;
  }
}

async function readEvents(resp, handle) {
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
      let name = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      if (data) handle(name, JSON.parse(data));
    }
  }
}

function onEvent(name, data) {
  if (name === "node") {
    if (data.node === "retrieve") $("progress").replaceChildren();
    const secs = (data.update.timings || {})[data.node];
    const extra = data.node === "retrieve" ? ` · ${t("found")((data.update.retrieved || []).length)}` : "";
    const took = typeof secs === "number" ? ` · ${(secs * 1000).toFixed(0)} ms` : "";
    $("progress").append(el("li", {}, `✓ ${t("nodes")[data.node] || data.node}${extra}${took}`));
  } else if (name === "token") {
    $("result").hidden = false;
    $("answer").textContent += data.text;
  } else if (name === "final") {
    showFinal(data);
  } else if (name === "error") {
    showError($("ask-error"), data.error);
  }
}

function showFinal(final) {
  setUiLang(final.lang || uiLang);
  $("result").hidden = false;
  $("answer").textContent = (final.answer || "").trim();
  const warnings = final.warnings || [];
  $("warnings").replaceChildren(...warnings.map(w => el("li", {}, w)));
  $("warnings-box").hidden = warnings.length === 0;
  const sources = final.sources || [];
  $("sources").replaceChildren(...sources.map(s => sourceItem(s)));
  $("no-sources").hidden = sources.length > 0;
}

function sourceItem(s) {
  const point = s.point ? `${s.point} ` : "";
  const label = `${s.act_title || s.act_code}, ${point}${t("article")(s.number)}${s.title ? ". " + s.title : ""}` +
    (s.valid_from ? " " + t("version")(s.valid_from) : "");
  return articleItem(s.article_id, label, s.status, s.url, s.point, null, s.n);
}

function articleItem(articleId, label, status, url, point, snippet, n) {
  const viewId = `view-${Math.random().toString(36).slice(2)}`;
  const li = el("li", n ? { value: n, class: "source" } : { class: "hit" });
  const opener = el("button", { class: "cite-open", type: "button", "aria-expanded": "false", "aria-controls": viewId,
                                "data-article": articleId || "" }, label);
  opener.addEventListener("click", () => toggleArticle(opener, viewId, articleId, point, status));
  li.append(opener, badge(status));
  if (url) li.append(" ", el("a", { href: url, target: "_blank", rel: "noopener" }, t("adilet")));
  if (snippet) li.append(el("p", { class: "snippet" }, snippet));
  li.append(el("div", { id: viewId, class: "article-view", hidden: "" }));
  return li;
}

function pointNumber(point) { const m = /\d+/.exec(point || ""); return m ? m[0] : null; }

async function toggleArticle(opener, viewId, articleId, point, status) {
  const view = $(viewId);
  if (!view.hidden) { view.hidden = true; opener.setAttribute("aria-expanded", "false"); return; }
  view.hidden = false; opener.setAttribute("aria-expanded", "true");
  if (view.dataset.loaded) return;
  view.replaceChildren(t("loading"));
  try {
    const art = await (await api(`/api/articles/${articleId.split("/").map(encodeURIComponent).join("/")}`)).json();
    renderArticle(view, art, point, status);
    view.dataset.loaded = "1";
  } catch (e) {
    view.replaceChildren(el("p", { class: "error", role: "alert" }, e.message));
  }
}

function renderArticle(view, art, point, status) {
  const num = pointNumber(point);
  const starts = num ? new RegExp(`^\\s*(?:${num}[.)]|${num}-тармақ)`) : null;
  let marked = null;
  const text = el("div", { class: "text", lang: art.lang === "kaz" ? "kk" : "ru" });
  for (const para of (art.text || "").split(/\n+/)) {
    if (!para.trim()) continue;
    const p = el("p");
    if (starts && !marked && starts.test(para)) { marked = el("mark", {}, para); p.append(marked); }
    else p.textContent = para;
    text.append(p);
  }
  const head = el("h4", {}, `${art.act_title}, ${t("article")(art.number)}. ${art.title || ""}`);
  head.append(badge(status || art.status));
  const links = el("p", { class: "hint" });
  if (art.url) links.append(el("a", { href: art.url, target: "_blank", rel: "noopener" }, t("adilet")));
  for (const [lang, id] of Object.entries((art.links || {}).other_languages || {})) {
    links.append(" · ", el("span", {}, `${lang}: ${id}`));
  }
  if (marked) links.append(" · ", t("point"));
  view.replaceChildren(head, links, text);
}

// ------------------------------------------------------------------ search
async function search(event) {
  event.preventDefault();
  const q = $("search-q").value;
  setUiLang(detectLang(q));
  showError($("search-error"), "");
  $("hits").replaceChildren();
  try {
    const params = { q };
    if ($("search-as-of").value) params.as_of = $("search-as-of").value;
    const body = await (await api(`/api/search?${new URLSearchParams(params)}`)).json();
    if (!body.hits.length) { $("hits").append(el("li", {}, t("no_hits") + (body.note ? " " + body.note : ""))); return; }
    $("hits").replaceChildren(...body.hits.map(h => articleItem(
      h.article_id, `${h.act_title}, ${t("article")(h.number)}${h.title ? ". " + h.title : ""}` +
        (params.as_of && h.valid_from ? " " + t("version")(h.valid_from) : ""),
      h.status, h.url, null, h.snippet)));
  } catch (e) {
    showError($("search-error"), e.message);
  }
}

// ------------------------------------------------------------------ tabs and keys
function selectTab(tab) {
  for (const other of document.querySelectorAll('[role="tab"]')) {
    const on = other === tab;
    other.setAttribute("aria-selected", String(on));
    other.tabIndex = on ? 0 : -1;
    $(other.getAttribute("aria-controls")).hidden = !on;
  }
  tab.focus();
}

document.addEventListener("DOMContentLoaded", () => {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  for (const tab of tabs) {
    tab.addEventListener("click", () => selectTab(tab));
    tab.addEventListener("keydown", e => {
      const i = tabs.indexOf(tab);
      if (e.key === "ArrowRight") selectTab(tabs[(i + 1) % tabs.length]);
      if (e.key === "ArrowLeft") selectTab(tabs[(i - 1 + tabs.length) % tabs.length]);
    });
  }
  $("ask-form").addEventListener("submit", ask);
  $("search-form").addEventListener("submit", search);
  $("question").addEventListener("keydown", e => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("ask-form").requestSubmit();
  });
  $("question").addEventListener("input", e => setUiLang(detectLang(e.target.value)));
  $("token").addEventListener("change", e => sessionStorage.setItem("lexkz-token", e.target.value.trim()));
  loadInfo();
});
