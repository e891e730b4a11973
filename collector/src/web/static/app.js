// The hvmap page: a plain ES module, no framework and no build step. Everything it shows comes from
// the collector's API (/api/*); /live only says which views went stale. Text from agents (guest and
// host names) reaches the DOM through textContent only, never as HTML.

const PAGE_SIZE = 50;
/** A live link silent for this long is dead even if the socket has not noticed (the server ticks every 15 s). */
const LIVE_SILENCE_MS = 45_000;

const STATUS = {
  certified: { label: 'Certified', cls: 'ok' },
  'not-certified': { label: 'Not certified', cls: 'bad' },
  unknown: { label: 'Unknown', cls: 'unk' },
};
const VERDICT = {
  covered: { label: 'Covers', cls: 'ok' },
  excluded: { label: 'Excludes', cls: 'bad' },
  silent: { label: 'Silent', cls: 'neutral' },
};
const FAMILY = { windows: 'Windows', linux: 'Linux', bsd: 'BSD' };
const UNIDENTIFIED = 'unidentified';

// ---------------------------------------------------------------------------------------------
// DOM and formatting helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = String(dv);
    // Through CSSOM: the page's Content-Security-Policy refuses style attributes.
    else if (k === 'style') Object.assign(el.style, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

const fmt = new Intl.NumberFormat('en');
const num = (n) => fmt.format(n ?? 0);
const plural = (n, one, many = `${one}s`) => `${num(n)} ${n === 1 ? one : many}`;

function ago(iso) {
  if (!iso) return '–';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}
const time = (iso) => h('time', { datetime: iso, title: iso ?? '' }, ago(iso));

function chip(cls, text, title) {
  return h('span', { class: `chip ${cls}`, title }, text);
}
function statusChip(status) {
  const s = STATUS[status] ?? STATUS.unknown;
  return chip(s.cls, s.label);
}
const eolChip = (eol) => (eol ? chip('eol', 'End of life', `past end of support since ${eol.date}`) : null);

function hypervisorLabel(hv) {
  return hv?.name ?? (hv?.product ? `${hv.product} (not identified)` : 'Not identified');
}

function bytes(n) {
  if (!n) return '–';
  const gib = n / 1024 ** 3;
  return gib >= 1 ? `${gib.toFixed(gib >= 10 ? 0 : 1)} GiB` : `${Math.round(n / 1024 ** 2)} MiB`;
}

function sourceLink(source) {
  if (!source) return null;
  if (/^https?:\/\//.test(source))
    return h('a', { href: source, target: '_blank', rel: 'noopener noreferrer' }, source);
  return h('span', {}, source);
}

// ---------------------------------------------------------------------------------------------
// API access and the unreachable banner

class Unreachable extends Error {}

async function api(path, params = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, v);
  let res;
  try {
    res = await fetch(url, { headers: { accept: 'application/json' }, credentials: 'same-origin' });
  } catch {
    showBanner('The last request did not reach the collector; retrying when it answers.');
    throw new Unreachable('collector unreachable');
  }
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    throw new Error(body.message ?? `the collector answered ${res.status}`);
  }
  return res.json();
}

const banner = document.getElementById('banner');
function showBanner(detail) {
  document.getElementById('banner-detail').textContent = detail;
  banner.hidden = false;
}
function hideBanner() {
  banner.hidden = true;
}

/** Runs `fn` one at a time; calls made while it runs collapse into one more run. */
function serialised(fn) {
  let running = null;
  let again = false;
  const run = () => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        await fn();
      } catch (err) {
        if (!(err instanceof Unreachable)) console.error(err);
      } finally {
        running = null;
        if (again) {
          again = false;
          run();
        }
      }
    })();
    return running;
  };
  return run;
}

// ---------------------------------------------------------------------------------------------
// Routing: #/ (overview), #/hosts, #/hosts/NAME, #/guests, #/alerts, #/agents; filters in the query

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)) };
}

function hashOf(parts, params = {}) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') qs.set(k, v);
  const s = qs.toString();
  return `#/${parts.map(encodeURIComponent).join('/')}${s ? `?${s}` : ''}`;
}

/** Filters change the address without a new history entry and without remounting the view. */
function replaceParams(params) {
  const { parts } = parseHash();
  history.replaceState(null, '', hashOf(parts, params));
}

// ---------------------------------------------------------------------------------------------
// Shared state: the catalog's program titles and the matrix's hypervisors and OSes (filter choices)

const shared = { programs: [], catalogVersion: '', matrix: null };

async function loadCatalog() {
  const c = await api('/api/catalog');
  shared.programs = c.programs;
  shared.catalogVersion = c.version;
  const certification = c.programs.filter((p) => p.kind === 'certification').length;
  document.getElementById('foot').textContent =
    `Catalog ${c.version} · ${certification} certification programs and vendor lifecycles · updates live`;
}
const programTitle = (name) => shared.programs.find((p) => p.program === name)?.title ?? name;

// ---------------------------------------------------------------------------------------------
// Summary cards (every view)

