// Warden console: plain JavaScript, no framework, no build step.
//
// Security model (see src/http/console/mod.rs): tokens are held in this closure only, never in a
// cookie or in web storage, and every API call carries them as `Authorization: Bearer`. The
// page is built with DOM calls and textContent only, so no value from the API is ever parsed
// as markup. The policy decides every action: a 403 from the API is shown as a refusal.
'use strict';

(() => {
  // ---------------------------------------------------------------------------------------
  // Session
  // `tenant`: the tenant the Tenant section shows; `tenants`: every tenant's name for an
  // installation admin (who may switch), null for anyone else (their token's tenant only).
  const session = { access: null, refresh: null, me: null, tenant: null, tenants: null };

  // ---------------------------------------------------------------------------------------
  // DOM helpers
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'data') for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = String(dv);
      else if (k === 'value') el.value = v;
      else if (k === 'checked') el.checked = Boolean(v);
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  const $ = (sel, root) => (root || document).querySelector(sel);
  const view = () => $('#view');
  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

  function notice(text, kind) {
    const n = $('#notice');
    n.textContent = text;
    n.className = 'notice ' + (kind || 'ok');
    n.hidden = !text;
  }

  function field(label, input, hint) {
    const id = input.id;
    return h('div', { class: 'field' },
      h('label', { for: id }, label),
      input,
      hint ? h('small', { class: 'hint' }, hint) : null,
      h('p', { class: 'field-error', id: 'err-' + id, role: 'alert', hidden: true }));
  }

  function fmtTime(unix) {
    const d = new Date(unix * 1000);
    return d.toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
  }

  function fmtAttrs(attrs) {
    return Object.entries(attrs || {}).map(([k, v]) => k + '=' + (Array.isArray(v) ? '[' + v.join(',') + ']' : v)).join(' ');
  }

  // ---------------------------------------------------------------------------------------
  // API
  class ApiError extends Error {
    constructor(status, body, method, path) {
      super((body && body.message) || ('HTTP ' + status));
      this.status = status;
      this.code = (body && body.error) || 'error';
      this.details = body && body.details;
      this.method = method;
      this.path = path;
    }
  }

  async function call(method, path, opts) {
    const { body, form, ifMatch, yaml, accept } = opts || {};
    const headers = { Accept: accept || 'application/json' };
    if (session.access && !form) headers.Authorization = 'Bearer ' + session.access;
    let payload;
    if (form) {
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      payload = new URLSearchParams(form).toString();
    } else if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(body);
    } else if (yaml !== undefined) {
      headers['Content-Type'] = 'application/yaml';
      payload = yaml;
    }
    if (ifMatch !== undefined && ifMatch !== null) headers['If-Match'] = '"' + ifMatch + '"';
    const res = await fetch(path, { method, headers, body: payload, credentials: 'omit', cache: 'no-store', redirect: 'error' });
    const text = await res.text();
    let data = null;
    if (accept && res.ok) return { res, data: text };
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = { message: text.slice(0, 200) }; }
    return { res, data };
  }

  let refreshing = null;
  async function refreshTokens() {
    if (!session.refresh) return false;
    if (!refreshing) {
      refreshing = call('POST', '/v1/auth/token', { form: { grant_type: 'refresh_token', refresh_token: session.refresh } })
        .then(({ res, data }) => {
          if (!res.ok) return false;
          session.access = data.access_token;
          session.refresh = data.refresh_token || session.refresh;
          return true;
        })
        .catch(() => false)
        .finally(() => { refreshing = null; });
    }
    return refreshing;
  }

  // An API call: the parsed body (and ETag) or an ApiError. An expired access token is
  // renewed once with the refresh token; a session that cannot be renewed signs out.
  async function api(method, path, opts) {
    let { res, data } = await call(method, path, opts);
    if (res.status === 401 && session.refresh && await refreshTokens()) {
      ({ res, data } = await call(method, path, opts));
    }
    if (res.status === 401) {
      signOut('Your session has ended; sign in again.');
      throw new ApiError(401, data, method, path);
    }
    if (!res.ok) throw new ApiError(res.status, data, method, path);
    return { data, etag: res.headers.get('ETag') };
  }

  // How a failed call is shown: a refusal by the policy, or the API's error.
  function failure(e, id) {
    if (!(e instanceof ApiError)) {
      return h('p', { class: 'error', id: id || null, role: 'alert' }, 'The request failed: ' + e.message);
    }
    // A refusal by the policy; a 403 with a reason of its own (outside_tenant) says it.
    if (e.status === 403 && e.code === 'forbidden') {
      return h('p', { class: 'refused', id: id || 'refused', role: 'alert' },
        'Refused: the policy does not let ' + (session.me ? session.me.username : 'you') + ' call ' +
        e.method + ' ' + e.path.split('?')[0] + ' (403 forbidden). The console has no rights of its own.');
    }
    return h('p', { class: 'error', id: id || null, role: 'alert' }, e.message + ' (' + e.status + ' ' + e.code + ')');
  }

  // ---------------------------------------------------------------------------------------
  // Sign in / out
  function signInView(message) {
    $('#nav').hidden = true;
    $('#signout').hidden = true;
    $('#whoami').textContent = '';
    const user = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true, autofocus: true });
    const pass = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
    const tenant = h('input', { id: 'signin-tenant', name: 'tenant', autocomplete: 'off', placeholder: 'default', pattern: '[a-z0-9-]{1,63}' });
    const error = h('p', { id: 'signin-error', class: 'error', role: 'alert', hidden: !message }, message || '');
    const form = h('form', { id: 'signin', class: 'card narrow' },
      h('h1', {}, 'Sign in'),
      h('p', { class: 'hint' }, 'Use your Warden account. The console holds your token in this page only: reloading the page signs you out.'),
      field('Username', user), field('Password', pass),
      field('Tenant', tenant, 'optional: the tenant to sign in to (your only one, or default, when empty)'), error,
      h('button', { id: 'signin-submit', type: 'submit' }, 'Sign in'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.hidden = true;
      const form = { grant_type: 'password', username: user.value, password: pass.value };
      if (tenant.value.trim()) form.tenant = tenant.value.trim();
      const { res, data } = await call('POST', '/v1/auth/token', { form }).catch((e) => ({ res: { ok: false, status: 0 }, data: { message: e.message } }));
      pass.value = '';
      if (!res.ok) {
        error.textContent = res.status === 0 ? 'Warden could not be reached: ' + data.message
          : res.status === 400 ? 'Wrong username or password.'
            : data && data.error === 'not_a_member' ? 'That account may not sign in to tenant ' + form.tenant + '.' : data.message;
        error.hidden = false;
        return;
      }
      session.access = data.access_token;
      session.refresh = data.refresh_token || null;
      try {
        session.me = (await api('GET', '/v1/me')).data;
      } catch (e) {
        session.me = { username: user.value };
      }
      $('#whoami').textContent = 'Signed in as ' + session.me.username;
      await setUpTenants();
      $('#nav').hidden = false;
      $('#signout').hidden = false;
      notice('');
      if (!location.hash || location.hash === '#signin') location.hash = '#rules';
      else route();
    });
    clear(view()).append(form);
    user.focus();
  }

  function signOut(message) {
    const refresh = session.refresh;
    session.access = null;
    session.refresh = null;
    session.me = null;
    session.tenant = null;
    session.tenants = null;
    const picker = $('#tenant-box');
    if (picker) picker.remove();
    if (refresh) call('POST', '/v1/auth/revoke', { form: { token: refresh } }).catch(() => {});
    signInView(message);
  }

  // ---------------------------------------------------------------------------------------
  // Preview (dry run) and apply: shared by rules, assignments and rollbacks.
  //
  // `dryRun` is the body of POST /v1/admin/policy/dry-run; `apply(version)` applies the same
  // change with If-Match: version, so a change made by someone else in between is reported
  // (412) instead of overwritten.
  async function preview(panel, dryRun, apply, onApplied, form, subjects) {
    clear(panel).append(h('p', { class: 'hint' }, 'Computing the preview…'));
    clearFieldErrors(form);
    let dr;
    try {
      dr = (await api('POST', '/v1/admin/policy/dry-run', { body: dryRun })).data;
    } catch (e) {
      clear(panel).append(failure(e, 'preview-error'));
      return;
    }
    clear(panel);
    const box = h('section', { id: 'preview', class: 'preview', 'aria-label': 'Preview', data: { version: dr.policy_version, accepted: dr.accepted } });
    panel.append(box);
    if (!dr.accepted) {
      const r = dr.refusal;
      box.append(h('p', { id: 'preview-summary', class: 'error', role: 'alert' },
        'This change would be refused (' + r.status + ' ' + r.error + '): ' + r.message));
      if (r.details && r.details.field) showFieldError(form, r.details.field, r.message, r.details.column);
      if (r.details && r.details.routes) {
        box.append(h('p', {}, 'Nobody enabled could reach afterwards: ' + r.details.routes.join(', ')));
      }
    } else {
      const subjects = [...new Set(dr.flips.map((f) => f.subject))];
      box.append(h('p', { id: 'preview-summary' },
        'Checked against policy version ' + dr.policy_version + ': ' +
        (dr.flips.length === 0 ? 'no cell of the shipped matrices changes.' :
          dr.flips.length + ' cell(s) of the shipped matrices change, for ' + subjects.join(', ') + '.')));
    }
    if (dr.accepted && subjects && subjects.length) {
      const line = h('p', { id: 'affected' }, 'Real accounts the edited rules apply to: …');
      box.append(line);
      affectedAccounts(subjects).then((names) => {
        line.textContent = 'Real accounts the edited rules apply to: ' + (names.length ? names.join(', ') : 'none') + '.';
      }).catch(() => { line.remove(); });
    }
    if (dr.invariant_violations.length) {
      box.append(h('p', { class: 'error' }, 'Invariant cells it would break: ' +
        dr.invariant_violations.map((f) => f.matrix + ': ' + f.subject + ' ' + f.action + ' ' + f.object).join('; ')));
    }
    box.append(flipGrids(dr.flips));
    const conflict = h('div', { id: 'apply-result' });
    const applyBtn = h('button', { id: 'apply', type: 'button', disabled: !dr.accepted }, 'Apply (as version ' + (dr.policy_version + 1) + ')');
    const cancelBtn = h('button', { id: 'cancel-preview', type: 'button', class: 'secondary' }, 'Discard');
    cancelBtn.addEventListener('click', () => clear(panel));
    applyBtn.addEventListener('click', async () => {
      applyBtn.disabled = true;
      clear(conflict);
      try {
        const out = await apply(dr.policy_version);
        notice('Applied: the policy is now version ' + out.data.policy_version + '.', 'ok');
        clear(panel);
        if (onApplied) onApplied(out.data);
      } catch (e) {
        if (e.status === 412) {
          let now = '';
          try { now = ' It is now version ' + (await api('GET', '/v1/admin/policy')).data.policy_version + '.'; } catch (_) { /* shown without */ }
          conflict.append(h('p', { id: 'conflict', class: 'error', role: 'alert', tabindex: -1 },
            'Not applied: someone changed the policy after this preview (you previewed version ' + dr.policy_version + ').' + now +
            ' Nothing was overwritten. Preview again to see your change against the current policy.'));
        } else {
          conflict.append(failure(e, 'apply-error'));
          if (e.details && e.details.field) showFieldError(form, e.details.field, e.message, e.details.column);
        }
        conflict.firstChild.scrollIntoView({ block: 'center' });
      }
    });
    box.append(h('div', { class: 'actions' }, applyBtn, cancelBtn), conflict);
    // Editing the form after a preview makes the preview stale.
    if (form) {
      const stale = () => { applyBtn.disabled = true; applyBtn.title = 'Preview again: the form changed'; };
      form.addEventListener('input', stale, { once: true });
    }
    applyBtn.focus();
  }

  // The accounts a rule subject reaches: `*` is everyone, `user:x` is x, `role:r` every user
  // who holds r directly or through roles that inherit it.
  async function affectedAccounts(subjects) {
    if (subjects.includes('*')) return ['every account'];
    const roles = (await api('GET', '/v1/admin/roles')).data;
    const members = new Map(roles.map((r) => [r.role, r.members]));
    const users = new Set();
    const seen = new Set();
    const queue = [...subjects];
    while (queue.length) {
      const s = queue.shift();
      if (seen.has(s)) continue;
      seen.add(s);
      if (s.startsWith('user:')) users.add(s.slice(5));
      else for (const m of members.get(s) || []) queue.push(m);
    }
    return [...users].sort();
  }

  // Flips as one before/after grid per matrix: rows are subjects, columns object x action.
  function flipGrids(flips) {
    const wrap = h('div', { id: 'flips' });
    const byMatrix = new Map();
    for (const f of flips) {
      if (!byMatrix.has(f.matrix)) byMatrix.set(f.matrix, []);
      byMatrix.get(f.matrix).push(f);
    }
    for (const [matrix, fs] of byMatrix) {
      const subjects = [...new Set(fs.map((f) => f.subject))];
      const cols = [...new Set(fs.map((f) => f.object + '\u0000' + f.action))].map((c) => c.split('\u0000'));
      const at = new Map(fs.map((f) => [f.subject + '\u0000' + f.object + '\u0000' + f.action, f]));
      const table = h('table', { class: 'grid flips', data: { matrix } },
        h('caption', {}, 'Matrix ' + matrix + ': cells this change flips'),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'subject'),
          cols.map(([o, a]) => h('th', { scope: 'col' }, o, h('br'), h('span', { class: 'act' }, a))))),
        h('tbody', {}, subjects.map((s) => h('tr', {}, h('th', { scope: 'row' }, s),
          cols.map(([o, a]) => {
            const f = at.get(s + '\u0000' + o + '\u0000' + a);
            if (!f) return h('td', { class: 'same' }, '·');
            const word = (b) => (b ? 'allow' : 'deny');
            const breaks = f.expected !== null && f.expected !== undefined && f.expected !== f.after;
            return h('td', {
              class: 'flip to-' + word(f.after) + (breaks ? ' breaks' : ''),
              data: { subject: s, object: o, action: a, before: word(f.before), after: word(f.after) },
              title: breaks ? 'the matrix expects ' + word(f.expected) : null,
            }, word(f.before) + ' → ' + word(f.after), breaks ? h('span', { class: 'mark' }, ' ✗') : null);
          })))));
      wrap.append(h('div', { class: 'scroll' }, table));
    }
    if (flips.some((f) => f.expected !== null && f.expected !== undefined && f.expected !== f.after)) {
      wrap.append(h('p', { class: 'hint' }, '✗ marks a cell whose new answer is not what its matrix file expects: if the change is intended, update the matrix too.'));
    }
    return wrap;
  }

  function clearFieldErrors(form) {
    if (!form) return;
    for (const p of form.querySelectorAll('.field-error')) { p.hidden = true; p.textContent = ''; }
    for (const i of form.querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
  }

  // Shows an API validation error at its field; for a condition, a caret under the column.
  function showFieldError(form, name, message, column) {
    if (!form) return;
    const input = form.querySelector('[name="' + CSS.escape(name) + '"]');
    const slot = input && form.querySelector('#err-' + CSS.escape(input.id));
    if (!input || !slot) return;
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', slot.id);
    clear(slot);
    slot.append(message.replace(/^[a-z_.]+: /, ''));
    if (column) {
      const text = input.value.trim();
      slot.append(h('pre', { class: 'caret', id: 'caret' }, text + '\n' + ' '.repeat(Math.max(0, column - 1)) + '^'));
      slot.dataset.column = String(column);
    }
    slot.hidden = false;
  }

  // ---------------------------------------------------------------------------------------
  // Pages of a list: "from–to of total" with Previous and Next; `go(offset)` shows another.
  const PAGE = 50;

  function pager(id, what, page, offset, go) {
    const from = page.total === 0 ? 0 : offset + 1;
    const to = offset + page.items.length;
    return h('div', { class: 'actions pager' },
      h('span', { id }, from + '–' + to + ' of ' + page.total + ' ' + what),
      h('button', { type: 'button', class: 'secondary', id: id + '-prev', disabled: offset === 0, onclick: () => go(Math.max(0, offset - PAGE)) }, 'Previous'),
      h('button', { type: 'button', class: 'secondary', id: id + '-next', disabled: to >= page.total, onclick: () => go(offset + PAGE) }, 'Next'));
  }

  // ---------------------------------------------------------------------------------------
  // Rules
  const ruleFilter = { q: '', subject: '', object: '', action: '', effect: '', offset: 0 };
  const RULE_FILTERS = ['q', 'subject', 'object', 'action', 'effect'];

  async function rulesView() {
    const main = clear(view());
    main.append(h('h1', {}, 'Rules'));
    const inputs = {
      q: h('input', { id: 'f-q', name: 'q', type: 'search', value: ruleFilter.q, placeholder: 'department' }),
      subject: h('input', { id: 'f-subject', name: 'subject', value: ruleFilter.subject, placeholder: 'role:editor' }),
      object: h('input', { id: 'f-object', name: 'object', value: ruleFilter.object, placeholder: 'document' }),
      action: h('input', { id: 'f-action', name: 'action', value: ruleFilter.action, placeholder: 'read' }),
      effect: h('select', { id: 'f-effect', name: 'effect' },
        h('option', { value: '' }, 'any'), h('option', { value: 'allow' }, 'allow'), h('option', { value: 'deny' }, 'deny')),
    };
    inputs.effect.value = ruleFilter.effect;
    const filter = h('form', { id: 'rule-filter', class: 'filters', role: 'search' },
      field('Contains', inputs.q), field('Subject', inputs.subject), field('Object', inputs.object), field('Action', inputs.action), field('Effect', inputs.effect),
      h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'filter-apply' }, 'Filter'),
        h('button', { type: 'button', id: 'filter-clear', class: 'secondary', onclick: () => {
          for (const k of RULE_FILTERS) ruleFilter[k] = '';
          ruleFilter.offset = 0;
          rulesView();
        } }, 'Clear')));
    filter.addEventListener('submit', (ev) => {
      ev.preventDefault();
      for (const k of RULE_FILTERS) ruleFilter[k] = inputs[k].value.trim();
      ruleFilter.offset = 0;
      loadRules();
    });
    const editor = h('div', { id: 'editor' });
    main.append(h('p', { class: 'hint' }, '"Contains" searches every column; the other filters match whole values. Every edit is previewed against the shipped matrices before it is applied.'),
      filter,
      h('div', { class: 'actions' }, h('button', { id: 'add-rule', type: 'button', onclick: () => openRuleEditor(null) }, 'Add rule')),
      editor, h('div', { id: 'rules-list' }));
    await loadRules();
  }

  let rulesLoad = 0;

  async function loadRules() {
    const list = $('#rules-list');
    if (!list) return;
    // Only the latest request may draw: an earlier answer arriving late is dropped.
    const mine = ++rulesLoad;
    const q = new URLSearchParams({ limit: String(PAGE), offset: String(ruleFilter.offset) });
    for (const k of RULE_FILTERS) if (ruleFilter[k]) q.set(k, ruleFilter[k]);
    let page;
    try {
      page = (await api('GET', '/v1/admin/rules?' + q)).data;
    } catch (e) {
      if (mine === rulesLoad) clear(list).append(failure(e));
      return;
    }
    if (mine !== rulesLoad) return;
    const rows = page.items.map((r) => h('tr', { data: { ruleId: r.id } },
      h('td', {}, String(r.id)), h('td', {}, r.subject), h('td', {}, r.object), h('td', {}, r.action),
      h('td', {}, r.scope), h('td', { class: 'cond' }, r.condition || '—'),
      h('td', { class: 'eff-' + r.effect }, r.effect),
      h('td', { class: 'row-actions' },
        h('button', { type: 'button', class: 'secondary edit-rule', 'aria-label': 'Edit rule ' + r.id, onclick: () => openRuleEditor(r) }, 'Edit'),
        h('button', { type: 'button', class: 'danger delete-rule', 'aria-label': 'Delete rule ' + r.id, onclick: () => openDelete(r) }, 'Delete'))));
    const nav = pager('rules-count', 'rule(s), policy version ' + page.policy_version, page, ruleFilter.offset,
      (offset) => { ruleFilter.offset = offset; loadRules(); });
    clear(list).append(nav, h('div', { class: 'scroll' }, h('table', { id: 'rules-table', class: 'data' },
      h('thead', {}, h('tr', {}, ['id', 'subject', 'object', 'action', 'scope', 'condition', 'effect', ''].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows))));
  }

  function openRuleEditor(rule) {
    const editor = $('#editor');
    const r = rule || { subject: '', object: '', action: '', scope: '*', condition: '', effect: 'allow' };
    const inp = {
      subject: h('input', { id: 'rule-subject', name: 'subject', value: r.subject, required: true, placeholder: 'role:editor, user:alice or *' }),
      object: h('input', { id: 'rule-object', name: 'object', value: r.object, required: true, placeholder: 'document or /api/documents/:id' }),
      action: h('input', { id: 'rule-action', name: 'action', value: r.action, required: true, placeholder: 'read or GET' }),
      scope: h('input', { id: 'rule-scope', name: 'scope', value: r.scope, placeholder: '*' }),
      condition: h('textarea', { id: 'rule-condition', name: 'condition', rows: 2, placeholder: 'r.sub.department == r.obj.department' }),
      effect: h('select', { id: 'rule-effect', name: 'effect' }, h('option', { value: 'allow' }, 'allow'), h('option', { value: 'deny' }, 'deny')),
    };
    inp.condition.value = r.condition;
    inp.effect.value = r.effect;
    const panel = h('div', { id: 'preview-panel' });
    const form = h('form', { id: 'rule-form', class: 'card', 'aria-label': rule ? 'Edit rule ' + rule.id : 'New rule' },
      h('h2', {}, rule ? 'Edit rule #' + rule.id : 'New rule'),
      h('div', { class: 'cols' },
        field('Subject', inp.subject), field('Object', inp.object), field('Action', inp.action),
        field('Scope', inp.scope, 'token scope the caller needs, or *'), field('Effect', inp.effect)),
      field('Condition', inp.condition, 'over r.sub.* and r.obj.*; empty = always'),
      h('div', { class: 'actions' },
        h('button', { id: 'preview-rule', type: 'submit' }, 'Preview'),
        h('button', { id: 'close-editor', type: 'button', class: 'secondary', onclick: () => clear(editor) }, 'Close')),
      panel);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const body = {};
      for (const k of Object.keys(inp)) body[k] = inp[k].value;
      const change = rule ? { update: [{ id: rule.id, rule: body }] } : { add: [body] };
      preview(panel, { change },
        (version) => (rule ? api('PUT', '/v1/admin/rules/' + rule.id, { body, ifMatch: version })
          : api('POST', '/v1/admin/policy/changes', { body: change, ifMatch: version })),
        () => { clear(editor); loadRules(); }, form,
        rule ? [rule.subject, body.subject.trim()] : [body.subject.trim()]);
    });
    form.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') clear(editor); });
    clear(editor).append(form);
    inp.subject.focus();
  }

  function openDelete(rule) {
    const editor = $('#editor');
    const panel = h('div', { id: 'preview-panel' });
    clear(editor).append(h('section', { class: 'card', id: 'delete-card' },
      h('h2', {}, 'Delete rule #' + rule.id),
      h('p', {}, rule.subject + ' · ' + rule.object + ' · ' + rule.action + ' · ' + rule.effect + (rule.condition ? ' if ' + rule.condition : '')),
      panel));
    preview(panel, { change: { delete: [rule.id] } },
      (version) => api('DELETE', '/v1/admin/rules/' + rule.id, { ifMatch: version }),
      () => { clear(editor); loadRules(); }, null, [rule.subject]);
  }

  // ---------------------------------------------------------------------------------------
  // People: users, roles, assignments, and a decision for any user.
  let usersOffset = 0;

  async function peopleView() {
    const main = clear(view());
    main.append(h('h1', {}, 'People'));
    const usersBox = h('section', { id: 'users', 'aria-label': 'Users' }, h('h2', {}, 'Users'));
    const rolesBox = h('section', { id: 'roles', 'aria-label': 'Roles' }, h('h2', {}, 'Roles'));
    const assignBox = h('section', { id: 'assignments', 'aria-label': 'Assignments' }, h('h2', {}, 'Assign a role'));
    const checkBox = h('section', { id: 'check', 'aria-label': 'Check a decision' }, h('h2', {}, 'Check a decision'));
    const whoCanBox = h('section', { id: 'who-can', 'aria-label': 'Who can' }, h('h2', {}, 'Who can'));
    const servicesBox = h('section', { id: 'services', 'aria-label': 'Service accounts' }, h('h2', {}, 'Service accounts'));
    main.append(h('div', { class: 'two' }, h('div', {}, usersBox, servicesBox), h('div', {}, rolesBox, assignBox, checkBox, whoCanBox)));
    let users, roles;
    try {
      [users, roles] = await Promise.all([
        api('GET', '/v1/admin/users?limit=' + PAGE + '&offset=' + usersOffset).then((r) => r.data),
        api('GET', '/v1/admin/roles').then((r) => r.data),
      ]);
    } catch (e) {
      usersBox.append(failure(e));
      // The forms still render: each action is refused by the API in turn.
      users = null;
      roles = [];
    }
    if (users) renderUsers(usersBox, users, roles);
    renderServices(servicesBox);
    renderRoles(rolesBox, roles);
    renderAssign(assignBox);
    renderCheck(checkBox);
    renderWhoCan(whoCanBox);
  }

  function directRoles(roles, member) {
    return roles.filter((r) => r.members.includes(member)).map((r) => r.role);
  }

  function renderUsers(box, page, roles) {
    const editor = h('div', { id: 'user-editor' });
    const rows = page.items.map((u) => h('tr', { data: { user: u.username } },
      h('td', {}, u.username, u.display_name ? h('small', { class: 'hint' }, ' ' + u.display_name) : null),
      h('td', { class: u.disabled ? 'eff-deny' : '' }, u.disabled ? 'disabled' : 'active'),
      h('td', {}, fmtAttrs(u.attributes) || '—'),
      h('td', {}, u.scopes.join(' ') || '—'),
      h('td', {}, directRoles(roles, 'user:' + u.username.toLowerCase()).map((r) =>
        h('span', { class: 'chip' }, r.replace(/^role:/, ''),
          h('button', { type: 'button', class: 'chip-x', 'aria-label': 'Remove ' + r + ' from ' + u.username,
            onclick: () => openUnassign('user:' + u.username.toLowerCase(), r) }, '×')))),
      h('td', {}, h('button', { type: 'button', class: 'secondary edit-user', 'aria-label': 'Edit ' + u.username, onclick: () => openUserEditor(editor, u) }, 'Edit'))));
    const create = h('button', { type: 'button', id: 'new-user', class: 'secondary', onclick: () => openNewUser(editor) }, 'New account');
    box.append(h('div', { class: 'actions' }, create),
      pager('users-count', 'user(s)', page, usersOffset, (offset) => { usersOffset = offset; peopleView(); }), editor,
      h('div', { class: 'scroll' }, h('table', { id: 'users-table', class: 'data' },
        h('thead', {}, h('tr', {}, ['user', 'status', 'attributes', 'scopes', 'roles', ''].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, rows))));
  }

  function openUserEditor(editor, u) {
    const attrs = h('textarea', { id: 'user-attributes', name: 'attributes', rows: 3 });
    attrs.value = JSON.stringify(u.attributes || {});
    const scopes = h('input', { id: 'user-scopes', name: 'scopes', value: u.scopes.join(' ') });
    const disabled = h('input', { id: 'user-disabled', name: 'disabled', type: 'checkbox', checked: u.disabled });
    const out = h('div', { id: 'user-result' });
    const form = h('form', { id: 'user-form', class: 'card' }, h('h3', {}, 'Edit ' + u.username),
      field('Attributes (JSON object; null removes one)', attrs), field('Scopes the user may request (space separated)', scopes),
      h('div', { class: 'field check' }, disabled, h('label', { for: 'user-disabled' }, 'Disabled (applies to the very next request)')),
      h('p', { class: 'field-error', id: 'err-user-disabled', hidden: true }),
      h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'user-save' }, 'Save'),
        h('button', { type: 'button', class: 'secondary', id: 'user-reset', onclick: () => resetPassword(u, out) }, 'Reset password'),
        h('button', { type: 'button', class: 'secondary danger', id: 'user-delete', onclick: () => deleteUser(u, out) }, 'Delete account'),
        h('button', { type: 'button', class: 'secondary', onclick: () => clear(editor) }, 'Close')), out);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearFieldErrors(form);
      clear(out);
      let parsed;
      try { parsed = JSON.parse(attrs.value || '{}'); } catch (e) {
        showFieldError(form, 'attributes', 'not valid JSON: ' + e.message);
        return;
      }
      // Attributes the admin deleted from the object are removed (null), not kept.
      for (const k of Object.keys(u.attributes || {})) if (!(k in parsed)) parsed[k] = null;
      try {
        await api('PATCH', '/v1/admin/users/' + encodeURIComponent(u.username), {
          body: { attributes: parsed, scopes: scopes.value.split(/\s+/).filter(Boolean), disabled: disabled.checked },
        });
        notice('Saved ' + u.username + '.', 'ok');
        peopleView();
      } catch (e) {
        out.append(failure(e, 'user-error'));
        out.firstChild.scrollIntoView({ block: 'nearest' });
        if (e.details && e.details.field) showFieldError(form, e.details.field.split('.')[0], e.message);
      }
    });
    clear(editor).append(form);
    attrs.focus();
  }

  // Account lifecycle: create (with a password, or a one-time set-password token for the
  // owner), reset the password, delete. A token is shown once, as text, never stored.
  function grantBox(username, grant) {
    const when = new Date(grant.set_password_expires_at * 1000).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
    return h('div', { id: 'set-password-grant', class: 'card', role: 'status' },
      h('p', {}, 'One-time set-password token for ' + username + ' (shown once; it works until ' + when + '):'),
      h('code', { id: 'set-password-token' }, grant.set_password_token),
      h('p', { class: 'hint' }, 'Hand it to its owner, who sets a password with POST /v1/auth/set-password.'));
  }

  function openNewUser(editor) {
    const name = h('input', { id: 'new-username', name: 'username', autocomplete: 'off', required: true });
    const password = h('input', { id: 'new-password', name: 'password', type: 'password', autocomplete: 'new-password' });
    const out = h('div', { id: 'new-user-result' });
    const form = h('form', { id: 'new-user-form', class: 'card' }, h('h3', {}, 'New account'),
      field('Username', name),
      field('Initial password (leave empty to get a one-time set-password token instead)', password),
      h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'new-user-save' }, 'Create'),
        h('button', { type: 'button', class: 'secondary', onclick: () => clear(editor) }, 'Close')), out);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearFieldErrors(form);
      clear(out);
      const body = { username: name.value.trim() };
      if (password.value) body.password = password.value;
      try {
        const { data } = await api('POST', '/v1/admin/users', { body });
        password.value = '';
        notice('Created ' + data.username + '.', 'ok');
        await peopleView();
        const box = document.getElementById('user-editor');
        if (box && data.set_password_token) box.append(grantBox(data.username, data));
      } catch (e) {
        out.append(failure(e, 'new-user-error'));
        if (e.details && e.details.field) showFieldError(form, e.details.field.split('.')[0], e.message);
      }
    });
    clear(editor).append(form);
    name.focus();
  }

  async function resetPassword(u, out) {
    clear(out);
    try {
      const { data } = await api('POST', '/v1/admin/users/' + encodeURIComponent(u.username) + '/reset-password', { body: {} });
      notice('Reset the password of ' + u.username + ': the old one and every session have ended.', 'ok');
      out.append(grantBox(u.username, data));
    } catch (e) {
      out.append(failure(e, 'user-error'));
    }
  }

  // Deleting asks twice: the first click arms the button, the second deletes.
  async function deleteUser(u, out) {
    const button = document.getElementById('user-delete');
    if (button && button.dataset.armed !== 'yes') {
      button.dataset.armed = 'yes';
      button.textContent = 'Really delete ' + u.username + '?';
      return;
    }
    clear(out);
    try {
      await api('DELETE', '/v1/admin/users/' + encodeURIComponent(u.username));
      notice('Deleted ' + u.username + '; its name is retired.', 'ok');
      peopleView();
    } catch (e) {
      out.append(failure(e, 'user-error'));
      if (button) { button.dataset.armed = ''; button.textContent = 'Delete account'; }
    }
  }

  // Service accounts: non-human principals with a client id and a secret (shown once, on
  // creation and on rotation), for the OAuth2 client_credentials grant.
  async function renderServices(box) {
    const out = h('div', { id: 'service-result' });
    const name = h('input', { id: 'service-name', name: 'name', autocomplete: 'off', required: true });
    const roles = h('input', { id: 'service-roles', name: 'roles', placeholder: 'viewer editor' });
    const scopes = h('input', { id: 'service-scopes', name: 'scopes', placeholder: 'documents:read' });
    const form = h('form', { id: 'service-form', class: 'card' }, h('h3', {}, 'New service account'),
      field('Name', name), field('Roles (space separated)', roles), field('Scopes it may request (space separated)', scopes),
      h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'service-save' }, 'Create')));
    const secretBox = (what, data) => h('div', { id: 'service-secret', class: 'card', role: 'status' },
      h('p', {}, what + ' (shown once; Warden keeps only its hash):'),
      h('p', {}, 'client id ', h('code', { id: 'service-client-id' }, data.client_id)),
      h('p', {}, 'secret ', h('code', { id: 'service-client-secret' }, data.client_secret)),
      h('p', { class: 'hint' }, 'The service gets tokens with grant_type=client_credentials (HTTP Basic or form fields).'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearFieldErrors(form);
      clear(out);
      const words = (el) => el.value.split(/\s+/).filter(Boolean);
      try {
        const { data } = await api('POST', '/v1/admin/service-accounts', { body: { name: name.value.trim(), roles: words(roles), scopes: words(scopes) } });
        notice('Created service account ' + data.name + '.', 'ok');
        await listServices();
        out.append(secretBox('Secret of ' + data.name, data));
      } catch (e) {
        out.append(failure(e, 'service-error'));
        if (e.details && e.details.field) showFieldError(form, e.details.field.split(/[.[]/)[0], e.message);
      }
    });
    const list = h('div', { id: 'services-list' });
    async function listServices() {
      clear(list);
      let page;
      try {
        page = (await api('GET', '/v1/admin/service-accounts?limit=' + PAGE)).data;
      } catch (e) {
        list.append(failure(e, 'services-error'));
        return;
      }
      const row = (a) => h('tr', { data: { service: a.name } },
        h('td', {}, a.name, h('small', { class: 'hint' }, ' ' + a.client_id)),
        h('td', {}, a.roles.map((r) => r.replace(/^role:/, '')).join(' ') || '—'),
        h('td', {}, a.scopes.join(' ') || '—'),
        h('td', {}, a.secrets.map((x) => x.expires_at ? 'old until ' + new Date(x.expires_at * 1000).toISOString().slice(11, 19) : 'current').join(', ')),
        h('td', {},
          h('button', { type: 'button', class: 'secondary rotate-service', 'aria-label': 'Rotate the secret of ' + a.name, onclick: async () => {
            clear(out);
            try {
              const { data } = await api('POST', '/v1/admin/service-accounts/' + encodeURIComponent(a.name) + '/secret', { body: {} });
              await listServices();
              out.append(secretBox('New secret of ' + a.name + ' (the old one works for the overlap)', data));
            } catch (e) { out.append(failure(e, 'service-error')); }
          } }, 'Rotate'),
          h('button', { type: 'button', class: 'secondary danger delete-service', 'aria-label': 'Delete ' + a.name, onclick: async (ev) => {
            const b = ev.currentTarget;
            if (b.dataset.armed !== 'yes') { b.dataset.armed = 'yes'; b.textContent = 'Really delete?'; return; }
            clear(out);
            try {
              await api('DELETE', '/v1/admin/service-accounts/' + encodeURIComponent(a.name));
              notice('Deleted service account ' + a.name + '.', 'ok');
              await listServices();
            } catch (e) { out.append(failure(e, 'service-error')); }
          } }, 'Delete')));
      list.append(h('p', { id: 'services-count', class: 'hint' }, page.total + ' service account(s)'),
        h('div', { class: 'scroll' }, h('table', { id: 'services-table', class: 'data' },
          h('thead', {}, h('tr', {}, ['service', 'roles', 'scopes', 'secrets', ''].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, page.items.map(row)))));
    }
    box.append(form, out, list);
    await listServices();
  }

  // Roles as a tree: each role above the roles and users that inherit it.
  function renderRoles(box, roles) {
    const byRole = new Map(roles.map((r) => [r.role, r]));
    const isChild = new Set(roles.flatMap((r) => r.members.filter((m) => m.startsWith('role:'))));
    const node = (role, seen) => {
      const r = byRole.get(role);
      const members = r ? r.members : [];
      const childRoles = members.filter((m) => m.startsWith('role:'));
      const users = members.filter((m) => !m.startsWith('role:'));
      const label = h('span', { class: 'role' }, role);
      if (seen.has(role)) return h('li', {}, label, ' (cycle)');
      const next = new Set(seen).add(role);
      return h('li', { data: { role } },
        childRoles.length || users.length
          ? h('details', { open: true }, h('summary', {}, label, h('small', { class: 'hint' }, ' ' + users.length + ' user(s)')),
            h('ul', {}, childRoles.map((c) => node(c, next)),
              users.map((u) => h('li', { class: 'member' }, u.replace(/^user:/, '')))))
          : label);
    };
    const roots = roles.filter((r) => !isChild.has(r.role)).map((r) => r.role);
    box.append(h('p', { class: 'hint' }, 'Each role is shown above the roles and users that inherit its rights.'),
      h('ul', { id: 'roles-tree', class: 'tree' }, roots.map((r) => node(r, new Set()))));
  }

  function renderAssign(box) {
    const member = h('input', { id: 'assign-member', name: 'member', placeholder: 'user:alice or role:editor', required: true });
    const role = h('input', { id: 'assign-role', name: 'role', placeholder: 'role:viewer', required: true });
    const panel = h('div', { id: 'assign-preview' });
    const form = h('form', { id: 'assign-form', class: 'card' },
      field('Member', member), field('Role it inherits', role),
      h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'assign-preview-btn' }, 'Preview')), panel);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const a = { member: member.value.trim(), role: role.value.trim() };
      preview(panel, { change: { assign: [a] } },
        (version) => api('POST', '/v1/admin/roles/assignments', { body: a, ifMatch: version }),
        () => peopleView(), form, [a.member]);
    });
    box.append(form);
  }

  function openUnassign(member, role) {
    const panel = $('#assign-preview');
    if (!panel) return;
    panel.scrollIntoView({ block: 'nearest' });
    const a = { member, role };
    preview(panel, { change: { unassign: [a] } },
      (version) => api('DELETE', '/v1/admin/roles/assignments', { body: a, ifMatch: version }),
      () => peopleView(), null, [member]);
  }

  function renderCheck(box) {
    const user = h('input', { id: 'check-user', name: 'user', required: true, placeholder: 'alice' });
    const object = h('input', { id: 'check-object', name: 'object', required: true, placeholder: 'document or /api/documents/7' });
    const action = h('input', { id: 'check-action', name: 'action', required: true, placeholder: 'read or GET' });
    const attrs = h('textarea', { id: 'check-attributes', name: 'attributes', rows: 2, placeholder: '{"department": "eng", "classification": 1}' });
    const out = h('div', { id: 'check-result', 'aria-live': 'polite' });
    const form = h('form', { id: 'check-form', class: 'card' },
      h('p', { class: 'hint' }, 'What the live policy answers for a real user (all the scopes they may request).'),
      field('User', user), field('Object (resource type or path)', object), field('Action', action),
      field('Object attributes (JSON)', attrs),
      h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'check-submit' }, 'Check')), out);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearFieldErrors(form);
      clear(out);
      let attributes = {};
      try { attributes = attrs.value.trim() ? JSON.parse(attrs.value) : {}; } catch (e) {
        showFieldError(form, 'attributes', 'not valid JSON: ' + e.message);
        return;
      }
      const o = object.value.trim();
      const obj = o.startsWith('/') ? { path: o, attributes } : { type: o, attributes };
      try {
        const r = (await api('POST', '/v1/check', {
          body: { checks: [{ subject: { name: user.value.trim() }, object: obj, action: action.value.trim() }], explain: true },
        })).data;
        const res = r.results[0];
        out.append(h('p', { id: 'check-answer', class: 'answer ' + (res.allowed ? 'allow' : 'deny'), data: { allowed: res.allowed } },
          (res.allowed ? 'Allowed' : 'Denied') + ' under policy version ' + r.policy_version +
          (res.error ? ' (' + res.error + ')' : '') +
          (res.matched_rules && res.matched_rules.length ? '; matched rule(s) ' + res.matched_rules.join(', ') : '; no rule matched')));
        if (res.unevaluated && res.unevaluated.length) {
          // Rules whose condition could not be evaluated: an allow among them granted nothing,
          // a deny denied. Each says which attributes to send (or fix).
          out.append(h('ul', { id: 'check-unevaluated', class: 'hint' }, res.unevaluated.map((u) =>
            h('li', {}, 'Not evaluated: rule #' + u.rule_id + ' (' + u.effect + '): ' + u.message +
              (u.attributes && u.attributes.length ? ' (send: ' + u.attributes.join(', ') + ')' : '')))));
        }
        if (res.conditions && res.conditions.length) out.append(conditionsTable(res.conditions));
      } catch (e) {
        out.append(failure(e, 'check-error'));
      }
    });
    box.append(form);
  }

  // "Who can do this to that object?" (GET /v1/admin/analysis/who-can): every account the
  // live policy allows, with the rules that grant it and the role chain to each; without an
  // object id, each account's condition on the objects, and the answer says it is incomplete.
  function renderWhoCan(box) {
    const type = h('input', { id: 'who-can-type', name: 'object_type', required: true, placeholder: 'document or /v1/admin/users' });
    const id = h('input', { id: 'who-can-id', name: 'object_id', inputmode: 'numeric', placeholder: '7 (a document; empty: every object of the type)' });
    const action = h('input', { id: 'who-can-action', name: 'action', required: true, placeholder: 'read or GET' });
    const out = h('div', { id: 'who-can-result', 'aria-live': 'polite' });
    const form = h('form', { id: 'who-can-form', class: 'card' },
      h('p', { class: 'hint' }, 'Every enabled account the live policy allows, with the rules and role chains that grant it.'),
      field('Object type or route', type), field('Object id', id), field('Action', action),
      h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'who-can-submit' }, 'Who can')), out);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearFieldErrors(form);
      clear(out);
      const q = new URLSearchParams({ object_type: type.value.trim(), action: action.value.trim() });
      const oid = id.value.trim();
      if (oid) {
        if (!/^[0-9]+$/.test(oid)) { showFieldError(form, 'object_id', 'a document id is a number'); return; }
        q.set('object_id', oid);
      }
      try {
        const r = (await api('GET', '/v1/admin/analysis/who-can?' + q.toString())).data;
        out.append(h('p', { id: 'who-can-complete', class: 'answer ' + (r.complete ? 'allow' : 'deny'), data: { complete: r.complete } },
          r.subjects.length + ' account(s) under policy version ' + r.policy_version + '; ' +
          (r.complete ? 'complete: this is everyone.' : 'incomplete: some answers depend on the object\'s attributes (give an id).')));
        if (!r.subjects.length) return;
        const chain = (g) => '#' + g.id + ' ' + g.subject + (g.chain.length > 1 ? ' (via ' + g.chain.join(' \u2192 ') + ')' : '');
        out.append(h('div', { class: 'scroll' }, h('table', { id: 'who-can-table', class: 'data' },
          h('caption', {}, 'Who can ' + action.value.trim() + ' ' + type.value.trim() + (oid ? ' ' + oid : '')),
          h('thead', {}, h('tr', {}, ['account', 'granted by', 'roles', 'on objects where'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, r.subjects.map((s) => h('tr', { data: { username: s.username } },
            h('td', {}, s.username),
            h('td', { class: 'rules' }, s.rules.length ? s.rules.map(chain).join('; ') : '(depends on the object)'),
            h('td', {}, s.roles.join(', ')),
            h('td', { class: 'cond' }, s.condition || 'every one')))))));
      } catch (e) {
        out.append(failure(e, 'who-can-error'));
      }
    });
    box.append(form);
  }

  function conditionsTable(conditions) {
    return h('div', { class: 'scroll' }, h('table', { class: 'data conditions' },
      h('caption', {}, 'Every rule that applies, and its condition'),
      h('thead', {}, h('tr', {}, ['rule', 'effect', 'condition', 'result'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, conditions.map((c) => h('tr', {},
        h('td', {}, '#' + c.rule_id), h('td', { class: 'eff-' + c.effect }, c.effect),
        h('td', { class: 'cond' }, c.condition || '(always)'),
        h('td', { class: c.result === 'true' ? 'ok' : 'bad' }, c.result))))));
  }

  // ---------------------------------------------------------------------------------------
  // History: versions, a comparison of any version with the current policy, rollback.
  let historyOffset = 0;

  async function historyView() {
    const main = clear(view());
    main.append(h('h1', {}, 'History'));
    const panel = h('div', { id: 'history-panel' });
    const list = h('div', { id: 'versions-list' });
    main.append(panel, list);
    let page;
    try {
      page = (await api('GET', '/v1/admin/policy/versions?limit=' + PAGE + '&offset=' + historyOffset)).data;
    } catch (e) {
      list.append(failure(e));
      return;
    }
    list.append(pager('versions-count', 'version(s), newest first', page, historyOffset, (offset) => { historyOffset = offset; historyView(); }),
      h('div', { class: 'scroll' }, h('table', { id: 'versions', class: 'data' },
        h('thead', {}, h('tr', {}, ['version', 'when', 'who', 'what', 'summary', ''].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, page.items.map((v) => h('tr', { data: { version: v.version } },
          h('td', {}, String(v.version)), h('td', {}, fmtTime(v.created_at)), h('td', {}, v.actor),
          h('td', {}, v.action), h('td', {}, v.summary),
          h('td', { class: 'row-actions' },
            h('button', { type: 'button', class: 'secondary compare', id: 'compare-' + v.version, onclick: () => compare(panel, v.version) }, 'Compare with now'),
            h('button', { type: 'button', class: 'danger rollback', id: 'rollback-' + v.version, onclick: () => rollback(panel, v.version) }, 'Roll back…'))))))));
  }

  function ruleLine(r) {
    return '#' + r.id + ' ' + r.subject + ' · ' + r.object + ' · ' + r.action + ' · ' + r.scope + ' · ' + r.effect + (r.condition ? ' if ' + r.condition : '');
  }

  async function compare(panel, version) {
    clear(panel).append(h('p', { class: 'hint' }, 'Comparing…'));
    let c;
    try {
      c = (await api('GET', '/v1/admin/policy/versions/' + version + '/compare')).data;
    } catch (e) {
      clear(panel).append(failure(e));
      return;
    }
    const list = (title, items, cls, fmt) => (items.length ? [h('h3', {}, title), h('ul', { class: 'diff ' + cls }, items.map((i) => h('li', {}, fmt(i))))] : []);
    const same = !c.only_then.length && !c.only_now.length && !c.changed.length && !c.inheritance_only_then.length && !c.inheritance_only_now.length;
    clear(panel).append(h('section', { id: 'compare', class: 'card' },
      h('h2', {}, 'Version ' + c.version + ' against the current version ' + c.current_version),
      same ? h('p', {}, 'The rules and role inheritance are the same.') : null,
      list('Only in version ' + c.version + ' (a rollback restores them)', c.only_then, 'del', ruleLine),
      list('Only now (a rollback removes them)', c.only_now, 'add', ruleLine),
      list('Changed', c.changed, 'chg', (x) => h('span', {}, 'then ' + ruleLine(x.then), h('br'), 'now ' + ruleLine(x.now))),
      list('Inheritance only in version ' + c.version, c.inheritance_only_then, 'del', (p) => p[0] + ' inherits ' + p[1]),
      list('Inheritance only now', c.inheritance_only_now, 'add', (p) => p[0] + ' inherits ' + p[1]),
      h('div', { class: 'actions' }, h('button', { type: 'button', class: 'secondary', onclick: () => clear(panel) }, 'Close'))));
  }

  function rollback(panel, version) {
    const inner = h('div', { id: 'preview-panel' });
    clear(panel).append(h('section', { class: 'card', id: 'rollback-card' },
      h('h2', {}, 'Roll back to version ' + version),
      h('p', { class: 'hint' }, 'Restores the rules and role inheritance of version ' + version + ' as a new version; user role assignments stay as they are.'),
      inner));
    preview(inner, { rollback_to: version },
      (expected) => api('POST', '/v1/admin/policy/rollback', { body: { version }, ifMatch: expected }),
      () => historyView(), null);
  }

  // ---------------------------------------------------------------------------------------
  // Grid: the live matrix of any matrix of the policy, filterable, with a "why" for every
  // cell, and its YAML to edit (matrixEditor).
  let gridMatrix = null;

  async function gridView() {
    const main = clear(view());
    main.append(h('h1', {}, 'Grid'));
    let list;
    try {
      // A tenant's matrices are addressed under its own route, not here.
      list = (await api('GET', '/v1/admin/matrices?coverage=false')).data.filter((m) => !m.tenant);
    } catch (e) {
      main.append(failure(e));
      return;
    }
    const select = h('select', { id: 'matrix-select', name: 'matrix' }, list.map((m) =>
      h('option', { value: m.name }, m.name + (m.invariant ? ' (invariant)' : '') + (m.failures.length ? ' — ' + m.failures.length + ' failing' : ''))));
    if (gridMatrix && list.some((m) => m.name === gridMatrix)) select.value = gridMatrix;
    const fs = h('input', { id: 'grid-subject', name: 'subject', placeholder: 'filter subjects' });
    const fo = h('input', { id: 'grid-object', name: 'object', placeholder: 'filter objects' });
    const area = h('div', { id: 'grid-area' });
    const why = h('aside', { id: 'why', 'aria-live': 'polite' });
    const editor = h('div', { id: 'matrix-editor' });
    const edit = h('button', { id: 'matrix-edit', type: 'button', class: 'secondary' }, 'Edit YAML…');
    edit.addEventListener('click', () => matrixEditor(editor, select.value));
    main.append(h('div', { class: 'filters' }, field('Matrix', select), field('Subject contains', fs), field('Object contains', fo), edit),
      editor,
      h('p', { class: 'legend' }, h('span', { class: 'cell allow' }, 'allow'), ' ', h('span', { class: 'cell deny' }, 'deny'), ' ',
        h('span', { class: 'cell allow unexpected' }, '!'), ' differs from what the matrix expects; select a cell for why.'),
      h('div', { class: 'gridwrap' }, area, why));
    let grid = null;
    const draw = () => { if (grid) drawGrid(area, why, grid, fs.value.trim(), fo.value.trim()); };
    const load = async () => {
      gridMatrix = select.value;
      clear(why);
      clear(area).append(h('p', { class: 'hint' }, 'Evaluating…'));
      try {
        grid = (await api('GET', '/v1/admin/matrices/' + encodeURIComponent(select.value) + '/grid')).data;
      } catch (e) {
        clear(area).append(failure(e));
        return;
      }
      draw();
    };
    select.addEventListener('change', load);
    fs.addEventListener('input', draw);
    fo.addEventListener('input', draw);
    await load();
  }

  // A matrix's YAML as stored, in a text area; Save puts it back as a new policy version
  // (If-Match: the version it was read at). A name not in the policy creates a matrix.
  async function matrixEditor(box, name) {
    clear(box).append(h('p', { class: 'hint' }, 'Loading…'));
    let got;
    try {
      got = await api('GET', '/v1/admin/matrices/' + encodeURIComponent(name), { accept: 'application/yaml' });
    } catch (e) {
      clear(box).append(failure(e));
      return;
    }
    const version = got.etag ? got.etag.replace(/"/g, '') : null;
    const nameInput = h('input', { id: 'matrix-name', name: 'matrix-name', value: name });
    const text = h('textarea', { id: 'matrix-yaml', name: 'matrix-yaml', rows: 18, spellcheck: 'false' });
    text.value = got.data;
    const status = h('div', { id: 'matrix-edit-status', 'aria-live': 'polite' });
    const save = h('button', { id: 'matrix-save', type: 'submit' }, 'Save as a new version');
    const cancel = h('button', { id: 'matrix-cancel', type: 'button', class: 'secondary', onclick: () => clear(box) }, 'Cancel');
    const form = h('form', { id: 'matrix-form', class: 'card' },
      h('h2', {}, 'Matrix YAML'),
      h('p', { class: 'hint' }, 'The file format of policies/matrices. An invariant matrix must hold on the live policy; every later change must keep it.'),
      field('Name', nameInput), field('YAML', text), status, h('div', { class: 'actions' }, save, cancel));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const target = nameInput.value.trim();
      clear(status);
      try {
        const r = await api('PUT', '/v1/admin/matrices/' + encodeURIComponent(target),
          { yaml: text.value, ifMatch: target === name ? version : null });
        gridMatrix = target;
        notice('Matrix ' + target + ' saved as policy version ' + r.data.policy_version + '.');
        await gridView();
      } catch (e) {
        status.append(failure(e, 'matrix-error'));
        const cells = (e.details && e.details.cells) || [];
        if (cells.length) {
          status.append(h('ul', { id: 'matrix-failing' }, cells.map((c) =>
            h('li', {}, c.matrix + ': ' + c.subject + ' ' + c.action + ' ' + c.object + ' is ' + (c.after ? 'allowed' : 'denied') +
              ', expected ' + (c.expected ? 'allowed' : 'denied')))));
        }
      }
    });
    clear(box).append(form);
    text.focus();
  }

  function drawGrid(area, why, g, fs, fo) {
    const subjects = g.subjects.filter((s) => s.includes(fs));
    const objects = g.objects.filter((o) => o.includes(fo));
    const at = new Map(g.cells.map((c) => [c.subject + '\u0000' + c.object + '\u0000' + c.action, c]));
    const differing = g.cells.filter((c) => c.expected !== undefined && c.expected !== c.allowed).length;
    const word = (b) => (b ? 'allow' : 'deny');
    const table = h('table', { id: 'grid', class: 'grid live', data: { matrix: g.name, version: g.policy_version } },
      h('caption', {}, g.name + ' at policy version ' + g.policy_version + ': ' + g.cells.length + ' cells, ' + differing + ' differ from the expectation'),
      h('thead', {},
        h('tr', {}, h('th', { rowspan: 2, scope: 'col' }, 'subject'), objects.map((o) => h('th', { colspan: g.actions.length, scope: 'colgroup', class: 'obj' }, o))),
        h('tr', {}, objects.map(() => g.actions.map((a) => h('th', { scope: 'col', class: 'act' }, a))))),
      h('tbody', {}, subjects.map((s) => h('tr', {}, h('th', { scope: 'row' }, s),
        objects.map((o) => g.actions.map((a) => {
          const c = at.get(s + '\u0000' + o + '\u0000' + a);
          if (!c) return h('td', {});
          const off = c.expected !== undefined && c.expected !== c.allowed;
          const label = s + ' ' + a + ' ' + o + ': ' + word(c.allowed) + (c.expected !== undefined ? ' (expected ' + word(c.expected) + ')' : ' (not checked)');
          return h('td', {}, h('button', {
            type: 'button', class: 'cell ' + word(c.allowed) + (off ? ' unexpected' : ''), title: c.reason, 'aria-label': label,
            data: { subject: s, object: o, action: a, allowed: c.allowed },
            onclick: () => explainCell(why, g.name, c),
          }, off ? '!' : (c.allowed ? '✓' : '·')));
        }))))));
    clear(area).append(g.description ? h('p', { class: 'hint' }, g.description) : null, h('div', { class: 'scroll' }, table));
  }

  async function explainCell(why, matrix, c) {
    clear(why).append(h('p', { class: 'hint' }, 'Explaining…'));
    let w;
    try {
      const q = new URLSearchParams({ subject: c.subject, object: c.object, action: c.action });
      w = (await api('GET', '/v1/admin/matrices/' + encodeURIComponent(matrix) + '/why?' + q)).data;
    } catch (e) {
      clear(why).append(failure(e));
      return;
    }
    const word = (b) => (b ? 'allowed' : 'denied');
    clear(why).append(h('section', { id: 'why-card', class: 'card' },
      h('h2', {}, w.cell.subject + ' · ' + w.cell.action + ' · ' + w.cell.object),
      h('p', { id: 'why-answer', class: 'answer ' + (w.cell.allowed ? 'allow' : 'deny') }, word(w.cell.allowed) +
        (w.cell.expected !== undefined ? ' (the matrix expects ' + word(w.cell.expected) + ')' : ' (not checked by the matrix)')),
      h('p', { id: 'why-reason' }, 'Decided by: ' + w.cell.reason),
      h('dl', {},
        h('dt', {}, 'Subject'), h('dd', {}, 'roles ' + (w.subject.roles.join(', ') || '—') + '; scopes ' + (w.subject.scopes.join(' ') || '—') + '; ' + (fmtAttrs(w.subject.attributes) || 'no attributes')),
        h('dt', {}, 'Object'), h('dd', {}, w.object.resource + '; ' + (fmtAttrs(w.object.attributes) || 'no attributes'))),
      w.conditions.length ? conditionsTable(w.conditions) : h('p', {}, 'No rule applies to this subject, object and action.')));
  }

  // ---------------------------------------------------------------------------------------
  // Routing
  // ---------------------------------------------------------------------------------------
  // Tenant: one tenant's members and rules through /v1/tenants/{tenant}/admin/. An
  // installation admin picks any tenant; anyone else sees their token's tenant only.
  async function setUpTenants() {
    session.tenant = (session.me && session.me.policy_subject && session.me.policy_subject.tenant) || 'default';
    session.tenants = null;
    try {
      session.tenants = (await api('GET', '/v1/admin/tenants')).data.map((t) => t.name);
    } catch (_) { /* not an installation admin: the token's tenant only */ }
    let box = $('#tenant-box');
    if (!box) {
      box = h('span', { id: 'tenant-box', class: 'who' });
      $('#whoami').before(box);
    }
    const names = session.tenants || [session.tenant];
    const select = h('select', { id: 'tenant-picker', disabled: !session.tenants, title: session.tenants ? 'Switch tenant' : 'Your token is for this tenant only' },
      names.map((n) => h('option', { value: n }, n)));
    select.value = session.tenant;
    select.addEventListener('change', () => {
      session.tenant = select.value;
      if (location.hash === '#tenant') route(); else location.hash = '#tenant';
    });
    clear(box).append(h('label', { for: 'tenant-picker' }, 'Tenant '), select);
  }

  async function tenantView() {
    const t = session.tenant || 'default';
    const base = '/v1/tenants/' + encodeURIComponent(t) + '/admin';
    const main = clear(view());
    main.append(h('h1', {}, 'Tenant ', h('span', { id: 'tenant-name' }, t)),
      h('p', { class: 'hint' }, 'The members of ' + t + ', their roles there and the rules that apply in ' + t + ' only (' + base + '/…). ' +
        (session.tenants ? 'Switch tenant with the picker at the top.' : 'Your token is for this tenant only.')));
    const membersBox = h('section', { id: 'tenant-members', 'aria-label': 'Members' }, h('h2', {}, 'Members'));
    const rulesBox = h('section', { id: 'tenant-rules', 'aria-label': 'Tenant rules' }, h('h2', {}, 'Rules of ' + t));
    main.append(h('div', { class: 'two' }, membersBox, rulesBox));
    await Promise.all([tenantMembers(membersBox, base, t), tenantRules(rulesBox, base, t)]);
  }

  // Reloads the Tenant section if it still shows tenant `t`.
  function reloadTenant(t) {
    if (location.hash === '#tenant' && session.tenant === t) tenantView().catch((e) => view().append(failure(e)));
  }

  async function tenantMembers(box, base, t) {
    const list = h('div', { id: 'tenant-members-list' });
    const result = h('div', { id: 'member-result' });
    const name = h('input', { id: 'member-name', name: 'name', required: true, placeholder: 'alice' });
    const roles = h('input', { id: 'member-roles', name: 'roles', placeholder: 'role:editor, role:viewer' });
    const form = h('form', { id: 'member-form', class: 'card' }, h('h3', {}, 'Add a member or replace their roles'),
      field('Username', name), field('Roles', roles, 'comma-separated; empty = a member without roles'),
      h('div', { class: 'actions' }, h('button', { id: 'member-save', type: 'submit' }, 'Save member')), result);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clear(result);
      const wanted = roles.value.split(',').map((r) => r.trim()).filter(Boolean);
      try {
        const out = await api('PUT', base + '/members/' + encodeURIComponent(name.value.trim()), { body: { roles: wanted } });
        notice('Saved ' + name.value.trim() + ' in ' + t + ': the policy is version ' + out.data.policy_version + '.', 'ok');
        reloadTenant(t);
      } catch (e) { result.append(failure(e, 'member-error')); }
    });
    box.append(list, form);
    let members;
    try {
      members = (await api('GET', base + '/members')).data;
    } catch (e) {
      list.append(failure(e));
      return;
    }
    if (session.tenant !== t) return;
    list.append(h('div', { class: 'scroll' }, h('table', { id: 'tenant-members-table', class: 'data' },
      h('thead', {}, h('tr', {}, ['member', 'roles in ' + t, ''].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, members.map((m) => h('tr', { data: { member: m.name } },
        h('td', {}, m.name), h('td', {}, m.roles.join(', ') || '—'),
        h('td', { class: 'row-actions' }, h('button', { type: 'button', class: 'danger remove-member', 'aria-label': 'Remove ' + m.name + ' from ' + t,
          onclick: async () => {
            clear(result);
            try {
              await api('DELETE', base + '/members/' + encodeURIComponent(m.name));
              notice('Removed ' + m.name + ' from ' + t + '.', 'ok');
              reloadTenant(t);
            } catch (e) { result.append(failure(e, 'member-error')); }
          } }, 'Remove'))))))));
  }

  async function tenantRules(box, base, t) {
    const list = h('div', { id: 'tenant-rules-list' });
    const result = h('div', { id: 'tenant-rule-result' });
    const inp = {
      subject: h('input', { id: 'tenant-rule-subject', name: 'subject', required: true, placeholder: 'role:editor or user:alice' }),
      object: h('input', { id: 'tenant-rule-object', name: 'object', required: true, placeholder: 'report or /api/reports/:id' }),
      action: h('input', { id: 'tenant-rule-action', name: 'action', required: true, placeholder: 'read or GET' }),
      effect: h('select', { id: 'tenant-rule-effect', name: 'effect' }, h('option', { value: 'allow' }, 'allow'), h('option', { value: 'deny' }, 'deny')),
      condition: h('input', { id: 'tenant-rule-condition', name: 'condition', placeholder: 'empty = always' }),
    };
    const form = h('form', { id: 'tenant-rule-form', class: 'card' }, h('h3', {}, 'Add a rule of ' + t),
      h('div', { class: 'cols' }, field('Subject', inp.subject), field('Object', inp.object), field('Action', inp.action), field('Effect', inp.effect)),
      field('Condition', inp.condition),
      h('div', { class: 'actions' }, h('button', { id: 'tenant-rule-add', type: 'submit' }, 'Add rule')), result);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clear(result);
      const body = {};
      for (const k of Object.keys(inp)) body[k] = inp[k].value.trim();
      try {
        const out = await api('POST', base + '/rules', { body });
        notice('Added a rule of ' + t + ': the policy is version ' + out.data.policy_version + '.', 'ok');
        reloadTenant(t);
      } catch (e) { result.append(failure(e, 'tenant-rule-error')); }
    });
    box.append(list, form);
    let page;
    try {
      page = (await api('GET', base + '/rules')).data;
    } catch (e) {
      list.append(failure(e));
      return;
    }
    if (session.tenant !== t) return;
    list.append(h('p', { id: 'tenant-rules-count' }, page.total + ' rule(s) of ' + t + ', policy version ' + page.policy_version),
      h('div', { class: 'scroll' }, h('table', { id: 'tenant-rules-table', class: 'data' },
        h('thead', {}, h('tr', {}, ['id', 'subject', 'object', 'action', 'condition', 'effect', ''].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, page.items.map((r) => h('tr', { data: { ruleId: r.id } },
          h('td', {}, String(r.id)), h('td', {}, r.subject), h('td', {}, r.object), h('td', {}, r.action),
          h('td', { class: 'cond' }, r.condition || '—'), h('td', { class: 'eff-' + r.effect }, r.effect),
          h('td', { class: 'row-actions' }, h('button', { type: 'button', class: 'danger delete-tenant-rule', 'aria-label': 'Delete rule ' + r.id,
            onclick: async () => {
              clear(result);
              try {
                await api('DELETE', base + '/rules/' + r.id);
                notice('Deleted rule ' + r.id + ' of ' + t + '.', 'ok');
                reloadTenant(t);
              } catch (e) { result.append(failure(e, 'tenant-rule-error')); }
            } }, 'Delete'))))))));
  }

  const views = { '#rules': rulesView, '#people': peopleView, '#history': historyView, '#grid': gridView, '#tenant': tenantView };

  function route() {
    if (!session.access) { signInView(); return; }
    const hash = views[location.hash] ? location.hash : '#rules';
    for (const a of document.querySelectorAll('#nav a')) {
      if (a.getAttribute('href') === hash) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    notice('');
    views[hash]().catch((e) => view().append(failure(e)));
    view().focus({ preventScroll: true });
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('#signout').addEventListener('click', () => signOut('Signed out.'));
    // The current section's link reloads it (no hashchange fires for the same hash).
    for (const a of document.querySelectorAll('#nav a')) {
      a.addEventListener('click', () => { if (a.getAttribute('href') === location.hash) route(); });
    }
    window.addEventListener('hashchange', route);
    route();
  });
})();
