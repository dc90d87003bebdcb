/* The "paste your error" box (docs/paste.md): runbooks/triage.py in JavaScript, step for step,
   over the data the site's build writes from runbooks.triage.data() (javascripts/triage-data.js,
   a global, so a copy of the site opened from disk works too). tests/test_browser.py runs both
   on every message of the field corpus and the catalogue and requires the same answer.

   Python's `re` and JavaScript's RegExp differ, so every class is written out as Python reads
   it: `\s` is Python's white space (str.isspace: with \x1c-\x1f and \x85, without \ufeff),
   `\d` any script's decimal digit (\p{Nd}), `\w` a letter, number or "_"; `strip()` strips
   that white space. Both read Unicode: for characters newer than the Python that built the
   site (unicodedata.unidata_version), the browser may know more letters, digits and cases.
   Text is shown with textContent only: a paste may hold HTML. */
(function () {
  "use strict";

  var DATA = window.RUNBOOKS_TRIAGE_DATA;
  var CAP = 1 << 20;
  var WS = "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
  var WS_CHARS = new RegExp("^[" + WS + "]$");
  var ESC_U = /(?<!\\)\\+u([0-9a-fA-F]{4})/g;
  var ESC_WS = /(?<!\\)\\+[nrt]/g;
  var ESC_CHAR = /(?<!\\)\\+(["'\/])/g;
  var ENTITIES = [["&quot;", '"'], ["&#34;", '"'], ["&#39;", "'"], ["&#x27;", "'"],
    ["&apos;", "'"], ["&lt;", "<"], ["&gt;", ">"], ["&nbsp;", " "], ["&middot;", "\u00b7"],
    ["&mdash;", "\u2014"], ["&ndash;", "\u2013"], ["&hellip;", "\u2026"], ["&amp;", "&"]];
  // re.IGNORECASE: a literal letter also matches these (Python's case-insensitive matching)
  var FOLDS = { i: "iI\u0130\u0131", s: "sS\u017f" };
  function ci(word) {
    return word.split("").map(function (ch) {
      return "[" + (FOLDS[ch] || ch + ch.toUpperCase()) + "]";
    }).join("");
  }
  var HTML = new RegExp("<(?:!" + ci("doctype") + "[" + WS + "]+" + ci("html") + "|" +
    ci("html") + "[" + WS + ">]|" + ci("head") + ">|" + ci("body") + "[" + WS + ">]|" +
    ci("title") + ">)", "u");
  var BLOCK_OPEN = /<([sS][cC][rR][iI][pP][tT]|[sS][tT][yY][lL][eE])(?![\p{L}\p{N}_])/gu;
  var BLOCK_CLOSE = {
    script: new RegExp("</[sS][cC][rR][iI][pP][tT][" + WS + "]*>", "gu"),
    style: new RegExp("</[sS][tT][yY][lL][eE][" + WS + "]*>", "gu")
  };
  var TAG = /<[a-zA-Z!\/][^<>]{0,2000}>/gu;
  var MARKS = /[\u23bf\u25cf\u273b\u2736\u2733\u2722\u273d\u273a\u23fa\u23af\u2502\u2503\u2506\u254e\u256d\u256e\u2570\u256f\u2500\u2501\u2550\u22ef\u2590\u259b\u259c\u258c\u259d\u2598\u2588]/g;
  var PLAIN = [["\u2014", "-"], ["\u2013", "-"], ["\u2010", "-"], ["\u2011", "-"],
    ["\u2012", "-"], ["\u2212", "-"], ["\u201c", '"'], ["\u201d", '"'], ["\u201e", '"'],
    ["\u2018", "'"], ["\u2019", "'"], ["\u2032", "'"]];
  var SPACE = /[ \t\r\n\f\v\u00a0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff]+/g;
  var TOKEN = /^[a-z0-9_]+$/;
  var HTML_MARK = "<!doctype html>";
  var QUOTED_TIMEOUT = /api_timeout_ms above (\p{Nd}+)/u;
  var S = "[" + WS + "]";
  var VERSION = new RegExp("(?:claude[ -]code(?:[ /@]|" + S + "+version" + S + "*|" + S +
    "+v)|\"version\"" + S + "*:" + S + "*\"|current version:" + S + "*|claude" + S +
    "+v|@anthropic-ai/claude-code@)v?(\\p{Nd}+\\.\\p{Nd}+\\.\\p{Nd}+)", "u");
  var ND = /^\p{Nd}$/u;

  function replaceAll(t, from, to) { return t.split(from).join(to); }

  /* Python's str.strip(): its white space, at both ends (a loop: linear on any text). */
  function strip(t) {
    var a = 0, b = t.length;
    while (a < b && WS_CHARS.test(t[a])) a++;
    while (b > a && WS_CHARS.test(t[b - 1])) b--;
    return t.slice(a, b);
  }

  /* text[:CAP]: Python counts code points. */
  function cap(text) {
    if (text.length <= CAP) return text;
    var i = 0, n = 0;
    while (i < text.length && n < CAP) {
      var c = text.charCodeAt(i);
      var pair = c >= 0xd800 && c <= 0xdbff && i + 1 < text.length &&
        (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
      i += pair ? 2 : 1;
      n++;
    }
    return text.slice(0, i);
  }

  /* runbooks.triage._drop_blocks */
  function dropBlocks(t) {
    var out = [], last = 0, pos = 0, gt = -1, close = {}, m;
    for (;;) {
      BLOCK_OPEN.lastIndex = pos;
      m = BLOCK_OPEN.exec(t);
      if (m === null) break;
      var end = m.index + m[0].length;
      if (gt < end) {
        gt = t.indexOf(">", end);
        if (gt === -1) break;
      }
      var name = m[1].toLowerCase();
      var c = close[name];
      if (!(name in close) || (c !== null && c.index <= gt)) {
        BLOCK_CLOSE[name].lastIndex = gt + 1;
        c = close[name] = BLOCK_CLOSE[name].exec(t);
      }
      if (c === null) {
        pos = m.index + 1;
        continue;
      }
      out.push(t.slice(last, m.index), " ");
      last = pos = c.index + c[0].length;
    }
    out.push(t.slice(last));
    return out.join("");
  }

  function normalise(text) {
    var t = cap(text);
    t = t.replace(ESC_U, function (m, hex) { return String.fromCharCode(parseInt(hex, 16)); });
    t = t.replace(ESC_WS, " ");
    t = t.replace(ESC_CHAR, function (m, ch) { return ch; });
    ENTITIES.forEach(function (e) { t = replaceAll(t, e[0], e[1]); });
    if (HTML.test(t)) t = HTML_MARK + " " + dropBlocks(t).replace(TAG, " ");
    t = t.replace(MARKS, " ");
    PLAIN.forEach(function (p) { t = replaceAll(t, p[0], p[1]); });
    return strip(t.toLowerCase().replace(SPACE, " "));
  }

  function squash(t) { return replaceAll(t, " ", ""); }

  function isWordChar(ch) {
    return (ch >= "a" && ch <= "z") || (ch >= "0" && ch <= "9") || ch === "_";
  }

  /* runbooks.triage.squashed: the text without its spaces, and for each character (and the
     end) whether a space or the start stood before it. */
  function squashed(text) {
    var chars = [], cuts = [], cut = true;
    for (var i = 0; i < text.length; i++) {
      if (text[i] === " ") { cut = true; continue; }
      chars.push(text[i]);
      cuts.push(cut);
      cut = false;
    }
    cuts.push(true);
    return { text: chars.join(""), cuts: cuts };
  }

  /* runbooks.triage._find_word: the part, not inside a word. */
  function findWord(part, text, cuts) {
    var needStart = isWordChar(part[0]), needEnd = isWordChar(part[part.length - 1]);
    var start = text.indexOf(part);
    while (start !== -1) {
      var end = start + part.length;
      if (text[end] === "s" && !(cuts && cuts[end])) end += 1;  // a plural is the word still
      if ((!needStart || start === 0 || !isWordChar(text[start - 1]) || (cuts && cuts[start])) &&
          (!needEnd || end >= text.length || !isWordChar(text[end]) || (cuts && cuts[end]))) {
        return true;
      }
      start = text.indexOf(part, start + 1);
    }
    return false;
  }

  function occurs(part, text, flat) {
    if (findWord(part, text, null)) return true;
    if (TOKEN.test(part)) return false;
    var bare = squash(part);
    return Array.from(bare).length >= DATA.squash_min && findWord(bare, flat.text, flat.cuts);
  }

  /* runbooks.triage._number: digits of any script and length, as a key that orders as their
     value. A decimal digit's value is its place in its run of ten (Unicode keeps them so). */
  function number(digits) {
    var plain = Array.from(digits).map(function (d) {
      if (d >= "0" && d <= "9") return d;
      var cp = d.codePointAt(0), k = 0;
      while (ND.test(String.fromCodePoint(cp - k - 1))) k++;
      return String(k % 10);
    }).join("").replace(/^0+/, "");
    return [plain.length, plain];
  }
  function cmp(a, b) { return a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0); }
  function vkey(v) { return v.split(".").map(number); }
  function vcmp(a, b) {
    for (var i = 0; i < Math.min(a.length, b.length); i++) {
      var c = cmp(a[i], b[i]);
      if (c) return c;
    }
    return a.length - b.length;
  }

  function clientVersion(norm) {
    var m = VERSION.exec(norm);
    return m ? m[1] : null;
  }

  function entry(code) { return { code: code, best: 0, score: 0, matched: [] }; }

  function notes(ranked, version) {
    var out = [];
    ranked.slice(0, 3).forEach(function (item) {
      item.matched.forEach(function (r) {
        if (r.note && out.indexOf(r.note) === -1) out.push(r.note);
      });
    });
    if (version) {
      var lead = ranked.slice(0, 3).map(function (i) { return i.code; });
      DATA.changes.forEach(function (ch) {
        if (vcmp(vkey(ch[0]), vkey(version)) > 0 &&
            ch[2].some(function (c) { return lead.indexOf(c) !== -1; })) {
          var line = "since " + ch[0] + ": " + ch[1];
          if (out.indexOf(line) === -1) out.push(line);
        }
      });
    }
    return out;
  }

  /* runbooks.triage.rank: the rules' order, matched rules and weights as data() gives them. */
  function rank(text) {
    var code = strip(text);
    var norm = normalise(text);
    if (Object.prototype.hasOwnProperty.call(DATA.causes, code)) {
      return { ranked: [entry(code)], version: null, notes: [], normalised: norm };
    }
    var flat = squashed(norm);
    var hit = DATA.rules.filter(function (r) {
      return r.parts.every(function (p) { return occurs(p, norm, flat); });
    });
    var order = {};
    DATA.order.forEach(function (c, i) { order[c] = i; });
    var found = new Map();
    hit.forEach(function (r) {
      Object.keys(r.causes).forEach(function (c) {
        if (!found.has(c)) found.set(c, entry(c));
        found.get(c).matched.push(r);
      });
    });
    found.forEach(function (item) {
      var mine = item.matched;
      item.matched = mine.filter(function (r) {
        return !mine.some(function (o) {
          return o !== r && r.parts[0] !== o.parts[0] && o.parts[0].indexOf(r.parts[0]) !== -1;
        });
      });
      // the best rule among all that occur; the sum without the rules a longer one holds
      item.best = Math.max.apply(null, mine.map(function (r) { return r.causes[item.code]; }));
      item.score = item.matched.map(function (r) { return r.causes[item.code]; })
        .reduce(function (a, b) { return a + b; }, 0);
    });
    var ranked = Array.from(found.values()).sort(function (a, b) {
      return (b.best - a.best) || (b.score - a.score) || (order[a.code] - order[b.code]);
    });
    var m = QUOTED_TIMEOUT.exec(norm);
    if (m) {
      var quoted = number(m[1]);
      var leadCodes = DATA.timeout_order.find(function (o) {
        return o[0] === null || cmp(quoted, number(String(o[0]))) < 0;
      })[1];
      var lead = leadCodes.map(function (c) { return found.get(c) || entry(c); });
      ranked = lead.concat(ranked.filter(function (r) { return leadCodes.indexOf(r.code) === -1; }));
    }
    var version = clientVersion(norm);
    return { ranked: ranked, version: version, notes: notes(ranked, version), normalised: norm };
  }

  /* For tests and the curious: what `runbooks triage` would say. */
  window.runbooksTriage = function (text) {
    var t = rank(String(text));
    return {
      ranked: t.ranked.map(function (r) {
        return { code: r.code, best: r.best, score: r.score,
                 matched: r.matched.map(function (x) { return x.text; }) };
      }),
      version: t.version, notes: t.notes, normalised: t.normalised
    };
  };

  // -- the box ------------------------------------------------------------------------------
  var SHOWN = 3;

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  /* Catalogue text with `code` spans, as elements (never parsed as HTML). */
  function prose(tag, label, text) {
    var e = el(tag);
    if (label) e.appendChild(el("strong", label + " "));
    String(text).split("`").forEach(function (part, i) {
      if (part) e.appendChild(i % 2 ? el("code", part) : document.createTextNode(part));
    });
    return e;
  }

  function siteBase() {
    var config = document.getElementById("__config");
    var base = ".";
    try { base = JSON.parse(config.textContent).base || "."; } catch (e) { /* keep "." */ }
    return base.replace(/\/$/, "") + "/";
  }

  function href(code) {
    var page = DATA.causes[code].page;  // "network/"
    if (location.protocol === "file:") page += "index.html";  // no server to add it
    return siteBase() + page + "#" + code;
  }

  function link(code) {
    var a = el("a", DATA.causes[code].title);
    a.href = href(code);
    return a;
  }

  function show(out, text) {
    out.textContent = "";
    if (!strip(text)) return;
    var t = rank(text);
    if (!t.ranked.length) {
      out.appendChild(prose("p", "No known message in this paste.",
        "Run `runbooks doctor`: it checks the connection Claude Code would make, step by " +
        "step, and names what fails."));
    } else {
      if (t.ranked[0].matched.length &&
          t.ranked.every(function (r) { return r.best < DATA.specific; })) {  // as the CLI
        out.appendChild(prose("p", "Only general words matched:",
          "nothing in this paste names one cause, so these are where to look first. " +
          "`runbooks doctor` checks the connection itself."));
      }
      var list = el("ol", "", "triage-causes");
      t.ranked.slice(0, SHOWN).forEach(function (r) {
        var c = DATA.causes[r.code], li = el("li");
        var head = el("p", "", "triage-cause");
        head.appendChild(link(r.code));
        head.appendChild(document.createTextNode(" "));
        head.appendChild(el("code", r.code, "cause"));
        li.appendChild(head);
        if (c.check) li.appendChild(prose("p", "Tells it apart:", c.check));
        li.appendChild(prose("p", "Fix:", c.fix));
        if (r.matched.length) {
          li.appendChild(prose("p", "Matched:", r.matched.map(function (x) {
            return "`" + x.text.split("`").join("'") + "`";
          }).join(" \u00b7 ")));
        }
        list.appendChild(li);
      });
      out.appendChild(list);
      var more = t.ranked.slice(SHOWN);
      if (more.length) {
        var p = el("p", "", "triage-more");
        p.appendChild(el("strong", "Also fits: "));
        more.forEach(function (r, i) {
          if (i) p.appendChild(document.createTextNode(", "));
          p.appendChild(link(r.code));
          p.appendChild(document.createTextNode(" (" + r.code + ")"));
        });
        out.appendChild(p);
      }
    }
    if (t.version) out.appendChild(prose("p", "Claude Code version in the paste:", t.version));
    if (t.notes.length) {
      var ul = el("ul", "", "triage-notes");
      t.notes.forEach(function (n) { ul.appendChild(prose("li", "", n)); });
      out.appendChild(ul);
    }
  }

  function wire(box) {
    var input = box.querySelector("textarea"), out = box.querySelector(".triage-results");
    if (!input || !out || !DATA) return;
    var timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { show(out, input.value); }, 150);
    });
    if (input.value) show(out, input.value);  // text kept by the browser on coming back
    box.classList.add("triage-ready");
  }

  function start() {
    document.querySelectorAll("[data-triage]").forEach(wire);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