const refreshSummary = serialised(async () => {
  const s = await api('/api/summary');
  const g = s.guests;
  const pct = (n) => (g.total ? `${Math.round((100 * n) / g.total)}% of guests` : '');
  const card = (key, cls, label, value, sub, href) =>
    h(
      'a',
      { class: `card ${cls}`, href, dataset: { key, value } },
      h('div', { class: 'k' }, label),
      h('div', { class: 'v' }, value),
      h('div', { class: 's' }, sub),
    );
  document
    .getElementById('summary')
    .replaceChildren(
      card('guests', '', 'Guests', num(g.total), `on ${plural(s.hosts, 'host')}`, '#/guests'),
      card('certified', 'ok', 'Certified', num(g.certified), pct(g.certified), '#/guests?status=certified'),
      card(
        'not-certified',
        'bad',
        'Not certified',
        num(g.notCertified),
        pct(g.notCertified),
        '#/guests?status=not-certified',
      ),
      card('unknown', 'unk', 'Unknown', num(g.unknown), pct(g.unknown), '#/guests?status=unknown'),
      card('eol', 'eol', 'End of life', num(g.eol), 'past end of support', '#/guests?eol=true'),
      card('hosts', '', 'Hosts', num(s.hosts), 'reporting hypervisors', '#/hosts'),
      card(
        'agents',
        '',
        'Agents connected',
        `${num(s.agents.connected)} / ${num(s.agents.active)}`,
        s.agents.polled
          ? `+ ${num(s.agents.polled)} polled over SSH${s.agents.pollsFailing ? `, ${num(s.agents.pollsFailing)} failing` : ''}`
          : 'live connections',
        '#/agents',
      ),
      card(
        'alerts',
        s.alerts.critical ? 'bad' : '',
        'Open alerts',
        num(s.alerts.firing),
        `${num(s.alerts.critical)} critical`,
        '#/alerts',
      ),
    );
  const badge = document.getElementById('alert-count');
  badge.hidden = !s.alerts.firing;
  badge.textContent = num(s.alerts.firing);
  if (s.catalogVersion !== shared.catalogVersion) await loadCatalog();
});

// ---------------------------------------------------------------------------------------------
// Reusable pieces: a paged table, a guest table, select boxes

/** A list view's panel: a head with its title, a hint and a slot for the export link, filters, a body. */
function listPanel(root, title, hint, exportAttrs = {}) {
  const body = h('div');
  const controls = h('div', { class: 'toolbar' });
  const exportSlot = h('span', exportAttrs);
  const head = [
    h('h2', {}, title),
    hint ? h('span', { class: 'hint' }, hint) : null,
    h('span', { class: 'spacer' }),
    exportSlot,
  ];
  root.append(
    h(
      'section',
      { class: 'panel' },
      h('div', { class: 'panel-head' }, head),
      h('div', { class: 'panel-body' }, controls),
      body,
    ),
  );
  return { body, controls, exportSlot };
}

/** A filter changed: back to the first page, into the address, and fetch again. */
function refilter(state, view, key, value) {
  state[key] = value;
  delete state.offset;
  replaceParams(state);
  view.refresh();
}

/** A page of a table and its pager; turning the page keeps the view's state in the address. */
function pagedTable(attrs, headers, rows, page, state, view) {
  return [
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        attrs,
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            headers.map((t) => h('th', {}, t)),
          ),
        ),
        h('tbody', {}, rows),
      ),
    ),
    pager(page, (o) => {
      state.offset = o;
      replaceParams(state);
      view.refresh();
    }),
  ];
}

function pager(page, onPage) {
  const first = page.total ? page.offset + 1 : 0;
  const last = page.offset + page.items.length;
  return h(
    'div',
    { class: 'pager' },
    h('span', { class: 'range', dataset: { total: page.total } }, `${num(first)}–${num(last)} of ${num(page.total)}`),
    h(
      'div',
      { class: 'btns' },
      h(
        'button',
        { class: 'btn', disabled: page.offset === 0, onclick: () => onPage(Math.max(0, page.offset - page.limit)) },
        '‹ Previous',
      ),
      h(
        'button',
        { class: 'btn', disabled: page.nextOffset === null, onclick: () => onPage(page.nextOffset) },
        'Next ›',
      ),
    ),
  );
}

function select(name, label, options, value, onchange) {
  return h(
    'label',
    {},
    label,
    h(
      'select',
      { name, onchange: (e) => onchange(e.target.value) },
      options.map(([v, text]) => h('option', { value: v, selected: v === (value ?? '') }, text)),
    ),
  );
}

function searchBox(placeholder, value, oninput) {
  let timer;
  return h(
    'label',
    {},
    'Search',
    h('input', {
      type: 'search',
      name: 'q',
      placeholder,
      value: value ?? '',
      oninput: (e) => {
        clearTimeout(timer);
        timer = setTimeout(() => oninput(e.target.value.trim()), 250);
      },
    }),
  );
}

function guestRows(page, { showHost = true } = {}) {
  if (!page.items.length)
    return [h('tr', {}, h('td', { colspan: 7, class: 'empty' }, 'No guest matches these filters.'))];
  return page.items.map((g) =>
    h(
      'tr',
      {
        class: `clickable${g.removedAt ? ' removed' : ''}`,
        dataset: { host: g.host, key: g.key, status: g.status, name: g.name },
        onclick: () => drawer.open(g.host, g.key),
        title: 'Show the verdict and its sources',
      },
      h('td', {}, h('div', {}, g.name), h('div', { class: 'sub mono' }, g.uuid)),
      showHost
        ? h('td', {}, h('a', { href: hashOf(['hosts', g.host]), onclick: (e) => e.stopPropagation() }, g.host))
        : null,
      showHost ? h('td', {}, g.hypervisor.name ?? h('span', { class: 'sub' }, 'not identified')) : null,
      h('td', { class: 'os' }, g.os ? g.os.name : h('span', { class: 'sub' }, `not identified (${g.osUnknownReason})`)),
      h(
        'td',
        {},
        g.removedAt ? h('span', { class: 'sub', title: g.removedAt }, `removed ${ago(g.removedAt)}`) : g.state,
      ),
      h('td', { class: 'status' }, h('div', { class: 'counts' }, statusChip(g.status), eolChip(g.eol))),
    ),
  );
}

