// The Processes view (nethogs-like): ./api/v1/processes polled every second while
// the tab is shown. Formatting comes from live.js (window.LiveFormat). No inline code (CSP).
'use strict';
(function () {
  var WINDOWS = ['2s', '10s', '40s'];
  var INTERVAL_MS = 1000;
  var state = { sort: 'bits_10s', order: 'desc', direction: '', filter: '', n: '50' };
  var timer = null;
  var inFlight = null;
  var seq = 0;

  function $(id) { return document.getElementById(id); }

  function active() { return document.body.dataset.view === 'processes'; }

  function params() {
    var p = new URLSearchParams();
    p.set('n', state.n);
    p.set('sort', state.sort);
    if (state.order === 'asc') { p.set('order', 'asc'); }
    if (state.direction) { p.set('direction', state.direction); }
    if (state.filter) { p.set('filter', state.filter); }
    return p.toString();
  }

  function schedule(ms) {
    if (timer !== null) { clearTimeout(timer); }
    timer = setTimeout(poll, ms);
  }

  function poll() {
    timer = null;
    if (!active()) { return; }
    var mine = ++seq;
    if (inFlight) { inFlight.abort(); }
    var ctrl = typeof AbortController === 'function' ? new AbortController() : null;
    inFlight = ctrl;
    var url = './api/v1/processes?' + params();
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
        if (mine !== seq || !active()) { return; }
        render(data);
      })
      .catch(function (e) {
        if (e && e.name === 'AbortError') { return; }
        var s = $('p-status');
        s.className = 'error';
        s.textContent = 'cannot read ./api/v1/processes: ' + (e && e.message ? e.message : e) + ' (retrying)';
      })
      .then(function () {
        if (mine === seq) { inFlight = null; schedule(INTERVAL_MS); }
      });
  }

  function render(data) {
    var f = window.LiveFormat;
    ['inbound', 'outbound'].forEach(function (dir) {
      var t = data.totals[dir];
      var box = $('p-total-' + dir);
      if (!t) { return; }
      WINDOWS.forEach(function (w) {
        var span = box.querySelector('.rates [data-w="' + w + '"]');
        span.textContent = f.bits(t.bits_per_second[w]);
        span.dataset.value = String(t.bits_per_second[w]);
      });
      box.querySelector('.cum').textContent = f.bytes(t.bytes) + ', ' + t.packets + ' packets';
      box.dataset.bytes = String(t.bytes);
    });
    var frag = document.createDocumentFragment();
    data.processes.forEach(function (p) {
      var tr = f.el('tr', p.pid === 0 ? 'unknown' : null);
      tr.dataset.pid = String(p.pid);
      tr.dataset.comm = p.comm;
      tr.dataset.workload = p.workload;
      tr.dataset.direction = p.direction;
      tr.dataset.packets = String(p.packets);
      tr.dataset.bytes = String(p.bytes);
      tr.appendChild(f.el('td', 'num pid', p.pid === 0 ? '–' : String(p.pid)));
      tr.appendChild(f.el('td', 'comm', p.comm));
      tr.appendChild(f.el('td', 'workload', p.workload));
      tr.appendChild(f.el('td', 'kind', p.kind));
      tr.appendChild(f.el('td', 'dir ' + p.direction, p.direction === 'inbound' ? '\u2193 in' : '\u2191 out'));
      WINDOWS.forEach(function (w) { tr.appendChild(f.numCell(p.bits_per_second[w], f.bits)); });
      WINDOWS.forEach(function (w) { tr.appendChild(f.numCell(p.packets_per_second[w], f.pps)); });
      var cum = f.numCell(p.bytes, f.bytes);
      cum.title = p.packets + ' packets';
      tr.appendChild(cum);
      var sp = f.el('td', 'spark');
      sp.appendChild(f.sparkline(p.last_minute_bits_per_second));
      tr.appendChild(sp);
      frag.appendChild(tr);
    });
    if (data.processes.length === 0) {
      var tr = f.el('tr', 'empty');
      var td = f.el('td', null, 'no process matches');
      td.colSpan = 13;
      tr.appendChild(td);
      frag.appendChild(tr);
    }
    $('p-rows').replaceChildren(frag);
    var s = $('p-status');
    s.className = '';
    s.textContent = data.matched + (data.matched === 1 ? ' row matches' : ' rows match') +
      (data.processes.length < data.matched ? ', showing the top ' + data.processes.length : '') +
      ' · updated ' + new Date(data.time).toLocaleTimeString() +
      (data.covered_seconds < 40 ? ' · warming up: ' + data.covered_seconds + ' s of history so far' : '');
    document.body.dataset.processesUpdated = String(Date.now());
  }

  function markSort() {
    document.querySelectorAll('th[data-psort]').forEach(function (th) {
      var on = th.dataset.psort === state.sort;
      th.classList.toggle('sorted', on);
      th.classList.toggle('asc', on && state.order === 'asc');
      th.setAttribute('aria-sort', on ? (state.order === 'asc' ? 'ascending' : 'descending') : 'none');
    });
  }

  function changed() {
    markSort();
    schedule(0);
  }

  function init() {
    // live.js owns the tab bar and the #fragment; it fires "viewchange" when the view changes.
    document.addEventListener('viewchange', function () {
      if (active()) { schedule(0); } else if (inFlight) { inFlight.abort(); inFlight = null; }
    });
    document.querySelectorAll('th[data-psort]').forEach(function (th) {
      th.tabIndex = 0;
      var pick = function () {
        if (state.sort === th.dataset.psort) {
          state.order = state.order === 'desc' ? 'asc' : 'desc';
        } else {
          state.sort = th.dataset.psort;
          state.order = 'desc';
        }
        changed();
      };
      th.addEventListener('click', pick);
      th.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); pick(); } });
    });
    $('p-direction').addEventListener('change', function (e) { state.direction = e.target.value; changed(); });
    $('p-n').addEventListener('change', function (e) { state.n = e.target.value; changed(); });
    var debounce = null;
    $('p-filter').addEventListener('input', function (e) {
      state.filter = e.target.value.trim();
      if (debounce) { clearTimeout(debounce); }
      debounce = setTimeout(changed, 200);
    });
    $('p-filters').addEventListener('submit', function (e) { e.preventDefault(); });
    markSort();
    if (active()) { schedule(0); } // opened with #view=processes: live.js showed it before this listened
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
}());
