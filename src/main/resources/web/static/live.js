// The live view: polls ./api/v1/top (or the selected view's API) every second and renders it.
// No framework, no CDN: served by the exporter itself. No inline code, so a strict
// Content-Security-Policy from the web config (default-src 'self') works.
'use strict';
(function () {
  var WINDOWS = ['2s', '10s', '40s'];
  var INTERVAL_MS = 1000;
  var SVG = 'http://www.w3.org/2000/svg';
  var state = { sort: 'bits_10s', order: 'desc', direction: '', ip_type: '', iface: '', ip: '', n: '50', paused: false,
    view: 'pairs', workload: '', peers: '5', expand: '' };
  // Which workload rows show their peers (key: workload, direction, ip_type).
  var expanded = {};
  var timer = null;
  var inFlight = null;
  var seq = 0;

  function $(id) { return document.getElementById(id); }

  function scaled(v, units, base) {
    var i = 0;
    while (Math.abs(v) >= base && i < units.length - 1) { v /= base; i++; }
    var digits = i === 0 ? (v >= 100 || v === 0 ? 0 : 1) : (v >= 100 ? 0 : v >= 10 ? 1 : 2);
    return v.toFixed(digits) + ' ' + units[i];
  }
  function bits(v) { return scaled(v, ['b/s', 'kb/s', 'Mb/s', 'Gb/s', 'Tb/s'], 1000); }
  function pps(v) { return scaled(v, ['p/s', 'kp/s', 'Mp/s', 'Gp/s'], 1000); }
  function bytes(v) { return scaled(v, ['B', 'kB', 'MB', 'GB', 'TB', 'PB'], 1000); }

  function params() {
    var p = new URLSearchParams();
    p.set('n', state.n);
    p.set('sort', state.sort);
    if (state.order === 'asc') { p.set('order', 'asc'); }
    ['direction', 'ip_type', 'iface', 'ip'].forEach(function (k) { if (state[k]) { p.set(k, state[k]); } });
    return p.toString();
  }

  // The views of the tab bar: the API each one polls and how it renders; the one shown is polled every
  // second. Another script adds its view with LiveViews.register (processes.js). Optional: status, the
  // id of the view's own status line (default #status); noPause, for a view whose panel has no pause box.
  var VIEWS = {
    pairs: { api: './api/v1/top', url: function () { return './api/v1/top?' + params(); },
      render: function (d) { render(d); setStatus(d); } },
    workloads: { api: './api/v1/workloads', url: function () { return './api/v1/workloads?' + workloadParams(); },
      render: function (d) { renderWorkloads(d); setWorkloadStatus(d); } }
  };

  function schedule(ms) {
    if (timer !== null) { clearTimeout(timer); }
    timer = setTimeout(poll, ms);
  }

  function poll() {
    timer = null;
    var view = VIEWS[state.view];
    if (state.paused && !(view && view.noPause)) { return; }
    var mine = ++seq;
    if (inFlight) { inFlight.abort(); }
    if (!view) { // a view of another script that has not registered (yet)
      inFlight = null;
      return;
    }
    var ctrl = typeof AbortController === 'function' ? new AbortController() : null;
    inFlight = ctrl;
    var url = view.url();
    $('api-link').href = url;
    fetch(url, { cache: 'no-store', credentials: 'same-origin', signal: ctrl ? ctrl.signal : undefined })
      .then(function (r) {
        return r.text().then(function (t) {
          if (!r.ok) {
            var msg = 'HTTP ' + r.status;
            try { msg += ': ' + JSON.parse(t).error; } catch (e) { msg += ' ' + t.slice(0, 200); }
            throw new Error(msg);
          }
          return JSON.parse(t);
        });
      })
      .then(function (data) {
        if (mine !== seq) { return; }
        view.render(data);
      })
      .catch(function (e) {
        if (e && e.name === 'AbortError') { return; }
        var s = $(view.status || 'status');
        s.className = 'error';
        s.textContent = 'cannot read ' + view.api + ': ' + (e && e.message ? e.message : e) + ' (retrying)';
      })
      .then(function () {
        if (mine === seq) { inFlight = null; schedule(INTERVAL_MS); }
      });
  }

  function setStatus(data) {
    var s = $('status');
    s.className = '';
    var covered = data.covered_seconds;
    var text = data.matched + (data.matched === 1 ? ' series matches' : ' series match') +
      (data.series.length < data.matched ? ', showing the top ' + data.series.length : '') +
      ' · updated ' + new Date(data.time).toLocaleTimeString();
    if (covered < 40) {
      text += ' · warming up: ' + covered + ' s of history so far (rates average over what there is)';
    }
    s.textContent = text;
  }

  // An interface name as text: control characters (Linux allows ESC, BEL, ... in names) as \xHH.
  function shown(name) {
    return name.replace(/[\u0000-\u001f\u007f-\u009f]/g, function (c) {
      return '\\x' + ('0' + c.charCodeAt(0).toString(16)).slice(-2);
    });
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  // An address, and under it its host name from reverse DNS when the exporter knows one.
  function ipCell(cls, ip, name) {
    var td = el('td', cls, ip);
    if (name) {
      var host = el('span', 'host', shown(name));
      host.title = shown(name);
      td.appendChild(host);
      td.dataset.name = name;
    }
    return td;
  }

  function numCell(value, fmt) {
    var td = el('td', 'num' + (value === 0 ? ' zero' : ''), fmt(value));
    td.dataset.value = String(value);
    return td;
  }

  function sparkline(values) {
    var w = 120, h = 22;
    var svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('width', w);
    svg.setAttribute('height', h);
    svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
    var base = document.createElementNS(SVG, 'line');
    base.setAttribute('x1', 0); base.setAttribute('x2', w);
    base.setAttribute('y1', h - 0.5); base.setAttribute('y2', h - 0.5);
    svg.appendChild(base);
    var max = 0;
    values.forEach(function (v) { if (v > max) { max = v; } });
    if (values.length > 1) {
      var pts = [];
      var step = w / 59; // 60 seconds across the full width; the newest second on the right
      var x0 = w - (values.length - 1) * step;
      values.forEach(function (v, i) {
        var y = max > 0 ? (h - 2) - (v / max) * (h - 4) : h - 2;
        pts.push((x0 + i * step).toFixed(1) + ',' + y.toFixed(1));
      });
      var line = document.createElementNS(SVG, 'polyline');
      line.setAttribute('points', pts.join(' '));
      svg.appendChild(line);
    }
    var title = document.createElementNS(SVG, 'title');
    title.textContent = 'last ' + values.length + ' s, peak ' + bits(max);
    svg.appendChild(title);
    return svg;
  }

  // Shared with the other views' scripts (processes.js), loaded after this one.
  window.LiveFormat = { bits: bits, pps: pps, bytes: bytes, sparkline: sparkline, el: el, numCell: numCell,
    totals: renderTotals, markSorted: markSorted, sortOnClick: sortOnClick };
  window.LiveViews = {
    register: function (name, view) { VIEWS[name] = view; refresh(name); },
    // Polls now if that view is shown (its filters changed).
    refresh: refresh
  };

  function refresh(name) {
    if (state.view === name) { schedule(0); }
  }

  // The rate columns the three tables share: 2, 10 and 40 s of bits/s and packets/s, and Bytes, in
  // place of the header row's <th data-rates="ATTR">, whose ATTR names the data attribute that carries
  // the sort key; and above them a row that groups them.
  function rateHeaders() {
    document.querySelectorAll('th[data-rates]').forEach(function (slot) {
      var row = slot.parentNode;
      var attr = slot.dataset.rates;
      var lead = Array.prototype.indexOf.call(row.cells, slot);
      var tail = row.cells.length - lead; // Bytes and what follows the slot
      var cells = [];
      ['bits', 'packets'].forEach(function (unit) {
        WINDOWS.forEach(function (w) { cells.push([unit + '_' + w, w.replace('s', ' s')]); });
      });
      cells.push(['bytes', 'Bytes']);
      cells.forEach(function (c) {
        var th = el('th', 'num sortable', c[1]);
        th.dataset[attr] = c[0];
        row.insertBefore(th, slot);
      });
      row.removeChild(slot);
      var groups = el('tr', 'groups');
      [[lead, ''], [3, 'bits/s'], [3, 'packets/s'], [tail, '']].forEach(function (g) {
        var th = el('th', g[1] ? 'group' : null, g[1] || undefined);
        th.colSpan = g[0];
        groups.appendChild(th);
      });
      row.parentNode.insertBefore(groups, row);
    });
  }

  // The boxes #PREFIXinbound and #PREFIXoutbound (a box without a .pps line shows no packet rate).
  function renderTotals(totals, prefix) {
    ['inbound', 'outbound'].forEach(function (dir) {
      var t = totals[dir];
      var box = $((prefix || 'total-') + dir);
      if (!t) { return; }
      WINDOWS.forEach(function (w) {
        var span = box.querySelector('.rates [data-w="' + w + '"]');
        span.textContent = bits(t.bits_per_second[w]);
        span.dataset.value = String(t.bits_per_second[w]);
      });
      var rate = box.querySelector('.pps');
      if (rate) { rate.textContent = pps(t.packets_per_second['2s']) + ' (2 s)'; }
      box.querySelector('.cum').textContent = bytes(t.bytes) + ', ' + t.packets + ' packets';
      box.dataset.bytes = String(t.bytes);
    });
  }

  function renderIfaces(ifaces) {
    var sel = $('f-iface');
    var have = Array.prototype.map.call(sel.options, function (o) { return o.value; }).slice(1);
    var want = ifaces.slice();
    if (state.iface && want.indexOf(state.iface) < 0) { want.push(state.iface); }
    if (have.join('\n') === want.join('\n')) { return; }
    while (sel.options.length > 1) { sel.remove(1); }
    want.forEach(function (i) { var o = el('option', null, shown(i)); o.value = i; sel.appendChild(o); });
    sel.value = state.iface;
  }

  function render(data) {
    renderTotals(data.totals);
    renderIfaces(data.ifaces);
    var body = $('rows');
    var frag = document.createDocumentFragment();
    data.series.forEach(function (s) {
      var tr = el('tr', s.other ? 'other' : null);
      tr.dataset.src = s.src_ip;
      tr.dataset.dst = s.dst_ip;
      tr.dataset.direction = s.direction;
      tr.appendChild(ipCell('ip src', s.src_ip, s.src_name));
      tr.appendChild(ipCell('ip dst', s.dst_ip, s.dst_name));
      tr.appendChild(el('td', 'dir ' + s.direction, s.direction === 'inbound' ? '\u2193 in' : '\u2191 out'));
      tr.appendChild(el('td', 'type', s.ip_type));
      tr.appendChild(el('td', 'iface', s.iface));
      rateCells(tr, s);
      var sp = el('td', 'spark');
      sp.appendChild(sparkline(s.last_minute_bits_per_second));
      tr.appendChild(sp);
      frag.appendChild(tr);
    });
    if (data.series.length === 0) {
      var tr = el('tr', 'empty');
      var td = el('td', null, 'no series match');
      td.colSpan = 13;
      tr.appendChild(td);
      frag.appendChild(tr);
    }
    body.replaceChildren(frag);
    document.body.dataset.updated = String(Date.now());
  }

  // ---- the Workloads view ----------------------------------------------------------------------

  function workloadParams() {
    var p = new URLSearchParams();
    p.set('n', state.n);
    p.set('sort', state.sort);
    if (state.order === 'asc') { p.set('order', 'asc'); }
    ['direction', 'ip_type', 'workload', 'peers'].forEach(function (k) { if (state[k]) { p.set(k, state[k]); } });
    return p.toString();
  }

  function setWorkloadStatus(data) {
    var s = $('status');
    s.className = '';
    var text = data.matched + (data.matched === 1 ? ' workload series matches' : ' workload series match') +
      (data.workloads.length < data.matched ? ', showing the top ' + data.workloads.length : '') +
      ' · updated ' + new Date(data.time).toLocaleTimeString();
    var full = data.peers_map_full;
    if (full && (full.inbound.packets > 0 || full.outbound.packets > 0)) {
      text += ' · the kernel\'s peer map was full: ' + bytes(full.inbound.bytes + full.outbound.bytes) + ' without a peer';
    }
    if (data.covered_seconds < 40) {
      text += ' · warming up: ' + data.covered_seconds + ' s of history so far (rates average over what there is)';
    }
    s.textContent = text;
  }

  function rateCells(tr, s) {
    WINDOWS.forEach(function (w) {
      var td = numCell(s.bits_per_second[w], bits);
      td.classList.add('bits-' + w);
      tr.appendChild(td);
    });
    WINDOWS.forEach(function (w) {
      var td = numCell(s.packets_per_second[w], pps);
      td.classList.add('packets-' + w);
      tr.appendChild(td);
    });
    var cum = numCell(s.bytes, bytes);
    cum.classList.add('bytes');
    cum.title = s.packets + ' packets';
    tr.appendChild(cum);
  }

  function peerRow(p, other) {
    var tr = el('tr', 'peer' + (other ? ' other-peers' : ''));
    tr.dataset.ip = p.ip;
    var td = el('td', 'ip', other ? '\u21b3 other peers' : '\u21b3 ' + p.ip);
    td.colSpan = 4;
    tr.appendChild(td);
    rateCells(tr, p);
    tr.appendChild(el('td'));
    tr.appendChild(el('td'));
    return tr;
  }

  function renderWorkloads(data) {
    renderTotals(data.totals);
    var frag = document.createDocumentFragment();
    data.workloads.forEach(function (s) {
      var key = s.workload + '\u0000' + s.direction + '\u0000' + s.ip_type;
      var tr = el('tr', 'workload-row' + (s.other ? ' other' : ''));
      tr.dataset.workload = s.workload;
      tr.dataset.kind = s.kind;
      tr.dataset.direction = s.direction;
      tr.dataset.ipType = s.ip_type;
      var name = el('td', 'workload', shown(s.workload));
      name.title = s.other ? 'workloads the series budget folded' : s.workload;
      tr.appendChild(name);
      tr.appendChild(el('td', 'kind', s.kind));
      tr.appendChild(el('td', 'dir ' + s.direction, s.direction === 'inbound' ? '\u2193 in' : '\u2191 out'));
      tr.appendChild(el('td', 'type', s.ip_type));
      rateCells(tr, s);
      var sp = el('td', 'spark');
      sp.appendChild(sparkline(s.last_minute_bits_per_second));
      tr.appendChild(sp);
      var peers = s.peers.length + (s.other_peers ? 1 : 0);
      var open = state.expand === '1' || expanded[key];
      var cell = el('td', 'peers');
      if (peers > 0) {
        var b = el('button', 'peers', (open ? '\u25be ' : '\u25b8 ') + s.peers.map(function (p) { return p.ip; }).slice(0, 2).join(', ') +
          (s.peers.length > 2 || s.other_peers ? ' \u2026' : ''));
        b.type = 'button';
        b.setAttribute('aria-expanded', open ? 'true' : 'false');
        b.addEventListener('click', function () { expanded[key] = !open; schedule(0); });
        cell.appendChild(b);
      } else {
        cell.textContent = '\u2013';
        cell.classList.add('zero');
      }
      tr.appendChild(cell);
      frag.appendChild(tr);
      if (open) {
        s.peers.forEach(function (p) { frag.appendChild(peerRow(p, false)); });
        if (s.other_peers) { frag.appendChild(peerRow(s.other_peers, true)); }
      }
    });
    if (data.workloads.length === 0) {
      var tr = el('tr', 'empty');
      var td = el('td', null, 'no workload series match');
      td.colSpan = 13;
      tr.appendChild(td);
      frag.appendChild(tr);
    }
    $('wl-rows').replaceChildren(frag);
    document.body.dataset.updated = String(Date.now());
  }

  // ---- view selection ----------------------------------------------------------------------------

  function showView() {
    document.body.dataset.view = state.view;
    document.querySelectorAll('#views [data-view]').forEach(function (b) {
      b.setAttribute('aria-selected', b.dataset.view === state.view ? 'true' : 'false');
    });
    document.querySelectorAll('section.view').forEach(function (sec) {
      sec.hidden = sec.id !== 'view-' + state.view;
    });
  }

  function markSort() {
    markSorted('sort', state);
  }

  // The headers th[data-ATTR] of a view whose state s has sort and order: which one is sorted, and how.
  function markSorted(attr, s) {
    document.querySelectorAll('th[data-' + attr + ']').forEach(function (th) {
      var on = th.dataset[attr] === s.sort;
      th.classList.toggle('sorted', on);
      th.classList.toggle('asc', on && s.order === 'asc');
      th.setAttribute('aria-sort', on ? (s.order === 'asc' ? 'ascending' : 'descending') : 'none');
    });
  }

  // A click (or Enter, Space) on such a header sorts by it, descending; on the sorted one flips the order.
  function sortOnClick(attr, s, changed) {
    document.querySelectorAll('th[data-' + attr + ']').forEach(function (th) {
      th.tabIndex = 0;
      var pick = function () {
        if (s.sort === th.dataset[attr]) {
          s.order = s.order === 'desc' ? 'asc' : 'desc';
        } else {
          s.sort = th.dataset[attr];
          s.order = 'desc';
        }
        changed();
      };
      th.addEventListener('click', pick);
      th.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); pick(); } });
    });
  }

  function saveHash() {
    var p = new URLSearchParams();
    ['view', 'sort', 'order', 'direction', 'ip_type', 'iface', 'ip', 'workload', 'peers', 'expand', 'n'].forEach(function (k) {
      if (state[k] && !(k === 'sort' && state[k] === 'bits_10s') && !(k === 'order' && state[k] === 'desc') &&
          !(k === 'n' && state[k] === '50') && !(k === 'view' && state[k] === 'pairs') &&
          !(k === 'peers' && state[k] === '5')) { p.set(k, state[k]); }
    });
    var h = p.toString();
    history.replaceState(null, '', h ? '#' + h : location.pathname + location.search);
  }

  function loadHash() {
    var p = new URLSearchParams(location.hash.replace(/^#/, ''));
    ['view', 'sort', 'order', 'direction', 'ip_type', 'iface', 'ip', 'workload', 'peers', 'expand', 'n'].forEach(function (k) {
      if (p.has(k)) { state[k] = p.get(k); }
    });
    if (!document.getElementById('view-' + state.view)) { state.view = 'pairs'; }
    $('f-workload').value = state.workload;
    $('f-peers').value = state.peers;
    $('f-expand').checked = state.expand === '1';
    $('f-direction').value = state.direction;
    $('f-ip_type').value = state.ip_type;
    $('f-ip').value = state.ip;
    $('f-n').value = state.n;
    if (state.iface) {
      var o = el('option', null, shown(state.iface));
      o.value = state.iface;
      $('f-iface').appendChild(o);
      $('f-iface').value = state.iface;
    }
  }

  function changed() {
    saveHash();
    markSort();
    showView();
    schedule(0);
  }

  function init() {
    rateHeaders();
    loadHash();
    markSort();
    showView();
    document.querySelectorAll('#views [data-view]').forEach(function (b) {
      b.addEventListener('click', function () {
        if (state.view === b.dataset.view) { return; }
        state.view = b.dataset.view;
        $('status').textContent = 'loading…';
        changed();
      });
    });
    $('f-peers').addEventListener('change', function (e) { state.peers = e.target.value; changed(); });
    $('f-expand').addEventListener('change', function (e) { state.expand = e.target.checked ? '1' : ''; changed(); });
    var wlDebounce = null;
    $('f-workload').addEventListener('input', function (e) {
      state.workload = e.target.value.trim();
      if (wlDebounce) { clearTimeout(wlDebounce); }
      wlDebounce = setTimeout(changed, 200);
    });
    sortOnClick('sort', state, changed);
    ['direction', 'ip_type', 'iface', 'n'].forEach(function (k) {
      $('f-' + k).addEventListener('change', function (e) { state[k] = e.target.value; changed(); });
    });
    var debounce = null;
    $('f-ip').addEventListener('input', function (e) {
      state.ip = e.target.value.trim();
      if (debounce) { clearTimeout(debounce); }
      debounce = setTimeout(changed, 200);
    });
    $('f-pause').addEventListener('change', function (e) {
      state.paused = e.target.checked;
      if (!state.paused) { schedule(0); } else { $('status').textContent = 'paused'; }
    });
    $('filters').addEventListener('submit', function (e) { e.preventDefault(); });
    poll();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
}());