function guestTable(page, opts) {
  const withHost = opts?.showHost !== false;
  const head = ['Guest', withHost && 'Host', withHost && 'Hypervisor', 'Guest OS', 'State', 'Status'].filter(Boolean);
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'data guests', dataset: { total: page.total } },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          head.map((t) => h('th', {}, t)),
        ),
      ),
      h('tbody', {}, guestRows(page, opts)),
    ),
  );
}

function csvLink(path, params) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params)) if (v) url.searchParams.set(k, v);
  url.searchParams.set('format', 'csv');
  return h('a', { class: 'btn', href: `${url.pathname}${url.search}`, download: '' }, 'Export CSV');
}

// ---------------------------------------------------------------------------------------------
// Views. Each returns { deps, refresh(changedHosts) }: deps are the API views it shows.

function cellClass(c) {
  if (c.notCertified) return 'bad';
  if (c.eol) return 'eol';
  if (c.unknown) return 'unk';
  return 'ok';
}
const CELL_TAG = { ok: 'certified', bad: 'not certified', unk: 'unknown', eol: 'end of life' };

function matrixCell(c) {
  const cls = cellClass(c);
  const parts = [
    c.certified && `${c.certified} certified`,
    c.notCertified && `${c.notCertified} not certified`,
    c.unknown && `${c.unknown} unknown`,
    c.eol && `${c.eol} past end of life`,
  ].filter(Boolean);
  const mixed = [c.certified, c.notCertified, c.unknown].filter((n) => n > 0).length > 1;
  const tag = cls !== 'eol' && c.eol ? `${CELL_TAG[cls]} · EOL` : CELL_TAG[cls];
  return h(
    'button',
    {
      class: `cell ${cls}`,
      title: `${parts.join(', ')}. Show these guests.`,
      dataset: {
        hypervisor: c.hypervisor ?? UNIDENTIFIED,
        os: c.os ?? UNIDENTIFIED,
        total: c.total,
        certified: c.certified,
        notCertified: c.notCertified,
        unknown: c.unknown,
        eol: c.eol,
      },
      onclick: () => {
        location.hash = hashOf(['guests'], { hypervisor: c.hypervisor ?? UNIDENTIFIED, os: c.os ?? UNIDENTIFIED });
      },
    },
    h('span', { class: 'n' }, num(c.total)),
    h('span', { class: 'tag' }, tag),
    mixed
      ? h(
          'span',
          { class: 'bar' },
          [
            ['ok', c.certified],
            ['bad', c.notCertified],
            ['unk', c.unknown],
          ]
            .filter(([, n]) => n)
            .map(([k, n]) => h('i', { class: k, style: { width: `${(100 * n) / c.total}%` } })),
        )
      : null,
  );
}

function matrixTable(m) {
  if (!m.cells.length)
    return h('div', { class: 'empty' }, 'No guests reported yet. Agents appear here as their first snapshot arrives.');
  const cells = new Map(m.cells.map((c) => [`${c.hypervisor}\u0000${c.os}`, c]));
  const rows = [];
  let family;
  for (const os of m.oses) {
    const fam = os.id === null ? 'Not identified' : (FAMILY[os.family] ?? os.family);
    if (fam !== family) {
      family = fam;
      rows.push(
        h(
          'tr',
          { class: 'group' },
          h('th', {}, fam),
          m.hypervisors.map(() => h('td')),
        ),
      );
    }
    rows.push(
      h(
        'tr',
        { dataset: { os: os.id ?? UNIDENTIFIED } },
        h('th', { scope: 'row' }, os.name, h('span', { class: 'fam' }, plural(os.guests, 'guest'))),
        m.hypervisors.map((hv) => {
          const c = cells.get(`${hv.id}\u0000${os.id}`);
          return c ? h('td', {}, matrixCell(c)) : h('td', { class: 'none', title: 'no guests' });
        }),
      ),
    );
  }
  return h(
    'div',
    { class: 'matrix-wrap' },
    h(
      'table',
      { class: 'matrix' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { class: 'corner' }, 'Guest OS ↓   Hypervisor →'),
          m.hypervisors.map((hv) =>
            h(
              'th',
              { dataset: { hypervisor: hv.id ?? UNIDENTIFIED } },
              hypervisorLabel(hv),
              h('span', { class: 'sub' }, `${plural(hv.hosts, 'host')} · ${plural(hv.guests, 'guest')}`),
            ),
          ),
        ),
      ),
      h('tbody', {}, rows),
    ),
  );
}

function legend() {
  return h(
    'div',
    { class: 'legend' },
    [
      ['ok', 'Certified'],
      ['bad', 'Not certified'],
      ['unk', 'Unknown'],
      ['eol', 'End of life'],
    ].map(([cls, text]) => h('span', {}, h('i', { class: `swatch ${cls}` }), text)),
  );
}

function alertItems(alerts) {
  if (!alerts.items.length) return h('div', { class: 'empty' }, 'No open alerts.');
  return h(
    'ul',
    { class: 'alert-list' },
    alerts.items.map((a) =>
      h(
        'li',
        { dataset: { key: a.key } },
        h(
          'div',
          { class: 'meta' },
          chip(a.severity === 'critical' ? 'bad' : 'eol', a.severity),
          h('span', {}, a.kind),
          h('span', {}, '·'),
          time(a.firedAt),
        ),
        h(
          'div',
          { class: 'msg' },
          a.guestKey && a.host
            ? h(
                'a',
                {
                  href: '#',
                  class: 'quiet',
                  onclick: (e) => {
                    e.preventDefault();
                    drawer.open(a.host, a.guestKey);
                  },
                },
                a.message,
              )
            : a.message,
        ),
      ),
    ),
  );
}

