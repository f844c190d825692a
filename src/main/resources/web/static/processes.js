// The Processes view (nethogs-like): its filters, sort and rows. live.js polls ./api/v1/processes every
// second while the tab is shown (window.LiveViews); formatting comes from it too (window.LiveFormat).
// No inline code (CSP).
'use strict';
(function () {
  var WINDOWS = ['2s', '10s', '40s'];
  var state = { sort: 'bits_10s', order: 'desc', direction: '', filter: '', n: '50' };

  function $(id) { return document.getElementById(id); }

  function params() {
    var p = new URLSearchParams();
    p.set('n', state.n);
    p.set('sort', state.sort);
    if (state.order === 'asc') { p.set('order', 'asc'); }
    if (state.direction) { p.set('direction', state.direction); }
    if (state.filter) { p.set('filter', state.filter); }
    return p.toString();
  }

  function render(data) {
    var f = window.LiveFormat;
    f.totals(data.totals, 'p-total-');
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
    window.LiveFormat.markSorted('psort', state);
  }

  function changed() {
    markSort();
    window.LiveViews.refresh('processes');
  }

  function init() {
    window.LiveFormat.sortOnClick('psort', state, changed);
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
    // live.js owns the tab bar and the #fragment: it polls this view while it is shown (at once, when the
    // page was opened with #view=processes).
    window.LiveViews.register('processes', {
      api: './api/v1/processes', status: 'p-status', noPause: true,
      url: function () { return './api/v1/processes?' + params(); }, render: render
    });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
}());
