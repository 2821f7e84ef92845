(function () {
  "use strict";
  // Asks status.json for the page's data every data-refresh seconds and redraws the parts that
  // change, with the same markup the server renders. Text goes in with textContent only.
  var main = document.getElementById("page");
  var every = parseInt(document.body.getAttribute("data-refresh"), 10) || 15;
  var title = document.querySelector("h1").textContent;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }
  function add(parent) {
    for (var i = 1; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) { continue; }
      parent.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return parent;
  }
  function time(m) {
    var t = el("time", null, m.utc);
    t.setAttribute("datetime", m.time);
    return t;
  }
  function mark() {
    var m = el("span", "mark");
    m.setAttribute("aria-hidden", "true");
    return m;
  }
  function badge(cls, label) { return add(el("span", cls), mark(), label); }
  function fill(id, nodes) {
    var box = document.getElementById(id);
    while (box.firstChild) { box.removeChild(box.firstChild); }
    add.apply(null, [box].concat(nodes));
    return box;
  }
  function fact(label, value, cls) {
    return add(el("div"), el("dt", null, label), add.apply(null, [el("dd", cls)].concat(value)));
  }
  function join(names) {
    if (names.length < 2) { return names.join(""); }
    return names.slice(0, -1).join(", ") + " and " + names[names.length - 1];
  }

  function component(c) {
    var li = el("li", "component state-" + c.state);
    add(li, add(el("div", "component-head"), el("h3", null, c.name), badge("badge", c.label)));
    if (c.description) { add(li, el("p", "description", c.description)); }
    if (c.notes && c.notes.length) {
      var ul = el("ul", "notes");
      c.notes.forEach(function (n) { add(ul, el("li", null, n)); });
      add(li, ul);
    }
    return li;
  }

  function recovery(r) {
    var a = el("article", "recovery mode-" + r.mode);
    add(a, el("h3", null, r.kind + ": " + r.plan));
    if (r.components && r.components.length) { add(a, el("p", "affects", "Affects: " + join(r.components))); }
    var dl = add(el("dl", "facts"), fact("Now", r.phase, "phase"));
    if (r.progress) { add(dl, fact("Progress", r.progress)); }
    add(dl, fact("Started", [time(r.started_at), " (" + r.started_at.relative + ")"]));
    add(dl, fact("Running for", r.elapsed));
    if (r.objective) { add(dl, fact("Target time to recover", r.objective + (r.over_objective ? " (taking longer than planned)" : ""))); }
    add(a, dl);
    if (r.timeline && r.timeline.length) {
      var ol = el("ol", "timeline");
      r.timeline.forEach(function (t) { add(ol, add(el("li", "outcome-" + t.outcome), time(t.at), " " + t.text + ": " + t.outcome)); });
      add(a, el("h4", null, "Steps completed"), ol);
    }
    return a;
  }

  function planned(p) {
    var li = add(el("li"), el("strong", null, p.component), ": from ", time(p.from), " (" + p.from.relative + ")");
    if (p.until && p.until.utc) { add(li, " until ", time(p.until)); }
    if (p.message) { add(li, ". " + p.message); }
    return li;
  }

  function incident(i) {
    var plan = add(el("td"), i.plan);
    if (i.components && i.components.length) { add(plan, " ", el("span", "affects", "(" + join(i.components) + ")")); }
    return add(el("tr"),
      add(el("td"), time(i.ended_at), " ", el("span", "ago", "(" + i.ended_at.relative + ")")),
      plan,
      add(el("td"), badge("badge state-" + i.state, i.result_label)),
      el("td", null, i.duration));
  }

  function render(p) {
    document.title = p.overall_label + " · " + title;
    var banner = document.getElementById("overall");
    banner.className = "banner state-" + p.overall;
    document.getElementById("overall-label").textContent = p.overall_label;
    document.getElementById("summary").textContent = p.summary;
    fill("freshness", p.as_of && p.as_of.utc ? ["Last updated ", time(p.as_of), " (" + p.as_of.relative + ")"] : []);
    notice(p.notice);
    fill("components", p.components.map(component));
    fill("active", p.active.length ? p.active.map(recovery) : [el("p", "empty", "No recovery is in progress.")]);
    if (p.planned.length) {
      var ul = el("ul", "planned");
      p.planned.forEach(function (x) { add(ul, planned(x)); });
      fill("planned", [ul]);
    } else {
      fill("planned", [el("p", "empty", "No maintenance is planned.")]);
    }
    if (p.incidents.length) {
      var table = el("table", "incidents");
      var head = el("tr");
      ["Ended", "Recovery", "Result", "Took"].forEach(function (h) { var th = el("th", null, h); th.setAttribute("scope", "col"); add(head, th); });
      var body = el("tbody");
      p.incidents.forEach(function (i) { add(body, incident(i)); });
      add(table, add(el("thead"), head), body);
      fill("incidents", [table]);
    } else {
      fill("incidents", [el("p", "empty", "No incidents in the last " + p.incident_days + " days.")]);
    }
    main.setAttribute("data-updated", p.generated);
  }

  function notice(text) {
    var n = document.getElementById("notice");
    n.textContent = text || "";
    n.hidden = !text;
  }

  function poll() {
    fetch("status.json", { cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) { throw new Error("status " + r.status); }
        return r.json();
      })
      .then(render)
      .catch(function () {
        notice("This page cannot reach the status service right now; what it shows may be out of date. It keeps trying.");
      })
      .then(function () { setTimeout(poll, every * 1000); });
  }
  setTimeout(poll, every * 1000);
})();