function overviewView(root) {
  const matrixBody = h('div');
  const alertsBody = h('div');
  const alertsHint = h('span', { class: 'hint' });
  const hvHint = h('span', { class: 'hint' });
  root.append(
    h(
      'div',
      { class: 'overview' },
      h(
        'section',
        { class: 'panel', id: 'matrix' },
        h(
          'div',
          { class: 'panel-head' },
          h('h2', {}, 'Compatibility matrix'),
          hvHint,
          h('span', { class: 'spacer' }),
          csvLink('/api/matrix', {}),
        ),
        h(
          'div',
          { class: 'panel-sub' },
          legend(),
          h('span', { class: 'hint' }, 'Each cell: guests of that OS on that hypervisor. Click one for its guests.'),
        ),
        matrixBody,
      ),
      h(
        'section',
        { class: 'panel', id: 'open-alerts' },
        h(
          'div',
          { class: 'panel-head' },
          h('h2', {}, 'Open alerts'),
          alertsHint,
          h('span', { class: 'spacer' }),
          h('a', { href: '#/alerts' }, 'All alerts'),
        ),
        alertsBody,
      ),
    ),
  );
  return {
    deps: ['matrix', 'alerts'],
    refresh: serialised(async () => {
      const [m, alerts] = await Promise.all([api('/api/matrix'), api('/api/alerts', { state: 'firing', limit: 8 })]);
      shared.matrix = m;
      hvHint.textContent = `${plural(m.oses.length, 'guest OS', 'guest OSes')} × ${plural(m.hypervisors.length, 'hypervisor')}`;
      matrixBody.replaceChildren(matrixTable(m));
      alertsHint.textContent =
        alerts.total > alerts.items.length ? `latest ${alerts.items.length} of ${num(alerts.total)}` : '';
      alertsBody.replaceChildren(alertItems(alerts));
    }),
  };
}

async function filterChoices() {
  shared.matrix ??= await api('/api/matrix');
  return shared.matrix;
}

function guestsView(root, params) {
  const state = Object.fromEntries(params);
  const { body, controls, exportSlot } = listPanel(
    root,
    'Guests',
    'click a guest for its verdict, programs and sources',
  );
  const set = (k, v) => refilter(state, view, k, v);
  const buildControls = async () => {
    const m = await filterChoices();
    controls.replaceChildren(
      searchBox('name, UUID, host or OS', state.q, (v) => set('q', v)),
      select(
        'status',
        'Status',
        [
          ['', 'Any status'],
          ['certified', 'Certified'],
          ['not-certified', 'Not certified'],
          ['unknown', 'Unknown'],
        ],
        state.status,
        (v) => set('status', v),
      ),
      select(
        'eol',
        'End of life',
        [
          ['', 'Any'],
          ['true', 'Past end of support'],
          ['false', 'Supported'],
        ],
        state.eol,
        (v) => set('eol', v),
      ),
      select(
        'hypervisor',
        'Hypervisor',
        [['', 'Any hypervisor'], ...m.hypervisors.map((hv) => [hv.id ?? UNIDENTIFIED, hypervisorLabel(hv)])],
        state.hypervisor,
        (v) => set('hypervisor', v),
      ),
      select('os', 'Guest OS', [['', 'Any OS'], ...m.oses.map((o) => [o.id ?? UNIDENTIFIED, o.name])], state.os, (v) =>
        set('os', v),
      ),
      select(
        'program',
        'Program',
        [
          ['', 'Any program'],
          ...shared.programs.filter((p) => p.kind === 'certification').map((p) => [p.program, p.title]),
        ],
        state.program,
        (v) => set('program', v),
      ),
      select(
        'verdict',
        'Its verdict',
        [
          ['', 'Covers or excludes'],
          ['covered', 'Covers'],
          ['excluded', 'Excludes'],
          ['silent', 'Silent'],
        ],
        state.verdict,
        (v) => set('verdict', v),
      ),
      select(
        'removed',
        'Presence',
        [
          ['', 'On their hosts'],
          ['include', 'Include removed'],
          ['only', 'Removed only'],
        ],
        state.removed,
        (v) => set('removed', v),
      ),
    );
  };
  const view = {
    deps: ['guests'],
    refresh: serialised(async () => {
      if (!controls.childElementCount) await buildControls();
      const { offset, ...filters } = state;
      const page = await api('/api/guests', { ...filters, limit: PAGE_SIZE, offset });
      exportSlot.replaceChildren(csvLink('/api/guests', filters));
      body.replaceChildren(
        guestTable(page),
        pager(page, (o) => {
          state.offset = o;
          replaceParams(state);
          view.refresh();
        }),
      );
    }),
  };
  return view;
}

function hostCounts(c) {
  return h(
    'div',
    { class: 'counts' },
    c.certified ? chip('ok', `${num(c.certified)} certified`) : null,
    c.notCertified ? chip('bad', `${num(c.notCertified)} not certified`) : null,
    c.unknown ? chip('unk', `${num(c.unknown)} unknown`) : null,
    c.eol ? chip('eol', `${num(c.eol)} EOL`) : null,
    c.total ? null : h('span', { class: 'sub' }, 'no guests'),
  );
}

const connection = (on) =>
  h('span', {}, h('i', { class: `dot-state${on ? ' on' : ''}` }), on ? 'connected' : 'offline');

/** A polled host's connection: whether its last poll read it. */
const pollState = (a) =>
  h(
    'span',
    {},
    h('i', { class: `dot-state${a.connected ? ' on' : ''}` }),
    a.connected ? 'read' : a.pollError ? 'poll failing' : 'not read yet',
  );

