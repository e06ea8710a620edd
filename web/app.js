// The page: login and registration, the task list, the session list. All text from the
// services or the user goes through textContent, never innerHTML.

import * as auth from './auth.js';

const $ = (id) => document.getElementById(id);
const views = { auth: $('auth-view'), app: $('app-view') };
let busy = false;

function show(view, message = '') {
  views.auth.hidden = view !== 'auth';
  views.app.hidden = view !== 'app';
  $('account').hidden = view !== 'app';
  status(message);
  if (view === 'auth') $('login-username').focus();
}

function status(message, isError = false) {
  const line = $('status');
  line.textContent = message;
  line.classList.toggle('error', isError);
}

/** Runs a user action: errors become a status line; a lost session, the login screen. */
async function act(action) {
  try {
    await action();
  } catch (error) {
    if (error instanceof auth.LoginRequired) return; // onSignedOut already showed why
    status(error.message ?? String(error), true);
  }
}

async function api(path, options = {}) {
  if (options.body !== undefined) {
    options = {
      ...options,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(options.body),
    };
  }
  return auth.json(await auth.authorizedFetch(path, options));
}

async function enter() {
  show('app');
  await Promise.all([loadTasks(), loadSessions(), loadMe()]);
}

async function loadMe() {
  // From the auth-service, so the name is there after a reload too (the page keeps no
  // state of its own between loads).
  const me = await api('/auth/me');
  const role = me.role === 'admin' ? ' (admin)' : '';
  $('whoami').textContent = `Signed in as ${me.username}${role}`;
}

/** A short description of a user agent ("Chrome on Linux"); null if it names nothing known. */
export function describeDevice(userAgent) {
  const ua = userAgent || '';
  const browsers = [
    [/Edg\//, 'Edge'],
    [/OPR\//, 'Opera'],
    [/Firefox\//, 'Firefox'],
    [/Chrom(e|ium)\//, 'Chrome'],
    [/Version\/[\d.]+.*Safari\//, 'Safari'],
    [/^tessera-client\//, 'Tessera CLI'],
    [/^curl\//, 'curl'],
  ];
  const systems = [
    [/Android/, 'Android'],
    [/iPhone|iPad|iPod/, 'iOS'],
    [/CrOS/, 'ChromeOS'],
    [/Windows/, 'Windows'],
    [/Mac OS X|Macintosh/, 'macOS'],
    [/Linux/, 'Linux'],
  ];
  const browser = browsers.find(([pattern]) => pattern.test(ua));
  const system = systems.find(([pattern]) => pattern.test(ua));
  if (!browser) return null;
  return system ? `${browser[1]} on ${system[1]}` : browser[1];
}

async function loadTasks() {
  const { tasks } = await api('/tasks?limit=100');
  const list = $('task-list');
  list.replaceChildren(...tasks.map(taskItem));
  $('no-tasks').hidden = tasks.length > 0;
}

function taskItem(task) {
  const item = document.createElement('li');
  item.dataset.id = task.id;
  item.classList.toggle('done', task.done);

  const box = document.createElement('input');
  box.type = 'checkbox';
  box.id = `task-${task.id}`;
  box.checked = task.done;
  box.addEventListener('change', () =>
    act(async () => {
      await api(`/tasks/${task.id}`, { method: 'PATCH', body: { done: box.checked } });
      await loadTasks();
    }),
  );
  const label = document.createElement('label');
  label.htmlFor = box.id;
  label.className = 'title';
  label.textContent = task.title;

  const edit = button('Edit', `Edit “${task.title}”`, () => editTitle(item, task));
  const remove = button('Delete', `Delete “${task.title}”`, () =>
    act(async () => {
      await api(`/tasks/${task.id}`, { method: 'DELETE' });
      await loadTasks();
    }),
  );
  item.append(box, label, edit, remove);
  return item;
}

function editTitle(item, task) {
  const form = document.createElement('form');
  form.className = 'edit';
  const input = document.createElement('input');
  input.value = task.title;
  input.maxLength = 200;
  input.required = true;
  input.setAttribute('aria-label', 'Task title');
  const save = document.createElement('button');
  save.type = 'submit';
  save.textContent = 'Save';
  form.append(input, save);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    act(async () => {
      await api(`/tasks/${task.id}`, { method: 'PATCH', body: { title: input.value } });
      await loadTasks();
    });
  });
  item.replaceChildren(form);
  input.focus();
}

async function loadSessions() {
  const { sessions } = await api('/auth/sessions');
  $('session-list').replaceChildren(
    ...sessions.map((session) => {
      const item = document.createElement('li');
      const what = document.createElement('span');
      const device = describeDevice(session.user_agent) || session.user_agent || 'unknown client';
      what.textContent = `${device} · ${session.ip} · last used ${session.last_used_at}`;
      what.title = session.user_agent || '';
      what.className = 'device';
      item.append(what);
      if (session.current) {
        const mark = document.createElement('strong');
        mark.textContent = ' (this browser)';
        item.append(mark);
      } else {
        item.append(
          button('Revoke', 'Revoke this session', () =>
            act(async () => {
              await api(`/auth/sessions/${encodeURIComponent(session.id)}`, { method: 'DELETE' });
              await loadSessions();
            }),
          ),
        );
      }
      return item;
    }),
  );
}

function button(text, label, onClick) {
  const element = document.createElement('button');
  element.type = 'button';
  element.textContent = text;
  element.setAttribute('aria-label', label);
  element.addEventListener('click', onClick);
  return element;
}

function onSubmit(id, handler) {
  $(id).addEventListener('submit', (event) => {
    event.preventDefault();
    if (busy) return;
    busy = true;
    act(() => handler(new FormData(event.target), event.target)).finally(() => {
      busy = false;
    });
  });
}

onSubmit('login-form', async (data, form) => {
  await auth.login(data.get('username'), data.get('password'));
  form.reset();
  await enter();
});

onSubmit('register-form', async (data, form) => {
  const username = data.get('username');
  const password = data.get('password');
  await auth.register(username, password);
  await auth.login(username, password);
  form.reset();
  await enter();
});

onSubmit('add-form', async (data, form) => {
  await api('/tasks', { method: 'POST', body: { title: data.get('title') } });
  form.reset();
  await loadTasks();
});

$('logout').addEventListener('click', () => act(auth.logout));
$('logout-all').addEventListener('click', () => act(auth.logoutEverywhere));

auth.onSignedOut((reason) => show('auth', reason));

// A reload resumes the session from the refresh cookie, silently.
auth
  .refreshSession()
  .then(enter, (error) => show('auth', error instanceof auth.LoginRequired ? '' : error.message))
  .catch((error) => status(error.message ?? String(error), true))
  .finally(() => document.body.setAttribute('data-ready', 'true'));
