// The course site's only script: search over the index built by tools/build_site.py (loaded on first use
// from assets/search-index.js, a plain script, so it works from any static file server and from file://),
// the "on this page" highlight, and the contents button on narrow screens. No libraries, nothing remote.
(function () {
  "use strict";
  var base = (document.currentScript && document.currentScript.src || "").replace(/site\.js(\?.*)?$/, "");
  var input = document.getElementById("site-search");
  var box = document.getElementById("site-search-results");
  var loading = null;
  var MAX_RESULTS = 30;

  function loadIndex() {
    if (window.COURSE_SEARCH_INDEX) return Promise.resolve(window.COURSE_SEARCH_INDEX);
    if (!loading) {
      loading = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = base + "search-index.js";
        script.onload = function () { resolve(window.COURSE_SEARCH_INDEX); };
        script.onerror = function () { loading = null; reject(new Error("search index did not load")); };
        document.head.appendChild(script);
      });
    }
    return loading;
  }

  function escapeHtml(text) {
    return text.replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function count(hay, term) {
    var n = 0, i = hay.indexOf(term);
    while (i !== -1 && n < 20) { n += 1; i = hay.indexOf(term, i + term.length); }
    return n;
  }

  function snippet(text, terms) {
    var lower = text.toLowerCase(), at = -1;
    for (var k = 0; k < terms.length && at === -1; k++) at = lower.indexOf(terms[k]);
    if (at === -1) return escapeHtml(text.slice(0, 140)) + (text.length > 140 ? "…" : "");
    var start = Math.max(0, at - 60), end = Math.min(text.length, at + 100);
    // One pass over the plain text, longest term first: marking term by term in the escaped piece let a later
    // term ("a" in "create a message") match inside an earlier <mark> or an &amp;, and the snippet showed tags.
    var re = new RegExp("(" + terms.slice().sort(function (a, b) { return b.length - a.length; }).map(function (term) {
      return term.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    }).join("|") + ")", "gi");
    var marked = text.slice(start, end).split(re).map(function (part, i) {  // odd parts are the matches
      return i % 2 ? "<mark>" + escapeHtml(part) + "</mark>" : escapeHtml(part);
    }).join("");
    return (start ? "…" : "") + marked + (end < text.length ? "…" : "");
  }

  // Every term must occur (case-insensitive, as a substring) in a section's heading or text.
  function search(index, query) {
    var terms = query.toLowerCase().split(/\s+/).filter(Boolean);
    if (!terms.length) return [];
    var hits = [];
    index.sections.forEach(function (s) {
      var title = s.t.toLowerCase(), text = s.x.toLowerCase(), score = 0;
      for (var k = 0; k < terms.length; k++) {
        var inTitle = title.indexOf(terms[k]) !== -1, n = count(text, terms[k]);
        if (!inTitle && !n) return;
        score += (inTitle ? 10 : 0) + Math.min(n, 5);
      }
      hits.push({ s: s, score: score });
    });
    hits.sort(function (a, b) { return b.score - a.score || a.s.p - b.s.p; });
    var pages = {};  // over every hit, not only the ones listed
    hits.forEach(function (h) { pages[h.s.p] = 1; });
    return hits.slice(0, MAX_RESULTS).map(function (h) {
      return { section: h.s, page: index.pages[h.s.p], terms: terms, total: hits.length,
               pages: Object.keys(pages).length };
    });
  }

  function show(query) {
    if (!query.trim()) { box.hidden = true; box.innerHTML = ""; return; }
    loadIndex().then(function (index) {
      if (input.value !== query) return;  // a newer query is on its way
      var results = search(index, query);
      box.hidden = false;
      if (!results.length) {
        box.innerHTML = "<p>No match for <strong>" + escapeHtml(query) + "</strong>.</p>";
        return;
      }
      var total = results[0].total, pages = results[0].pages;
      var html = "<p>" + total + (total === 1 ? " section" : " sections") + " in " + pages +
        (pages === 1 ? " page" : " pages") + (total > results.length ? ", the first " + results.length + " below" : "") +
        "</p><ol>";
      results.forEach(function (r) {
        var href = r.page.u + (r.section.a ? "#" + r.section.a : "");
        html += '<li><a class="site-search-hit" href="' + escapeHtml(href) + '" data-page="' + escapeHtml(r.page.u) + '">' +
          '<span class="where">' + escapeHtml(r.page.t) + "</span>" +
          (r.section.t ? '<span class="title">' + escapeHtml(r.section.t) + "</span>" : "") +
          '<span class="snippet">' + snippet(r.section.x || r.section.t, r.terms) + "</span></a></li>";
      });
      box.innerHTML = html + "</ol>";
    }, function () {
      box.hidden = false;
      box.innerHTML = "<p>The search index could not be loaded.</p>";
    });
  }

  if (input && box) {
    var timer = null;
    input.addEventListener("focus", function () { loadIndex().catch(function () {}); });
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { show(input.value); }, 80);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        var first = box.querySelector("a.site-search-hit");
        if (first) window.location.href = first.href;
      } else if (event.key === "Escape") {
        input.value = ""; show("");
      }
    });
    document.addEventListener("keydown", function (event) {
      var tag = (document.activeElement && document.activeElement.tagName) || "";
      if (event.key === "/" && tag !== "INPUT" && tag !== "TEXTAREA") { event.preventDefault(); input.focus(); }
    });
  }

  // "On this page": mark the heading being read.
  var links = Array.prototype.slice.call(document.querySelectorAll(".site-page-toc a"));
  if (links.length && "IntersectionObserver" in window) {
    var byId = {};
    var decode = function (id) { try { return decodeURIComponent(id); } catch (e) { return id; } };
    links.forEach(function (a) { var id = a.getAttribute("href").slice(1); byId[id] = a; byId[decode(id)] = a; });
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (!entry.isIntersecting) return;
        var link = byId[entry.target.id] || byId[decode(entry.target.id)];
        if (!link) return;
        links.forEach(function (a) { a.classList.remove("active"); });
        link.classList.add("active");
      });
    }, { rootMargin: "0px 0px -70% 0px" });
    document.querySelectorAll(".site-content h2[id], .site-content h3[id]").forEach(function (h) { observer.observe(h); });
  }

  // Narrow screens: the contents button opens and closes the sidebar.
  var menu = document.querySelector(".site-menu");
  if (menu) {
    menu.addEventListener("click", function () {
      var open = document.body.classList.toggle("site-sidebar-open");
      menu.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }
})();