function hostsView(root, params) {
  const state = Object.fromEntries(params);
  const { body, controls, exportSlot } = listPanel(root, 'Hosts', 'click a host for its guests');
  const set = (k, v) => refilter(state, view, k, v);
  const view = {
    deps: ['hosts'],
    refresh: serialised(async () => {
      if (!controls.childElementCount) {
        const m = await filterChoices();
        controls.replaceChildren(
          searchBox('hostname, agent or hypervisor', state.q, (v) => set('q', v)),
          select(
            'hypervisor',
            'Hypervisor',
            [['', 'Any hypervisor'], ...m.hypervisors.map((hv) => [hv.id ?? UNIDENTIFIED, hypervisorLabel(hv)])],
            state.hypervisor,
            (v) => set('hypervisor', v),
          ),
          select(
            'status',
            'With guests',
            [
              ['', 'Any'],
              ['not-certified', 'Not certified'],
              ['unknown', 'Unknown'],
              ['certified', 'Certified'],
            ],
            state.status,
            (v) => set('status', v),
          ),
        );
      }
      const { offset, ...filters } = state;
      const page = await api('/api/hosts', { ...filters, limit: PAGE_SIZE, offset });
      exportSlot.replaceChildren(csvLink('/api/hosts', filters));
      const rows = page.items.length
        ? page.items.map((host) =>
            h(
              'tr',
              {
                class: 'clickable',
                dataset: { host: host.hostname },
                onclick: () => (location.hash = hashOf(['hosts', host.hostname])),
              },
              h('td', {}, h('div', {}, host.hostname), h('div', { class: 'sub' }, `agent ${host.agent}`)),
              h(
                'td',
                {},
                hypervisorLabel(host.hypervisor),
                host.partial ? h('div', { class: 'sub' }, 'partial report') : null,
              ),
              h('td', { class: 'num' }, num(host.guests.total)),
              h('td', {}, hostCounts(host.guests)),
              h('td', {}, connection(host.connected)),
              h('td', {}, time(host.lastContact)),
            ),
          )
        : [h('tr', {}, h('td', { colspan: 6, class: 'empty' }, 'No host matches.'))];
      body.replaceChildren(
        ...pagedTable(
          { class: 'data hosts', dataset: { total: page.total } },
          ['Host', 'Hypervisor', 'Guests', 'Status', 'Agent', 'Last contact'],
          rows,
          page,
          state,
          view,
        ),
      );
    }),
  };
  return view;
}

function hostView(root, hostname, params) {
  const state = Object.fromEntries(params);
  const head = h('div', { class: 'panel-body' });
  const title = h('div', { class: 'panel-head' }, h('h2', {}, hostname));
  const guests = h('div');
  const whatIf = whatIfPanel(hostname);
  root.append(
    h('div', { class: 'crumbs' }, h('a', { href: '#/hosts' }, 'Hosts'), ' / ', hostname),
    h('section', { class: 'panel', id: 'host' }, title, head),
    whatIf.panel,
    h(
      'section',
      { class: 'panel' },
      h(
        'div',
        { class: 'panel-head' },
        h('h2', {}, 'Guests on this host'),
        h('span', { class: 'spacer' }),
        csvLink('/api/guests', { host: hostname, removed: 'include' }),
      ),
      guests,
    ),
  );
  const view = {
    deps: ['hosts', 'guests'],
    host: hostname,
    refresh: serialised(async () => {
      const [host, page] = await Promise.all([
        api(`/api/hosts/${encodeURIComponent(hostname)}`),
        api('/api/guests', { host: hostname, removed: 'include', limit: PAGE_SIZE, offset: state.offset }),
      ]);
      whatIf.setAgent(host.agent);
      const f = host.facts ?? {};
      const fact = (k, v) => h('div', {}, h('span', { class: 'k' }, k), h('span', {}, v ?? '–'));
      title.replaceChildren(
        h('h2', {}, hostname),
        h('span', { class: 'hint' }, hypervisorLabel(host.hypervisor)),
        h('span', { class: 'spacer' }),
        connection(host.connected),
      );
      head.replaceChildren(
        h(
          'div',
          { class: 'facts' },
          fact('Hypervisor', hypervisorLabel(host.hypervisor)),
          fact('Management', host.reported?.managementStack),
          fact('Host OS', host.reported?.hostOs ?? f.os?.distro),
          fact('Kernel', f.os?.kernel),
          fact('CPU', f.cpu?.brand ? `${f.cpu.brand}${f.cpu.cores ? ` · ${f.cpu.cores} cores` : ''}` : null),
          fact('Memory', bytes(f.memoryBytes)),
          fact('Agent', host.agent),
          fact('Last contact', time(host.lastContact)),
          fact('Last report', time(host.lastReport)),
          fact('Guests', hostCounts(host.guests)),
        ),
        host.errors.length
          ? h(
              'div',
              {},
              h('h3', {}, `Driver errors (${host.partial ? 'partial report' : 'report complete'})`),
              h(
                'ul',
                {},
                host.errors.map((e) => h('li', {}, h('code', {}, e.code), ` ${e.message}`)),
              ),
            )
          : '',
      );
      guests.replaceChildren(
        guestTable(page, { showHost: false }),
        pager(page, (o) => {
          state.offset = o;
          replaceParams(state);
          view.refresh();
        }),
      );
    }),
  };
  return view;
}

/**
 * "What if this host ran …": the plan API's answer for this host on another hypervisor, listing the
 * guests whose verdict would change (losses first, as the API orders them), without leaving the page.
 */
