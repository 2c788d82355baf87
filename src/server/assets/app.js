/* app.js - hone's live dashboard: polls the server's JSON API and draws it
 * with dygraphs plus a DOM icicle graph of the zone tree. Plain JS, no build
 * step, nothing from the network but this server.
 *
 * Contract with tests/server/test_dashboard.c (keep in step):
 * - every chart container (.chart) carries data-points="N": the (x, y)
 *   values it currently draws, 0 while it shows a message instead;
 * - #flame carries data-nodes="N": the tree entries it draws;
 * - <pre id="errors"> collects every error (window.onerror, unhandled
 *   rejections, failed fetches, console.error) and is empty when all is well.
 * Page URL options: ?interval=MS (poll period, default 1000). */
(function () {
  'use strict';

  /* ---------------------------------------------------------------- */
  /* Errors: collected from the first moment, shown in #errors.        */
  /* ---------------------------------------------------------------- */
  var errors = [];          /* [{msg, n}] in first-seen order */
  var MAX_ERRORS = 50;

  function showErrors() {
    var pre = document.getElementById('errors');
    if (!pre) return;       /* before the DOM exists: shown on load */
    pre.textContent = errors.map(function (e) {
      return e.n > 1 ? e.msg + ' (x' + e.n + ')' : e.msg;
    }).join('\n');
    document.getElementById('errors-panel').hidden = errors.length === 0;
  }

  function addError(msg) {
    msg = String(msg);
    for (var i = 0; i < errors.length; i++) {
      if (errors[i].msg === msg) { errors[i].n++; showErrors(); return; }
    }
    if (errors.length >= MAX_ERRORS) errors.shift();
    errors.push({ msg: msg, n: 1 });
    showErrors();
  }

  window.addEventListener('error', function (ev) {
    /* A script or stylesheet that failed to load reaches here only in the
     * capture phase, with ev.target the element. */
    var t = ev.target;
    if (t && t !== window && (t.src || t.href)) {
      addError('failed to load ' + (t.src || t.href));
    } else {
      addError('error: ' + (ev.message || ev.error) +
               (ev.filename ? ' at ' + ev.filename + ':' + ev.lineno : ''));
    }
  }, true);
  window.addEventListener('unhandledrejection', function (ev) {
    var r = ev.reason;
    addError('unhandled rejection: ' + (r && r.message ? r.message : r));
  });
  var consoleError = console.error;
  console.error = function () {
    addError('console.error: ' + Array.prototype.map.call(arguments, String).join(' '));
    return consoleError.apply(console, arguments);
  };

  /* ---------------------------------------------------------------- */
  /* Formatting                                                         */
  /* ---------------------------------------------------------------- */
  /* Three significant digits without trailing zeros: 4 µs, 12.5 ms. */
  function sig3(v) { return String(Number(v.toPrecision(3))); }
  function fmtNs(ns) {
    if (ns === null || ns === undefined || isNaN(ns)) return '–';
    var a = Math.abs(ns);
    if (a >= 1e9) return sig3(ns / 1e9) + ' s';
    if (a >= 1e6) return sig3(ns / 1e6) + ' ms';
    if (a >= 1e3) return sig3(ns / 1e3) + ' µs';
    return Math.round(ns) + ' ns';
  }
  function pad2(n) { return (n < 10 ? '0' : '') + n; }
  /* Wall-clock time of day, with tenths or milliseconds when a tick needs them. */
  function fmtTime(d) {
    var ms = d.getMilliseconds();
    var s = pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds());
    if (ms) s += '.' + (ms % 100 ? String(1000 + ms).slice(1) : String(ms / 100));
    return s;
  }
  function fmtBytes(b) {
    if (b === null || b === undefined) return '–';
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
    while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
    return (i ? b.toFixed(1) : b) + ' ' + u[i];
  }
  function fmtNum(v) {
    if (v === null || v === undefined || isNaN(v)) return '–';
    if (Math.abs(v) >= 1e6) return (v / 1e6).toPrecision(3) + 'M';
    if (Math.abs(v) >= 1e4) return (v / 1e3).toPrecision(3) + 'k';
    return String(Math.round(v * 10) / 10);
  }
  function fmtPct(v) { return (v === null || v === undefined) ? '–' : v.toFixed(1) + ' %'; }
  function setText(id, s) { document.getElementById(id).textContent = s; }

  /* ---------------------------------------------------------------- */
  /* Fetching                                                           */
  /* ---------------------------------------------------------------- */
  function HttpError(url, status) {
    this.message = url + ': HTTP ' + status;
    this.status = status;
  }

  /* GET url as JSON; rejects with a message naming the URL. */
  function getJSON(url, timeoutMs) {
    var ctl = typeof AbortController === 'function' ? new AbortController() : null;
    var timer = ctl ? setTimeout(function () { ctl.abort(); }, timeoutMs) : null;
    return fetch(url, { cache: 'no-store', signal: ctl ? ctl.signal : undefined })
      .then(function (r) {
        if (!r.ok) throw new HttpError(url, r.status);
        return r.json().catch(function (e) { throw new Error(url + ': not JSON: ' + e.message); });
      }, function (e) {
        throw new Error(url + ': ' + (e.name === 'AbortError' ? 'timed out' : 'unreachable (' + e.message + ')'));
      })
      .finally(function () { if (timer) clearTimeout(timer); });
  }

  /* Resolves to {ok, data} or {ok: false, err}: one failed endpoint must not
   * stop the others from being drawn. Every failure is an error. */
  function settle(p) {
    return p.then(function (d) { return { ok: true, data: d }; },
                  function (e) { addError(e.message || String(e)); return { ok: false, err: e }; });
  }

  /* ---------------------------------------------------------------- */
  /* Charts                                                             */
  /* ---------------------------------------------------------------- */
  var PALETTE = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed',
                 '#0891b2', '#db2777', '#65a30d', '#ea580c', '#4f46e5'];
  var MAX_HISTORY = 900;    /* samples kept per series: 15 min at 1 s */

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  /* One dygraph in a .chart container with a message paragraph beside it. */
  function Chart(id, opts) {
    this.el = document.getElementById('chart-' + id);
    this.legend = document.getElementById('legend-' + id);
    this.msg = document.getElementById('msg-' + id);
    this.opts = opts;
    this.g = null;
    this.labels = null;
  }
  Chart.prototype.message = function (text, bad) {
    if (this.g) { this.g.destroy(); this.g = null; this.labels = null; }
    this.el.hidden = true;
    this.el.setAttribute('data-points', '0');
    this.legend.textContent = '';
    this.msg.textContent = text;
    this.msg.className = bad ? 'msg bad' : 'msg';
  };
  Chart.prototype.themeOptions = function () {
    return { axisLineColor: cssVar('--axis'), gridLineColor: cssVar('--grid') };
  };
  /* rows: [[x, y1, y2, ...]] sorted by x; labels: ['x', 'name1', ...]. */
  Chart.prototype.draw = function (rows, labels, extra, emptyText) {
    var points = 0;
    rows.forEach(function (r) {
      for (var i = 1; i < r.length; i++) if (r[i] !== null && !isNaN(r[i])) points++;
    });
    if (points === 0) { this.message(emptyText || 'no data yet'); return; }
    this.msg.textContent = '';
    this.el.hidden = false;
    var o = {}, k;
    for (k in this.opts.dygraph) o[k] = this.opts.dygraph[k];
    for (k in extra || {}) o[k] = extra[k];
    var theme = this.themeOptions();
    for (k in theme) o[k] = theme[k];
    o.labels = labels;
    o.colors = labels.slice(1).map(function (_, i) { return PALETTE[i % PALETTE.length]; });
    o.labelsDiv = this.legend;
    o.legend = 'always';
    var same = this.labels && this.labels.join('\u0000') === labels.join('\u0000');
    if (this.g && same) {
      o.file = rows;
      this.g.updateOptions(o);
    } else {
      if (this.g) this.g.destroy();
      this.g = new Dygraph(this.el, rows, o);
      this.labels = labels.slice();
    }
    this.el.setAttribute('data-points', String(points));
  };
  Chart.prototype.retheme = function () {
    if (this.g) this.g.updateOptions(this.themeOptions());
  };

  var nsAxis = {
    valueFormatter: function (v) { return fmtNs(v); },
    axisLabelFormatter: function (v) { return fmtNs(v); },
    axisLabelWidth: 60
  };
  var timeAxis = {
    valueFormatter: function (ms) { return fmtTime(new Date(ms)); },
    axisLabelFormatter: function (d) { return fmtTime(d instanceof Date ? d : new Date(d)); },
    axisLabelWidth: 70
  };
  var common = { drawPoints: true, pointSize: 1.5, strokeWidth: 1.5, connectSeparatedPoints: false,
                 highlightCircleSize: 3, labelsKMB: true, xRangePad: 4, yRangePad: 4 };
  function merge(a, b) { var o = {}, k; for (k in a) o[k] = a[k]; for (k in b) o[k] = b[k]; return o; }

  /* Made on load: the script runs in <head>, before the containers exist. */
  var charts = null;
  function makeCharts() {
    return {
      zones: new Chart('zones', {
        dygraph: merge(common, { logscale: true, axes: { x: timeAxis, y: nsAxis } }) }),
      caches: new Chart('caches', {
        dygraph: merge(common, { valueRange: [0, 100.5],
          axes: { x: timeAxis, y: { valueFormatter: function (v) { return v.toFixed(1) + ' %'; },
                       axisLabelFormatter: function (v) { return v + ' %'; } } } }) }),
      cycles: new Chart('cycles', {
        dygraph: merge(common, { strokeWidth: 1, pointSize: 2, connectSeparatedPoints: true,
                                 logscale: true, axes: { x: timeAxis, y: nsAxis } }) }),
      throughput: new Chart('throughput', {
        dygraph: merge(common, { series: { 'cycles/min': { axis: 'y2' } },
          axes: { x: timeAxis, y2: { drawGrid: false, independentTicks: true } }, ylabel: 'per second',
          y2label: 'cycles per minute' }) })
    };
  }

  /* ---------------------------------------------------------------- */
  /* State between polls                                                */
  /* ---------------------------------------------------------------- */
  var params = new URLSearchParams(location.search);
  var interval = parseInt(params.get('interval') || '1000', 10);
  if (!(interval >= 100)) interval = 1000;
  if (interval > 600000) interval = 600000;

  var zoneHist = [];        /* [{t: Date, z: {key: {p50, p99}}}] */
  var cacheHist = [];       /* [{t, c: {name: {rate, interval}}}] */
  var tputHist = [];        /* [[Date, lookups/s, calls/s, cycles/min]] */
  var prev = null;          /* last poll's totals, for deltas */
  var lastCycleEnd = null;  /* newest cycle end seen (ns as Number) */
  var selected = { profile: null, cycles: null };

  function trim(a) { while (a.length > MAX_HISTORY) a.shift(); }

  /* ---------------------------------------------------------------- */
  /* Source selectors                                                   */
  /* ---------------------------------------------------------------- */
  function fillSelect(kind, list) {
    var label = document.getElementById(kind + '-source-label');
    var sel = document.getElementById(kind + '-source');
    label.hidden = list.length < 2;
    var have = Array.prototype.map.call(sel.options, function (o) { return o.value; });
    if (have.join('\u0000') !== list.join('\u0000')) {
      sel.textContent = '';
      list.forEach(function (name) {
        var o = document.createElement('option');
        o.value = o.textContent = name;
        sel.appendChild(o);
      });
    }
    if (selected[kind] === null || list.indexOf(selected[kind]) < 0) selected[kind] = list.length ? list[0] : null;
    sel.value = selected[kind] || '';
  }
  ['profile', 'cycles'].forEach(function (kind) {
    document.addEventListener('DOMContentLoaded', function () {
      document.getElementById(kind + '-source').addEventListener('change', function (ev) {
        selected[kind] = ev.target.value;
        /* Another source is another history: start its charts afresh. */
        if (kind === 'profile') { zoneHist = []; }
        else { lastCycleEnd = null; }
        prev = null; tputHist = [];
        pollNow();
      });
    });
  });

  /* ---------------------------------------------------------------- */
  /* Drawing each part                                                  */
  /* ---------------------------------------------------------------- */
  var TOP_ZONES = 5;

  /* A zone's key: its name, or name (file:line) when two sites share it. */
  function zoneKeys(zones) {
    var seen = {};
    zones.forEach(function (z) { seen[z.name] = (seen[z.name] || 0) + 1; });
    return zones.map(function (z) {
      return seen[z.name] > 1 ? z.name + ' (' + z.file + ':' + z.line + ')' : z.name;
    });
  }

  function drawZones(now, profile) {
    if (!profile) return;
    var zones = profile.zones || [];
    setText('n-zones', String(zones.length));
    var keys = zoneKeys(zones), sample = {};
    zones.forEach(function (z, i) { sample[keys[i]] = { p50: z.p50_ns, p99: z.p99_ns, total: z.total_ns }; });
    zoneHist.push({ t: now, z: sample });
    trim(zoneHist);
    var top = keys.slice().sort(function (a, b) { return sample[b].total - sample[a].total; })
                  .slice(0, TOP_ZONES);
    if (!top.length) { charts.zones.message('no zones recorded yet (is the program running any HONE_ZONE?)'); return; }
    var labels = ['time'];
    top.forEach(function (k) { labels.push(k + ' p50', k + ' p99'); });
    var rows = zoneHist.map(function (h) {
      var r = [h.t];
      top.forEach(function (k) {
        var s = h.z[k];
        /* Log scale: a zero would be off the chart, so it is no point. */
        r.push(s && s.p50 > 0 ? s.p50 : null, s && s.p99 > 0 ? s.p99 : null);
      });
      return r;
    });
    var series = {};
    top.forEach(function (k) { series[k + ' p99'] = { strokePattern: [4, 3] }; });
    charts.zones.draw(rows, labels, { series: series });
  }

  function drawCaches(now, caches) {
    var list = caches.caches || [];
    if (!list.length) { charts.caches.message('no caches added to this server (hone_server_add_cache)'); return; }
    var sample = {};
    list.forEach(function (c) {
      var s = c.stats || {}, p = prev && prev.caches[c.name], rate = null;
      if (p) {
        var dh = s.hits - p.hits, dm = s.misses - p.misses;
        if (dh + dm > 0) rate = 100 * dh / (dh + dm);
      }
      sample[c.name] = { all: (s.hits + s.misses) > 0 ? 100 * s.hit_rate : null, interval: rate };
    });
    cacheHist.push({ t: now, c: sample });
    trim(cacheHist);
    var names = list.map(function (c) { return c.name; });
    var labels = ['time'];
    names.forEach(function (n) { labels.push(n + ' (since start)', n + ' (between polls)'); });
    var rows = cacheHist.map(function (h) {
      var r = [h.t];
      names.forEach(function (n) {
        var s = h.c[n];
        r.push(s ? s.all : null, s ? s.interval : null);
      });
      return r;
    });
    var series = {};
    names.forEach(function (n) { series[n + ' (between polls)'] = { strokePattern: [4, 3] }; });
    charts.caches.draw(rows, labels, { series: series }, 'no lookups in any cache yet');
  }

  function drawCycles(report) {
    var cycles = (report.cycles || []).slice().sort(function (a, b) { return a.end_unix_ns - b.end_unix_ns; });
    var st = report.stats || {};
    setText('n-cycles', fmtNum(st.count));
    setText('n-cycle-p50', st.count ? fmtNs(st.duration_p50_ns) : '–');
    setText('n-success', st.count ? fmtPct(100 * st.success_rate) : '–');
    if (!cycles.length) { charts.cycles.message('no cycles recorded yet'); return; }
    /* Log scale (one slow first cycle would flatten the rest): a zero
     * duration would be off the chart, so it is no point. */
    var rows = cycles.map(function (c) {
      var t = new Date(c.end_unix_ns / 1e6), d = c.duration_ns > 0 ? c.duration_ns : null;
      return c.success ? [t, d, null] : [t, null, d];
    });
    charts.cycles.draw(rows, ['end', 'succeeded', 'failed'],
                       { series: { failed: { strokeWidth: 0, pointSize: 3 } } });
  }

  function drawThroughput() {
    if (!tputHist.length) { charts.throughput.message('waiting for two polls…'); return; }
    charts.throughput.draw(tputHist, ['time', 'cache lookups/s', 'zone calls/s', 'cycles/min'], null,
                           'nothing to count: no caches, zones or cycles answered');
  }

  function drawProcess(p, cpuPct) {
    setText('n-rss', fmtBytes(p.rss_bytes));
    setText('n-threads', String(p.threads));
    setText('n-fds', String(p.open_fds));
    setText('n-cpu', cpuPct === null ? '–' : fmtPct(cpuPct));
  }

  /* ---------------------------------------------------------------- */
  /* Icicle graph of the zone tree                                      */
  /* ---------------------------------------------------------------- */
  var flameTree = [];

  function hue(name) {
    var h = 0;
    for (var i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
    return 8 + h % 45;      /* reds to yellows, stable per name */
  }

  function drawFlame(profile) {
    var flame = document.getElementById('flame'), msg = document.getElementById('msg-flame');
    var tree = (profile && profile.tree) || [];
    flameTree = tree;
    flame.textContent = '';
    if (!tree.length) {
      flame.setAttribute('data-nodes', '0');
      msg.textContent = profile ? 'no zones recorded yet' : 'no profile available';
      return;
    }
    msg.textContent = '';
    /* Children of each node (index -1: the outermost zones), biggest first. */
    var kids = { '-1': [] }, depth = [], maxDepth = 0;
    tree.forEach(function (n, i) {
      var p = n.parent;
      if (p === undefined || p === null || p < -1 || p >= i) p = -1; /* depth-first: parents come first */
      depth[i] = p < 0 ? 1 : depth[p] + 1;
      if (depth[i] > maxDepth) maxDepth = depth[i];
      (kids[p] = kids[p] || []).push(i);
      kids[i] = kids[i] || [];
    });
    Object.keys(kids).forEach(function (k) {
      kids[k].sort(function (a, b) { return tree[b].total_ns - tree[a].total_ns; });
    });
    var all = 0;
    kids['-1'].forEach(function (i) { all += tree[i].total_ns; });
    if (!(all > 0)) all = 1;
    var ROW = 18, frag = document.createDocumentFragment(), drawn = 0;
    function box(cls, leftFrac, widthFrac, d, text, idx) {
      var el = document.createElement('div');
      el.className = cls;
      el.style.left = (100 * leftFrac) + '%';
      el.style.width = (100 * widthFrac) + '%';
      el.style.top = (d * ROW) + 'px';
      el.textContent = text;
      if (idx !== undefined) {
        el.setAttribute('data-i', String(idx));
        el.style.background = 'hsl(' + hue(tree[idx].name) + ', var(--flame-s), var(--flame-l))';
      }
      frag.appendChild(el);
      return el;
    }
    var root = box('f root', 0, 1, 0, 'all: ' + fmtNs(all));
    root.setAttribute('data-i', '-1');
    /* Lay out each level inside its parent: a child never spills past the
     * parent's right edge even if the figures disagree by a rounding. */
    function place(i, left, width) {
      box('f', left, width, depth[i], tree[i].name, i);
      drawn++;
      var x = left, end = left + width;
      kids[i].forEach(function (c) {
        var w = Math.min(width * tree[c].total_ns / Math.max(tree[i].total_ns, 1), end - x);
        place(c, x, Math.max(w, 0));
        x += Math.max(w, 0);
      });
    }
    var x = 0;
    kids['-1'].forEach(function (i) {
      var w = tree[i].total_ns / all;
      place(i, x, w);
      x += w;
    });
    flame.style.height = ((maxDepth + 1) * ROW) + 'px';
    flame.appendChild(frag);
    flame.setAttribute('data-nodes', String(drawn));
    flame.setAttribute('data-total-ns', String(all));
  }

  function flameTip(ev) {
    var tip = document.getElementById('flame-tip');
    var t = ev.target.closest ? ev.target.closest('.f') : null;
    if (!t) { tip.hidden = true; return; }
    var i = parseInt(t.getAttribute('data-i'), 10), text;
    var all = Number(document.getElementById('flame').getAttribute('data-total-ns'));
    if (i < 0) {
      text = 'all outermost zones\ntotal ' + fmtNs(all);
    } else {
      var n = flameTree[i];
      if (!n) { tip.hidden = true; return; }
      var path = [], p = i;
      while (p >= 0 && flameTree[p]) { path.unshift(flameTree[p].name); p = flameTree[p].parent; }
      text = n.name + (n.file ? '  ' + n.file + ':' + n.line : '') + '\n' +
        'calls  ' + n.count + '\n' +
        'total  ' + fmtNs(n.total_ns) + '  (' + (100 * n.total_ns / all).toFixed(1) + ' % of all)\n' +
        'self   ' + fmtNs(n.self_ns) + '\n' +
        'mean   ' + fmtNs(n.mean_ns) + '   p99 ' + fmtNs(n.p99_ns) + '\n' +
        path.join(' › ');
    }
    tip.textContent = text;
    tip.hidden = false;
    var x = ev.clientX + 14, y = ev.clientY + 14;
    if (x + tip.offsetWidth > window.innerWidth) x = ev.clientX - tip.offsetWidth - 8;
    if (y + tip.offsetHeight > window.innerHeight) y = ev.clientY - tip.offsetHeight - 8;
    tip.style.left = x + 'px';
    tip.style.top = y + 'px';
  }

  /* ---------------------------------------------------------------- */
  /* The poll                                                           */
  /* ---------------------------------------------------------------- */
  var timer = null, polling = false, again = false;
  /* Bumped when a source selector changes: a poll begun before that
   * belongs to the old source and is not drawn. */
  var generation = 0;

  /* path with the query parameters whose value is not null. */
  function url(path, params) {
    var q = Object.keys(params).filter(function (k) { return params[k] !== null; })
      .map(function (k) { return k + '=' + encodeURIComponent(params[k]); }).join('&');
    return q ? path + '?' + q : path;
  }

  function poll() {
    polling = true;
    again = false;
    var gen = generation;
    var tmo = Math.max(5000, 2 * interval);
    return settle(getJSON('/api/sources', tmo)).then(function (src) {
      var profiles = null, cycles = null;
      if (src.ok) {
        profiles = src.data.profiles || [];
        cycles = src.data.cycles || [];
        fillSelect('profile', profiles);
        fillSelect('cycles', cycles);
      }
      /* Without /api/sources (an older server) every endpoint is asked. */
      var wantProfile = profiles === null || profiles.length > 0;
      var wantCycles = cycles === null || cycles.length > 0;
      var none = Promise.resolve(null);
      return Promise.all([
        wantProfile ? settle(getJSON(url('/api/profile', { source: selected.profile }), tmo)) : none,
        wantCycles ? settle(getJSON(url('/api/cycles', { recent: 200, source: selected.cycles }), tmo)) : none,
        settle(getJSON('/api/caches', tmo)),
        settle(getJSON('/api/process', tmo))
      ]).then(function (r) { if (gen === generation) update(r[0], r[1], r[2], r[3]); });
    }).catch(function (e) {
      addError('dashboard: ' + (e && e.stack ? e.stack : e));
    }).then(function () {
      polling = false;
      timer = setTimeout(poll, again ? 0 : interval);
    });
  }

  function pollNow() {
    generation++;
    if (polling) { again = true; return; } /* the running poll schedules the next at once */
    clearTimeout(timer);
    poll();
  }

  function failMsg(r) {
    return 'cannot read: ' + (r.err && r.err.message ? r.err.message : r.err);
  }

  function update(prof, cyc, caches, proc) {
    var now = new Date();
    var failed = [prof, cyc, caches, proc].filter(function (r) { return r && !r.ok; }).length;
    setText('status', (failed ? failed + ' endpoint(s) failing; ' : '') +
            'updated ' + now.toLocaleTimeString() + ', every ' + (interval / 1000) + ' s');
    document.getElementById('status').className = failed ? 'bad' : 'muted';

    /* The totals of this poll, for the deltas of the next. */
    var cur = { wall: null, cpu: null, lookups: null, calls: null, caches: {}, cycleEnd: lastCycleEnd };

    if (!prof) {
      charts.zones.message('this process does not profile (no "live" profile source)');
      drawFlame(null);
      document.getElementById('msg-flame').textContent = 'this process does not profile';
      setText('n-zones', '–');
    } else if (!prof.ok) {
      charts.zones.message(failMsg(prof), true);
      drawFlame(null);
      document.getElementById('msg-flame').textContent = failMsg(prof);
      document.getElementById('msg-flame').className = 'msg bad';
    } else {
      document.getElementById('msg-flame').className = 'msg';
      drawZones(now, prof.data);
      drawFlame(prof.data);
      cur.calls = (prof.data.zones || []).reduce(function (s, z) { return s + z.count; }, 0);
    }

    var newCycles = null;
    if (!cyc) {
      charts.cycles.message('no cycles source on this server (hone_server_opts.cycles)');
      ['n-cycles', 'n-cycle-p50', 'n-success'].forEach(function (id) { setText(id, '–'); });
    } else if (!cyc.ok) {
      charts.cycles.message(failMsg(cyc), true);
    } else {
      drawCycles(cyc.data);
      var ends = (cyc.data.cycles || []).map(function (c) { return c.end_unix_ns; });
      var newest = ends.length ? Math.max.apply(null, ends) : null;
      if (lastCycleEnd !== null) {
        newCycles = ends.filter(function (e) { return e > lastCycleEnd; }).length;
      } else if (prev) {
        newCycles = ends.length; /* the first cycles appeared since the last poll */
      }
      if (newest !== null) cur.cycleEnd = newest;
    }

    if (!caches.ok) {
      charts.caches.message(failMsg(caches), true);
    } else {
      cur.lookups = 0;
      (caches.data.caches || []).forEach(function (c) {
        var s = c.stats || {};
        cur.caches[c.name] = { hits: s.hits || 0, misses: s.misses || 0 };
        cur.lookups += (s.hits || 0) + (s.misses || 0);
      });
      drawCaches(now, caches.data);
    }

    var cpuPct = null;
    if (!proc.ok) {
      ['n-rss', 'n-cpu', 'n-threads', 'n-fds'].forEach(function (id) { setText(id, '–'); });
    } else {
      cur.wall = proc.data.wall_ns;
      cur.cpu = proc.data.cpu_user_ns + proc.data.cpu_system_ns;
      if (prev && prev.wall !== null && cur.wall > prev.wall)
        cpuPct = 100 * (cur.cpu - prev.cpu) / (cur.wall - prev.wall);
      drawProcess(proc.data, cpuPct);
    }

    /* Rates over the server's own clock when it answered both times (the
     * page's clock also counts the time the requests took). */
    if (prev) {
      var dt = (prev.wall !== null && cur.wall !== null && cur.wall > prev.wall)
        ? (cur.wall - prev.wall) / 1e9 : (now - prev.t) / 1000;
      if (dt > 0) {
        var rate = function (a, b) { return (a === null || b === null || a < b) ? null : (a - b) / dt; };
        tputHist.push([now, rate(cur.lookups, prev.lookups), rate(cur.calls, prev.calls),
                       newCycles === null ? null : 60 * newCycles / dt]);
        trim(tputHist);
      }
    }
    cur.t = now;
    lastCycleEnd = cur.cycleEnd;
    prev = cur;
    drawThroughput();
  }

  /* ---------------------------------------------------------------- */
  /* Start                                                              */
  /* ---------------------------------------------------------------- */
  window.addEventListener('load', function () {
    showErrors();
    charts = makeCharts();
    if (typeof Dygraph !== 'function') {
      addError('dygraphs did not load (/dygraph.min.js); charts are off');
      Object.keys(charts).forEach(function (k) { charts[k].message('dygraphs did not load', true); });
      return;
    }
    var flame = document.getElementById('flame');
    flame.addEventListener('mousemove', flameTip);
    flame.addEventListener('mouseleave', function () { document.getElementById('flame-tip').hidden = true; });
    if (window.matchMedia) {
      var mq = window.matchMedia('(prefers-color-scheme: dark)');
      var onTheme = function () { Object.keys(charts).forEach(function (k) { charts[k].retheme(); }); };
      if (mq.addEventListener) mq.addEventListener('change', onTheme);
    }
    poll();
  });
})();
