// streamdash dashboard: renders the snapshots the server pushes over
// Server-Sent Events. All text is set with textContent; nothing from the
// server is ever parsed as HTML.
(function () {
  "use strict";
  const body = document.body;
  const view = body.dataset.view;
  const hashtag = body.dataset.hashtag;
  const maxPoints = 90;
  const state = { updates: 0, lastMessage: 0, points: new Map() };
  window.streamdash = state;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function timeOf(iso) {
    const d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }
  function hashtagLink(h, n) {
    const li = el("li");
    const a = el("a");
    a.href = "/hashtag/" + encodeURIComponent(h);
    a.dataset.hashtag = h;
    a.append(el("span", "tag", "#" + h), el("span", "n", String(n)));
    li.append(a);
    return li;
  }

  const renderers = {
    liveTweets(list, rows) {
      list.replaceChildren(...rows.map((t) => {
        const li = el("li");
        li.dataset.id = t.id;
        const tm = el("time", "", timeOf(t.time));
        tm.dateTime = t.time;
        li.append(tm, el("span", "who", "@" + t.screenName), el("span", "text", t.text));
        return li;
      }));
    },
    topHashtags(list, rows) { list.replaceChildren(...rows.map((r) => hashtagLink(r.hashtag, r.tweets))); },
    relatedHashtags(list, rows) { list.replaceChildren(...rows.map((r) => hashtagLink(r.hashtag, r.tweets))); },
    influencers(list, rows) {
      list.replaceChildren(...rows.map((u) => {
        const li = el("li");
        li.append(el("span", "who", "@" + u.screenName), el("span", "n", u.followers.toLocaleString() + " followers"));
        return li;
      }));
    },
    incoming(_, rows) { updateChart(rows); },
  };

  let chart = null;
  function updateChart(rows) {
    for (const [t, n] of rows) state.points.set(t, n);
    const xs = [...state.points.keys()].sort((a, b) => a - b);
    while (xs.length > maxPoints) state.points.delete(xs.shift());
    const ys = xs.map((x) => state.points.get(x));
    const box = document.getElementById("chart");
    if (!box || typeof uPlot === "undefined") return;
    if (!chart) {
      chart = new uPlot({
        width: Math.max(240, box.clientWidth), height: 220,
        scales: { x: { time: true }, y: { range: (u, lo, hi) => [0, Math.max(5, hi * 1.1)] } },
        series: [{}, { label: "tweets / 2 s", stroke: "#1d7cf2", fill: "rgba(29,124,242,.12)", width: 2, points: { show: false } }],
        axes: [{}, { size: 40 }],
        legend: { show: false },
      }, [xs, ys], box);
      state.chart = chart;
      if (window.ResizeObserver) new ResizeObserver(() => chart.setSize({ width: Math.max(240, box.clientWidth), height: 220 })).observe(box);
    } else {
      chart.setData([xs, ys]);
    }
    state.chartPoints = xs.length;
    state.chartLast = xs[xs.length - 1];
  }

  function render(snap) {
    for (const [name, p] of Object.entries(snap.panels)) {
      const sec = document.querySelector('[data-panel="' + name + '"]');
      if (!sec) continue;
      const rows = Array.isArray(p.rows) ? p.rows : [];
      if (p.updated) renderers[name](sec.querySelector("ol"), rows);
      sec.classList.toggle("is-empty", !!p.updated && rows.length === 0);
      sec.classList.toggle("is-stale", p.stale);
      sec.querySelector(".latency").textContent = p.updated ? p.latencyMs.toFixed(1) + " ms" : "";
      let stale = "";
      if (p.stale) stale = p.updated ? "stale · updated " + timeOf(p.updated) : "waiting for data";
      if (p.error) stale += " (" + p.error + ")";
      sec.querySelector(".stale").textContent = stale;
      sec.dataset.updated = p.updated || "";
    }
    state.updates++;
    state.lastMessage = Date.now();
  }

  const conn = document.getElementById("conn");
  function setConn(text, down) { conn.textContent = text; conn.classList.toggle("down", down); }
  const url = view === "hashtag" ? "/events/hashtag/" + encodeURIComponent(hashtag) : "/events/tweets";
  const es = new EventSource(url);
  es.addEventListener("update", (e) => {
    try { render(JSON.parse(e.data)); setConn("live", false); } catch (err) { console.error(err); }
  });
  es.onerror = () => setConn("reconnecting…", true);
  // The server pushes every 2 s; silence for longer means the dashboard
  // server itself is unreachable, so every panel is stale.
  setInterval(() => {
    if (state.lastMessage && Date.now() - state.lastMessage > 6000) {
      setConn("stale · last update " + new Date(state.lastMessage).toLocaleTimeString(), true);
      document.querySelectorAll(".panel").forEach((s) => s.classList.add("is-stale"));
    }
  }, 2000);
})();