function whatIfPanel(hostname) {
  let agent = hostname;
  const input = h('input', {
    id: 'whatif-to',
    list: 'whatif-hypervisors',
    placeholder: 'Hyper-V on Windows Server 2022',
    size: 36,
  });
  const suggestions = h('datalist', { id: 'whatif-hypervisors' });
  const result = h('div', { id: 'whatif-result', class: 'panel-body' });
  const form = h(
    'form',
    { id: 'whatif', class: 'controls' },
    h('label', { for: 'whatif-to' }, 'What if this host ran'),
    input,
    suggestions,
    h('button', { type: 'submit' }, 'Show the changes'),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    result.replaceChildren(h('p', { class: 'hint' }, 'Planning…'));
    try {
      const plan = await api('/api/plan', { host: agent, to: input.value });
      const changed = plan.guests.filter((g) => g.change !== 'unchanged');
      result.replaceChildren(
        h('p', { id: 'whatif-summary' }, plan.summary),
        changed.length
          ? h(
              'table',
              { class: 'data' },
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  ['Guest', 'OS', 'Now', 'After', 'Decided by'].map((c) => h('th', {}, c)),
                ),
              ),
              h(
                'tbody',
                {},
                changed.map((g) =>
                  h(
                    'tr',
                    { dataset: { name: g.name, change: g.change } },
                    h('td', {}, g.name),
                    h('td', {}, g.os?.name ?? 'not identified'),
                    h('td', { class: 'status' }, statusChip(g.now.status)),
                    h('td', { class: 'status' }, statusChip(g.after.status), g.after.partial ? ' (partial list)' : ''),
                    h('td', {}, g.after.deciding.map((d) => d.program).join(', ') || g.after.why.join('; ')),
                  ),
                ),
              ),
            )
          : h('p', { class: 'hint' }, 'No guest’s verdict would change.'),
      );
    } catch (err) {
      if (err instanceof Unreachable) return;
      result.replaceChildren(h('p', { class: 'error', id: 'whatif-error' }, err.message));
    }
  });
  api('/api/matrix')
    .then((m) => suggestions.replaceChildren(...m.hypervisors.map((hv) => h('option', { value: hv.name }))))
    .catch(() => {});
  return {
    panel: h(
      'section',
      { class: 'panel', id: 'whatif-panel' },
      h('div', { class: 'panel-head' }, h('h2', {}, 'What if')),
      form,
      result,
    ),
    setAgent(name) {
      agent = name;
    },
  };
}

function alertsView(root, params) {
  const state = { state: 'firing', ...Object.fromEntries(params) };
  const { body, controls } = listPanel(root, 'Alerts', null, { id: 'alerts-export' });
  const set = (k, v) => refilter(state, view, k, v);
  controls.append(
    select(
      'state',
      'State',
      [
        ['firing', 'Firing'],
        ['resolved', 'Resolved'],
        ['all', 'All'],
      ],
      state.state,
      (v) => set('state', v),
    ),
    select(
      'kind',
      'Kind',
      [
        ['', 'Any kind'],
        ...['guest-not-certified', 'guest-eol', 'guest-os-unknown', 'host-silent', 'agent-error'].map((k) => [k, k]),
      ],
      state.kind,
      (v) => set('kind', v),
    ),
  );
  const view = {
    deps: ['alerts'],
    refresh: serialised(async () => {
      const filters = { state: state.state === 'all' ? undefined : state.state, kind: state.kind };
      const page = await api('/api/alerts', { ...filters, limit: PAGE_SIZE, offset: state.offset });
      root.querySelector('#alerts-export').replaceChildren(csvLink('/api/alerts', filters));
      const rows = page.items.length
        ? page.items.map((a) =>
            h(
              'tr',
              {
                class: a.guestKey ? 'clickable' : '',
                dataset: { key: a.key },
                onclick: a.guestKey && a.host ? () => drawer.open(a.host, a.guestKey) : undefined,
              },
              h('td', {}, chip(a.severity === 'critical' ? 'bad' : 'eol', a.severity)),
              h('td', {}, a.kind),
              h('td', {}, a.host ?? a.agent, a.guest ? h('div', { class: 'sub' }, a.guest) : null),
              h('td', {}, a.message),
              h('td', {}, time(a.firedAt)),
              h(
                'td',
                {},
                a.state === 'resolved'
                  ? h('span', { class: 'sub' }, `resolved ${ago(a.resolvedAt)}`)
                  : chip(
                      'neutral',
                      a.silencedUntil && a.silencedUntil > new Date().toISOString() ? 'silenced' : 'firing',
                    ),
              ),
            ),
          )
        : [h('tr', {}, h('td', { colspan: 6, class: 'empty' }, 'No alerts.'))];
      body.replaceChildren(
        ...pagedTable(
          { class: 'data alerts', dataset: { total: page.total } },
          ['Severity', 'Kind', 'Host', 'Message', 'Since', 'State'],
          rows,
          page,
          state,
          view,
        ),
      );
    }),
  };
  return view;
}

