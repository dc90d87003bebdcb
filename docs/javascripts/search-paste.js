/* A pasted error message, made a query Material's search can answer.
 *
 * Material's search worker reads a query with lunr's query syntax: every word between double
 * quotes is required (a JSON body's request id or timestamp, which no page has, then empties
 * the result), and a chunk such as `2026-08-11T00:48` or `…/latest:` is read as a field lunr
 * does not know (no result at all). This script changes only the query a paste sends to the
 * worker: the page's search box, Material's index and its ranking are untouched. A query that
 * does not look like a paste (short, no quotes, braces, angle brackets, line breaks or tree
 * markers: what a reader types) is sent as it is, operators and all.
 *
 * A paste becomes its words: escapes decoded, HTML tags dropped (an HTML page by its title),
 * quotes and lunr's operators gone, ids, numbers and timestamps dropped, each word once, the
 * first MAX_TERMS kept (bench/search_field.py measures the field corpus; tuned on its tune
 * split). Runs in the page (it wraps Worker.prototype.postMessage) and under node (the
 * functions alone, for measuring).
 */
(function () {
  "use strict"

  /* Material's SearchMessageType.QUERY (integrations/search/worker/message): a query. */
  var QUERY = 2
  /* Longer than this, or with one of these characters, a query is a paste. */
  var PASTE_LENGTH = 40
  var PASTE_MARK = /["{}<\n\r⎿]/
  /* The words a cleaned paste keeps, at most (each once, in the paste's order). */
  var MAX_TERMS = 24
  /* Each word is sent with a boost, `word^N`: Material then adds no trailing wildcard, so a
   * paste's word matches that word only (`be*` would match every word it starts, and lunr's
   * expansion of some prefixes fails outright). A word that names an error (ECONNRESET,
   * SELF_SIGNED_CERT_IN_CHAIN, rate_limit_error, a 4xx or 5xx status, apiKeyHelper,
   * ConnectionRefused) weighs CODE_BOOST plain words. */
  var CODE = /^(?:E[A-Z0-9_]{3,}|[A-Z][A-Z0-9]*_[A-Z0-9_]+|[a-z]+(?:_[a-z]+)+|[45]\d\d|[A-Za-z]+[A-Z][a-z]+[A-Za-z]*)$/
  var CODE_BOOST = 20

  function looksPasted(query) {
    return query.length > PASTE_LENGTH || PASTE_MARK.test(query)
  }

  /* `\n`, `\"`, `\u003c` … at any depth (a JSON body quoted in a JSON string, twice). */
  function unescape(text) {
    for (var i = 0; i < 4; i++) {
      var next = text
        .replace(/\\+u([0-9a-fA-F]{4})/g, function (_, hex) {
          return String.fromCharCode(parseInt(hex, 16))
        })
        .replace(/\\+[nrt]/g, " ")
        .replace(/\\+(["'/\\])/g, "$1")
      if (next === text)
        break
      text = next
    }
    return text
  }

  /* An HTML page by its title; other tags dropped, their text kept. */
  function untag(text) {
    var title = /<title[^>]*>([^<]*)<\/title>/i.exec(text)
    if (title && /<\/?(html|head|body)\b/i.test(text))
      text = title[1] + " " + text.replace(/<(script|style|head)\b[\s\S]*?<\/\1\s*>/gi, " ")
    return text.replace(/<\/?[a-zA-Z][^<>]*>|<!--[\s\S]*?-->|<!doctype[^>]*>/gi, " ")
  }

  /* What no page holds: times, ids, long numbers. */
  var NOISE = [
    /\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?/g,
    /\b\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\b/g,
    /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi
  ]

  function isNoise(word) {
    return /^\d+$/.test(word) && !/^[1-5]\d\d$/.test(word) ||  // a number, not a status
      /^(?:req|msg|toolu|chatcmpl|call|resp|run|org|sk)_/i.test(word) ||  // an id
      /^[0-9a-f]{8,}$/i.test(word) && /\d/.test(word) ||  // a hex id
      word.length >= 12 && /\d/.test(word) && /[a-z]/.test(word) && /[A-Z]/.test(word)
  }

  /* The words of a paste, as Material's separator would cut them, without lunr's syntax. */
  function words(text) {
    return text.split(/[^\p{L}\p{N}_.]+/u)
      .map(function (word) { return word.replace(/^\.+|\.+$/g, "") })
      .filter(function (word) { return word.length > 1 && !isNoise(word) })
  }

  function cleanPaste(query, maxTerms) {
    var text = untag(unescape(query))
    for (var i = 0; i < NOISE.length; i++)
      text = text.replace(NOISE[i], " ")
    var seen = {}, kept = []
    var all = words(text)
    for (var j = 0; j < all.length && kept.length < (maxTerms || MAX_TERMS); j++) {
      var key = all[j].toLowerCase()
      if (!seen[key]) {
        seen[key] = true
        kept.push(all[j] + "^" + (CODE.test(all[j]) ? CODE_BOOST : 1))
      }
    }
    return kept.join(" ")
  }

  function query(text) {
    return looksPasted(text) ? cleanPaste(text) : text
  }

  var api = { looksPasted: looksPasted, cleanPaste: cleanPaste, query: query }
  if (typeof module !== "undefined" && module.exports)
    module.exports = api

  if (typeof Worker !== "undefined" && Worker.prototype.postMessage) {
    var post = Worker.prototype.postMessage
    Worker.prototype.postMessage = function (message) {
      if (message && message.type === QUERY && typeof message.data === "string") {
        var args = Array.prototype.slice.call(arguments)
        args[0] = { type: QUERY, data: query(message.data) }
        return post.apply(this, args)
      }
      return post.apply(this, arguments)
    }
  }
})()