function agentsView(root, params) {
  const state = Object.fromEntries(params);
  const body = h('div');
  root.append(
    h(
      'section',
      { class: 'panel' },
      h(
        'div',
        { class: 'panel-head' },
        h('h2', {}, 'Agents'),
        h('span', { class: 'hint' }, 'one per token, and one per host polled over SSH'),
        h('span', { class: 'spacer' }),
        csvLink('/api/agents', {}),
      ),
      body,
    ),
  );
  const view = {
    deps: ['agents'],
    refresh: serialised(async () => {
      const page = await api('/api/agents', { limit: PAGE_SIZE, offset: state.offset });
      const rows = page.items.length
        ? page.items.map((a) =>
            h(
              'tr',
              { dataset: { agent: a.name } },
              h(
                'td',
                {},
                h('div', {}, a.name),
                a.kind === 'ssh'
                  ? h('div', { class: 'sub' }, 'polled over SSH')
                  : a.agentId
                    ? h('div', { class: 'sub mono' }, a.agentId)
                    : null,
              ),
              h(
                'td',
                {},
                a.host
                  ? h('a', { href: hashOf(['hosts', a.host]) }, a.host)
                  : h('span', { class: 'sub' }, 'no report yet'),
              ),
              h(
                'td',
                {},
                a.kind === 'ssh' ? pollState(a) : connection(a.connected),
                a.pollError ? h('div', { class: 'sub' }, a.pollError) : null,
              ),
              h('td', {}, a.kind === 'ssh' ? 'agentless' : (a.version ?? '–')),
              h('td', {}, time(a.lastContact)),
              h(
                'td',
                {},
                a.revokedAt
                  ? chip('bad', a.kind === 'ssh' ? 'not polled' : 'revoked')
                  : chip('ok', a.kind === 'ssh' ? 'polled' : 'active'),
              ),
            ),
          )
        : [
            h(
              'tr',
              {},
              h('td', { colspan: 6, class: 'empty' }, 'No agents yet: create a token with hvmap tokens create NAME.'),
            ),
          ];
      body.replaceChildren(
        ...pagedTable(
          { class: 'data agents', dataset: { total: page.total } },
          ['Agent', 'Host', 'Connection', 'Version', 'Last contact', 'Token'],
          rows,
          page,
          state,
          view,
        ),
      );
    }),
  };
  return view;
}

// ---------------------------------------------------------------------------------------------
// The guest drawer: one guest's verdict, every program consulted with its conditions and source

const drawer = {
  el: document.getElementById('drawer'),
  scrim: document.getElementById('scrim'),
  host: null,
  key: null,
  open(host, key) {
    this.host = host;
    this.key = key;
    this.el.hidden = false;
    this.scrim.hidden = false;
    this.el.replaceChildren(h('div', { class: 'drawer-body' }, h('p', { class: 'sub' }, 'Loading…')));
    this.refresh();
  },
  close() {
    this.host = null;
    this.el.hidden = true;
    this.scrim.hidden = true;
  },
  refresh: serialised(async () => {
    const { host, key } = drawer;
    if (!host) return;
    const g = await api(`/api/guests/${encodeURIComponent(host)}/${encodeURIComponent(key)}`);
    if (drawer.host !== host || drawer.key !== key) return;
    drawer.el.replaceChildren(guestDetail(g));
  }),
};
drawer.scrim.addEventListener('click', () => drawer.close());
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && drawer.host) drawer.close();
});

function guestDetail(g) {
  const s = STATUS[g.status] ?? STATUS.unknown;
  const verdictText = {
    certified: 'No program excludes this pair and at least one covers it.',
    'not-certified': 'At least one program excludes this guest OS on this hypervisor.',
    unknown: g.reason ?? 'No program speaks of this pair.',
  }[g.status];
  const kv = (pairs) =>
    h(
      'dl',
      { class: 'kv' },
      pairs
        .filter(([, v]) => v !== undefined && v !== null && v !== '')
        .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
    );
  const lc = g.lifecycle;
  return h(
    'div',
    { dataset: { host: g.host, key: g.key, status: g.status } },
    h(
      'div',
      { class: 'drawer-head' },
      h(
        'div',
        { class: 'title' },
        h('h2', {}, g.name),
        h(
          'div',
          { class: 'sub' },
          `on `,
          h('a', { href: hashOf(['hosts', g.host]), onclick: () => drawer.close() }, g.host),
          ` · ${hypervisorLabel(g.hypervisor)}`,
        ),
      ),
      h(
        'button',
        { class: 'close-btn', title: 'Close (Esc)', 'aria-label': 'Close', onclick: () => drawer.close() },
        '×',
      ),
    ),
    h(
      'div',
      { class: 'drawer-body' },
      h(
        'div',
        { class: `verdict ${s.cls}` },
        h(
          'div',
          {},
          h('div', { class: 'big' }, s.label, g.os ? ` · ${g.os.name}` : ''),
          h('div', { class: 'sub' }, verdictText),
        ),
        h('span', { class: 'spacer' }),
        eolChip(g.eol),
      ),
      g.why?.length
        ? [
            h('h3', {}, 'Why'),
            h(
              'ul',
              { class: 'why' },
              g.why.map((w) => h('li', {}, w)),
            ),
          ]
        : null,
      h('h3', {}, 'Programs consulted'),
      g.programs.length
        ? h(
            'ul',
            { class: 'programs' },
            g.programs.map((p) => {
              const v = VERDICT[p.verdict] ?? VERDICT.silent;
              return h(
                'li',
                { class: p.verdict, dataset: { program: p.program, verdict: p.verdict } },
                h(
                  'div',
                  { class: 'row1' },
                  h('span', { class: 'name' }, programTitle(p.program)),
                  chip(v.cls, v.label),
                ),
                p.conditions.length
                  ? h(
                      'ul',
                      { class: 'cond' },
                      p.conditions.map((c) => h('li', {}, c)),
                    )
                  : null,
                p.note ? h('div', { class: 'note' }, p.note) : null,
                p.coverage === 'partial' && p.verdict !== 'silent'
                  ? h('div', { class: 'note' }, 'This program’s list is known to be partial.')
                  : null,
                h(
                  'div',
                  { class: 'src' },
                  'Source: ',
                  sourceLink(p.source),
                  p.origin === 'local' ? ' (local catalog row)' : '',
                ),
              );
            }),
          )
        : h(
            'p',
            { class: 'sub' },
            g.reason ?? 'No program was consulted: the guest OS or the hypervisor is not identified.',
          ),
      h('h3', {}, 'Operating system'),
      kv([
        [
          'Identified as',
          g.os
            ? `${g.os.name}${g.os.edition ? ` ${g.os.edition}` : ''}${g.os.build ? ` (build ${g.os.build})` : ''}`
            : `not identified (${g.osUnknownReason})`,
        ],
        ['From', g.osSource],
        ['Detail', g.osUnknownDetail],
        [
          'Conflicting evidence',
          g.osConflicts.length ? g.osConflicts.map((c) => `${c.source}: ${c.id}`).join('; ') : null,
        ],
        [
          'End of support',
          lc ? `${lc.end} (${lc.endKind})${lc.extended ? `; extended to ${lc.extended.date}` : ''}` : null,
        ],
        ['Lifecycle source', lc ? sourceLink(lc.source) : null],
      ]),
      h('h3', {}, 'Evidence from the agent'),
      (g.evidence?.evidence ?? []).length
        ? h(
            'ul',
            { class: 'history' },
            g.evidence.evidence.map((e) =>
              h('li', {}, h('code', {}, e.source), ' ', e.text ?? JSON.stringify(e.fields ?? {})),
            ),
          )
        : h('p', { class: 'sub' }, `none (${g.evidence?.reason ?? 'no evidence'})`),
      h('h3', {}, 'Guest'),
      kv([
        ['State', g.removedAt ? `removed ${g.removedAt}` : g.state],
        ['UUID', h('span', { class: 'mono' }, g.uuid)],
        ['vCPUs', g.vcpus],
        ['Memory', g.memoryBytes ? bytes(g.memoryBytes) : null],
        ['Firmware', g.details.firmware],
        ['Generation', g.details.generation],
        ['Architecture', g.details.arch],
        ['First seen', time(g.firstSeen)],
        ['Last seen', time(g.lastSeen)],
        ['Catalog', g.catalogVersion],
      ]),
      g.history.length
        ? [
            h('h3', {}, 'History'),
            h(
              'ul',
              { class: 'history' },
              g.history.map((c) =>
                h('li', {}, time(c.at), `${c.kind}${c.old || c.new ? `: ${c.old ?? '–'} → ${c.new ?? '–'}` : ''}`),
              ),
            ),
          ]
        : null,
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Mounting views on navigation; refreshing them when /live says they went stale

let current = null;

function mount() {
  const { parts, params } = parseHash();
  const root = h('div');
  const tab = parts[0] ?? 'overview';
  if (tab === 'hosts' && parts[1]) current = hostView(root, parts[1], params);
  else if (tab === 'hosts') current = hostsView(root, params);
  else if (tab === 'guests') current = guestsView(root, params);
  else if (tab === 'alerts') current = alertsView(root, params);
  else if (tab === 'agents') current = agentsView(root, params);
  else current = overviewView(root);
  for (const a of document.querySelectorAll('.tabs a'))
    a.classList.toggle('active', a.dataset.tab === (tab === 'overview' || !parts[0] ? 'overview' : tab));
  document.getElementById('view').replaceChildren(root);
  current.refresh();
}

let missed = false;

function refreshAll() {
  shared.matrix = null;
  refreshSummary();
  current?.refresh();
  if (drawer.host) drawer.refresh();
}

function onChanged(msg) {
  if (document.visibilityState === 'hidden') {
    // A hidden tab fetches nothing; it catches up once when shown again.
    missed = true;
    return;
  }
  if (msg.views.includes('matrix')) shared.matrix = null;
  if (msg.views.includes('summary')) refreshSummary();
  if (current && msg.views.some((v) => current.deps.includes(v))) {
    // A host page refetches only when its own host changed (or a catalog changed everyone).
    if (
      !current.host ||
      msg.hosts === null ||
      msg.catalog ||
      msg.hosts.includes(current.host) ||
      msg.views.includes('hosts')
    )
      current.refresh();
  }
  if (drawer.host && (msg.hosts === null || msg.catalog || msg.hosts.includes(drawer.host))) drawer.refresh();
}

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && missed) {
    missed = false;
    refreshAll();
  }
});

// ---------------------------------------------------------------------------------------------
// The live link: reconnects with backoff and jitter; the banner shows while it is down

const liveState = document.getElementById('live-state');
const live = { ws: null, attempts: 0, lastHeard: 0, down: false };

function setLive(state) {
  liveState.dataset.state = state;
  liveState.querySelector('.label').textContent = { live: 'Live', down: 'Offline', connecting: 'Connecting' }[state];
}

function connectLive() {
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/live`);
  live.ws = ws;
  ws.onmessage = (e) => {
    live.lastHeard = Date.now();
    const msg = JSON.parse(e.data);
    if (msg.type === 'hello') {
      live.attempts = 0;
      setLive('live');
      hideBanner();
      // Whatever changed while the link was down was not announced: fetch everything once.
      if (live.down) refreshAll();
      live.down = false;
    } else if (msg.type === 'changed') onChanged(msg);
  };
  ws.onclose = () => {
    if (live.ws !== ws) return;
    live.ws = null;
    live.down = true;
    setLive('down');
    showBanner('Showing the last map received; reconnecting…');
    const delay = Math.min(10_000, 500 * 2 ** live.attempts++) * (0.75 + Math.random() * 0.5);
    setTimeout(connectLive, delay);
  };
}

setInterval(() => {
  if (live.ws?.readyState === WebSocket.OPEN && Date.now() - live.lastHeard > LIVE_SILENCE_MS) live.ws.close();
}, 5000);

window.addEventListener('hashchange', () => {
  drawer.close();
  mount();
});

loadCatalog().catch(() => {});
refreshSummary();
mount();
connectLive();
