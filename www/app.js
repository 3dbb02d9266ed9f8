// The demo board: notes people add and remove, each a key under `note/`
// of the shared database, listed and followed by a subscription to the
// prefix. Edits are written a moment after typing stops, and an edit
// someone else made meanwhile is merged into the text, never dropped. Each
// note has a like counter (`likes/<id>`) incremented in a transaction, so
// that clicks made at once all count. The inspector shows the manifest's
// log, its writers by name (`people/<writer id>`).
import { MPS3 } from "./pkg/index.js";

const $ = (id) => document.getElementById(id);
/** Behind the auth proxy, who signed in (`{ sub, roles }`), else null. */
let user = JSON.parse(sessionStorage.getItem("mps3-demo-user") ?? "null");
/** A time of day, 24-hour: short enough for the inspector's column. */
const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });
const names = ["otter", "heron", "lynx", "marten", "ibis", "newt", "wren", "vole", "kestrel", "stoat"];
const me = user?.sub || sessionStorage.getItem("mps3-demo-name") ||
  `${names[Math.floor(Math.random() * names.length)]}-${Math.floor(Math.random() * 90 + 10)}`;
sessionStorage.setItem("mps3-demo-name", me);
$("me").textContent = me;

let lastError = null;
let refreshStatus = () => {};
const showError = (e) => {
  if (e?.code === "Offline") e = null; // the status line says so already
  lastError = e;
  $("error").hidden = !e;
  $("error").textContent = e ? `${e.code ?? "Error"}: ${e.message}` : "";
  refreshStatus();
};

/** The bucket to use: the settings of this tab, else the local test
 *  server (config.json, written by scripts/demo.sh), else the browser's
 *  own bucket, so that opening the page always works. */
async function bucketConfig() {
  const saved = sessionStorage.getItem("mps3-demo-bucket");
  if (saved) return JSON.parse(saved);
  const res = await fetch("./config.json", { cache: "no-store" }).catch(() => null);
  if (res?.ok) return res.json();
  return { bucket: "demo-board", endpoint: "local:" };
}

/** Behind the proxy: a sign-in (the proxy's dev identity provider issues
 *  an ID token for the name chosen), and credentials from the proxy for
 *  that token, fetched again when they near their expiry. */
async function signIn(proxy) {
  if (!user) {
    $("signin").hidden = false;
    user = await new Promise((resolve) => {
      for (const b of $("signin").querySelectorAll("button")) {
        b.onclick = () => resolve({ sub: b.dataset.user, roles: b.dataset.roles });
      }
    });
    sessionStorage.setItem("mps3-demo-user", JSON.stringify(user));
    location.reload();
    await new Promise(() => {});
  }
  $("signout").hidden = false;
  $("signout").onclick = () => { sessionStorage.removeItem("mps3-demo-user"); location.reload(); };
  const res = await fetch(`${proxy.idp}/__dev/idp/token?sub=${encodeURIComponent(user.sub)}&roles=${user.roles}`);
  const { id_token: token } = await res.json();
  return async () => {
    const r = await fetch(`${proxy.url}/__mps3/credentials`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
    const body = await r.json();
    if (!r.ok) throw new Error(`sign-in refused: ${body.message}`);
    return body;
  };
}

/** Whether this page may change the note `id` (behind the proxy, only
 *  its author; anywhere else, anyone). */
const mine = (id) => !user || id.startsWith(`${user.sub}/`);

function settings() {
  const form = $("settings");
  $("settings-toggle").onclick = () => { form.hidden = !form.hidden; };
  form.onsubmit = (ev) => {
    ev.preventDefault();
    const f = Object.fromEntries(new FormData(form));
    sessionStorage.setItem("mps3-demo-bucket", JSON.stringify({
      bucket: f.bucket, endpoint: f.endpoint || undefined, region: f.region || "us-east-1",
      accessKeyId: f.accessKeyId, secretAccessKey: f.secretAccessKey,
    }));
    location.reload();
  };
  $("settings-reset").onclick = () => { sessionStorage.removeItem("mps3-demo-bucket"); location.reload(); };
}

/** A short hash of a text: what a saved note names as the text it was
 *  edited from (`from`), so that readers know which edits it holds. */
const hash = (s) => {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return (h >>> 0).toString(36);
};

/** The one region where `a` and `b` differ: its start, its end in `a`
 *  and its end in `b`. */
function changed(a, b) {
  let start = 0, endA = a.length, endB = b.length;
  while (start < endA && start < endB && a[start] === b[start]) start++;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) { endA--; endB--; }
  return [start, endA, endB];
}

/** Two edits of `base` in one text. Each is the region it changed: apart,
 *  both apply; overlapping, the overlap keeps both texts. Whose edit is
 *  whose does not change the result, so two people merging the same
 *  pair get the same text. */
function merge(base, a, b) {
  if (a === b || b === base) return a;
  if (a === base) return b;
  const edit = (t) => { const [s, e, end] = changed(base, t); return { s, e, text: t.slice(s, end), t }; };
  let [x, y] = [edit(a), edit(b)].sort((p, q) => p.s - q.s || (p.text < q.text ? -1 : 1));
  if (x.e <= y.s) return base.slice(0, x.s) + x.text + base.slice(x.e, y.s) + y.text + base.slice(y.e);
  // Overlapping: each side's text of the whole region, both kept.
  const s = x.s, e = Math.max(x.e, y.e);
  const [p, q] = [x.t, y.t].map((t) => t.slice(s, t.length - (base.length - e))).sort();
  return base.slice(0, s) + p + q + base.slice(e);
}

/** Puts `text` in a note's textarea, keeping the caret where it was
 *  relative to the text around it, and flashes the note. */
function setText(el, text) {
  const area = el.querySelector("textarea");
  const [s, oldEnd, newEnd] = changed(area.value, text);
  const move = (p) => (p >= oldEnd ? p + newEnd - oldEnd : Math.min(p, s));
  const [from, to] = [move(area.selectionStart), move(area.selectionEnd)];
  area.value = text;
  if (document.activeElement === area) area.setSelectionRange(from, to);
  el.classList.remove("flash");
  void el.offsetWidth;
  el.classList.add("flash");
}

/** A note's element: its text, who wrote it last and when, its likes, a
 *  like button, a picture button and a delete button. Its text is edited
 *  from `base`, the last text read from the bucket; `seen` holds the texts
 *  read by hash (what a write says it was edited from), `mine` the times
 *  of this page's own saves (echoed back by the subscription). */
function noteElement(db, key) {
  const id = key.slice("note/".length);
  const el = document.createElement("article");
  el.className = "note";
  el.dataset.key = key;
  el.innerHTML = `<img class="picture" alt="" hidden>
    <textarea aria-label="note" placeholder="write something…"></textarea>
    <div class="meta"><span class="by"></span> <span class="at"></span></div>
    <footer><label class="attach" title="add a picture (a binary value)">picture<input type="file" accept="image/*" hidden></label>
    <button type="button" class="unattach" title="remove the picture" hidden>remove picture</button>
    <button type="button" class="like" title="like (a transaction)">♥ <b class="likes">0</b></button>
    <button type="button" class="remove" title="remove this note">×</button></footer>`;
  el.base = null;
  el.seen = new Map();
  el.mine = new Set();
  // A picture is a binary value (`image/<id>`): the file's bytes, stored
  // as they are with their type.
  el.querySelector("input[type=file]").onchange = (ev) => {
    const file = ev.target.files[0];
    if (file) db.put(`image/${id}`, file).then(() => showError(null), showError);
    ev.target.value = "";
  };
  el.querySelector(".unattach").onclick = () => db.delete(`image/${id}`).then(() => showError(null), showError);
  const area = el.querySelector("textarea");
  // Behind the proxy another's note is theirs: shown, not editable (a
  // write to it would be refused, and the page says so).
  if (!mine(id)) {
    area.readOnly = true;
    for (const c of el.querySelectorAll(".remove, .attach, .unattach")) c.hidden = true;
    el.classList.add("theirs");
  }
  let timer;
  // Saves the text a moment after the last change: durable in this browser
  // at once, committed to the bucket in the background (when online).
  el.save = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const text = area.value;
      if (text === el.base) return;
      const at = Date.now(), from = hash(el.base ?? "");
      el.base = text;
      remember(el, text);
      el.mine.add(at);
      if (el.mine.size > KEPT) el.mine.delete(el.mine.values().next().value);
      db.put(key, { text, by: me, at, from }, { await: "local" }).then(() => showError(null), showError);
    }, 300);
  };
  area.addEventListener("input", el.save);
  // A like is a read-modify-write: a transaction, so that two people
  // clicking at once both count.
  el.querySelector(".like").onclick = () => db.transaction(async (tx) => {
    const n = (await tx.get(`likes/${id}`)) ?? 0;
    tx.set(`likes/${id}`, n + 1);
  }).then(() => showError(null), showError);
  // The note, its likes and its picture go together, in one entry.
  el.querySelector(".remove").onclick = () =>
    db.putAll(new Map([[key, undefined], [`likes/${id}`, undefined], [`image/${id}`, undefined]]))
      .then(() => showError(null), showError);
  return el;
}

/** How many of a note's texts (and of this page's saves) are kept: a
 *  write names a text it was edited from, recent unless its writer was
 *  away long, and then the last text read stands in for it. */
const KEPT = 32;

/** Keeps `text` as one a write may say it was edited from. */
function remember(el, text) {
  el.seen.set(hash(text), text);
  if (el.seen.size > KEPT) el.seen.delete(el.seen.keys().next().value);
}

/** Shows what a note holds now. Someone else's edit is merged with what
 *  this page typed since the text it was edited from (theirs names it),
 *  at once, typing or not: shown, never dropped, and saved again when the
 *  merge holds edits theirs does not. */
function showNote(el, value) {
  const area = el.querySelector("textarea");
  const text = value?.text ?? "";
  remember(el, text);
  if (el.base === null) {
    el.base = text;
    area.value = text;
  } else if (area.readOnly) {
    // Another's note (behind the proxy): theirs as it is.
    el.base = text;
    if (area.value !== text) setText(el, text);
  } else if (!(value?.by === me && el.mine.has(value.at)) && text !== el.base) {
    const merged = merge(el.seen.get(value?.from) ?? el.base, area.value, text);
    el.base = text;
    if (merged !== area.value) setText(el, merged);
    if (merged !== text) el.save();
  }
  el.querySelector(".by").textContent = value?.by ?? "";
  el.querySelector(".at").textContent = value?.at ? clock(value.at) : "";
}

/** Writers' names by writer id: each page writes its own under
 *  `people/<writer id>` (see `main`). */
const people = new Map();

/** The inspector: the manifest's protocol, head, checkpoint and last
 *  entries, as this client knows them, each writer by name where known. */
async function inspect(db) {
  const i = await db.inspect();
  $("protocol").textContent = i.protocol ?? "not decided";
  $("head").textContent = i.head;
  $("checkpoint").textContent = i.checkpoint;
  $("entries").replaceChildren(...i.entries.slice().reverse().map((e) => {
    const row = document.createElement("tr");
    const writer = e.writer === i.writer ? `${me} (you)` : people.get(e.writer) ?? e.writer.slice(-8);
    for (const cell of [e.seq, writer, clock(e.at),
      e.keys.map((k) => k.slice(k.indexOf("/") + 1)).join(", ")]) {
      const td = document.createElement("td");
      td.textContent = cell;
      row.append(td);
    }
    return row;
  }));
}

async function main() {
  settings();
  const cfg = await bucketConfig();
  const local = cfg.endpoint === "local:";
  // Behind the auth proxy: its endpoint, credentials for the person signed
  // in, the board's manifest there, and no autoclean (the compactor's).
  const proxy = cfg.proxy && await signIn(cfg.proxy);
  const db = new MPS3({
    label: me,
    defaultBucket: cfg.bucket,
    pollFrequency: 500,
    ...(proxy ? { defaultManifest: "proxy-board.json", autoclean: false } : {}),
    s3Config: local ? { endpoint: "local:" } : proxy ? {
      endpoint: cfg.proxy.url,
      region: cfg.region,
      credentials: proxy,
    } : {
      endpoint: cfg.endpoint,
      region: cfg.region,
      credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey },
    },
  });
  window.mps3 = db; // for the end-to-end test and the curious
  $("local-note").hidden = !local;
  // The status line, from the client's own status events: online (the
  // switch) and connected (the bucket answers), writes not yet in the
  // bucket, the last time the board caught up.
  const status = (s = db.status) => {
    $("pending").textContent = s.pendingWrites;
    if (s.lastSyncAt) $("synced").textContent = clock(s.lastSyncAt);
    // A bucket set up wrong (no such bucket, keys refused, a CORS rule
    // that blocks writes): its error, with the fix, until it is fixed.
    if (s.error) {
      $("error").hidden = false;
      $("error").textContent = `${s.error.code}: ${s.error.message}`;
    } else if (!lastError) {
      $("error").hidden = true;
    }
    const conn = lastError || s.error ? "error" : !s.online ? "offline" : !s.connected ? "disconnected"
      : local ? "local only" : "online";
    $("conn").textContent = conn;
    $("conn").className = `pill ${conn === "error" ? "error" : conn === "online" || conn === "local only" ? "online" : "offline"}`;
    $("offline-toggle").textContent = s.online ? "Go offline" : "Go online";
  };
  db.onStatus(status);
  // onStatus calls come when something shown changes; the time of the last
  // sync moves with every poll, read here.
  setInterval(() => status(), 1000);
  refreshStatus = () => status();
  $("offline-toggle").onclick = () => { db.online = !db.online; };
  status();
  // The board is every key under note/: the first call lists them all,
  // later ones what was added, changed or removed (value undefined).
  const notes = new Map();
  // Likes and pictures by note id, kept for notes that show up later (the
  // subscriptions are called in no particular order).
  const likes = new Map();
  const images = new Map();
  const showLikes = (id) => {
    const el = notes.get(`note/${id}`);
    if (el) el.querySelector(".likes").textContent = likes.get(id) ?? 0;
  };
  const showImage = (id) => {
    const el = notes.get(`note/${id}`);
    if (!el) return;
    const img = el.querySelector(".picture"), picture = images.get(id);
    el.querySelector(".unattach").hidden = !picture;
    if (img.src) URL.revokeObjectURL(img.src);
    img.hidden = !picture;
    img.src = picture ? URL.createObjectURL(new Blob([picture.value], { type: picture.contentType })) : "";
  };
  db.subscribe({ prefix: "note/" }, (changes, error) => {
    if (error) return showError(error);
    showError(null);
    for (const { key, value } of changes) {
      let el = notes.get(key);
      if (value === undefined) {
        el?.remove();
        notes.delete(key);
        continue;
      }
      if (!el) {
        el = noteElement(db, key);
        notes.set(key, el);
        // Keys sort by creation time: keep the board in key order.
        const after = [...notes.keys()].sort().find((k) => k > key);
        $("board").insertBefore(el, after ? notes.get(after) : null);
        showLikes(key.slice("note/".length));
        showImage(key.slice("note/".length));
      }
      showNote(el, value);
    }
    $("count").textContent = notes.size;
    inspect(db).catch(() => {});
  });
  db.subscribe({ prefix: "likes/" }, (changes, error) => {
    if (error) return showError(error);
    for (const { key, value } of changes) {
      const id = key.slice("likes/".length);
      likes.set(id, value);
      showLikes(id);
    }
    inspect(db).catch(() => {});
  });
  db.subscribe({ prefix: "image/" }, (changes, error) => {
    if (error) return showError(error);
    for (const { key, value, contentType } of changes) {
      const id = key.slice("image/".length);
      if (value === undefined) images.delete(id);
      else images.set(id, { value, contentType });
      showImage(id);
    }
  });
  // Who is who in the inspector: this page's writer id under its name.
  db.subscribe({ prefix: "people/" }, (changes, error) => {
    if (error) return;
    for (const { key, value } of changes) {
      if (typeof value === "string") people.set(key.slice("people/".length), value);
      else people.delete(key.slice("people/".length));
    }
  });
  // This tab's earlier page loads named their writers too: their keys go
  // in the same write, so that the bucket keeps one per tab. (Behind the
  // proxy the names are the people signed in, and no rule lets a writer
  // name itself.)
  if (!user) db.inspect().then(async ({ writer }) => {
    const earlier = (await db.list({ prefix: "people/" })).filter((e) => e.value === me && e.key !== `people/${writer}`);
    await db.putAll(new Map([[`people/${writer}`, me], ...earlier.map((e) => [e.key, undefined])]), { await: "local" });
  }).catch(showError);
  $("add").onclick = () => {
    // Behind the proxy a note is under its author's name (`note/<sub>/…`).
    const id = `${user ? `${user.sub}/` : ""}${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
    db.put(`note/${id}`, { text: "", by: me, at: Date.now() }).then(() => showError(null), showError);
  };
  setInterval(() => inspect(db).catch(() => {}), 2000);
  privateNotes(cfg, local, proxy);
}

/** Private notes: a manifest of their own, encrypted in this browser with
 *  a key stretched from the passphrase (`encryption`), so the bucket holds
 *  only ciphertext. Another passphrase is told `Decrypt` and writes
 *  nothing. Behind the proxy each person has their own manifest. */
function privateNotes(cfg, local, proxy) {
  let priv;
  // (Keys under the prefix; behind the proxy, a manifest of one's own.)
  const mine = user ? `private/${user.sub}/note` : "private";
  const manifest = user ? `private/${user.sub}/manifest.json` : "private.json";
  const fail = (e) => {
    $("private-error").hidden = !e;
    $("private-error").textContent = !e ? "" : e.code === "Decrypt"
      ? "That passphrase does not open these notes (Decrypt): nothing was read or written."
      : `${e.code ?? "Error"}: ${e.message}`;
  };
  $("unlock").onsubmit = (ev) => {
    ev.preventDefault();
    priv?.shutdown();
    fail(null);
    priv = new MPS3({
      label: `${me}-private`,
      defaultBucket: cfg.bucket,
      defaultManifest: manifest,
      pollFrequency: 1000,
      ...(proxy ? { autoclean: false } : {}),
      s3Config: local ? { endpoint: "local:" } : proxy
        ? { endpoint: cfg.proxy.url, region: cfg.region, credentials: proxy }
        : { endpoint: cfg.endpoint, region: cfg.region, credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey } },
      encryption: { passphrase: new FormData(ev.target).get("passphrase") },
    });
    window.mps3Private = priv; // for the end-to-end test
    const shown = new Map();
    priv.subscribe({ prefix: `${mine}/` }, (changes, error) => {
      if (error) return fail(error);
      fail(null);
      $("private-add").hidden = false;
      for (const { key, value } of changes) {
        shown.get(key)?.remove();
        shown.delete(key);
        if (value === undefined) continue;
        const li = document.createElement("li");
        li.textContent = value.text;
        const remove = document.createElement("button");
        remove.type = "button";
        remove.textContent = "×";
        remove.title = "Remove";
        remove.onclick = () => priv.delete(key).catch(fail);
        li.append(" ", remove);
        shown.set(key, li);
        $("private-notes").append(li);
      }
      priv.inspect().then((i) => {
        $("private-key").textContent = i.encryption?.key ? `encrypted · key ${i.encryption.key}` : "";
      }, () => {});
    });
    $("private-notes").replaceChildren();
  };
  $("private-add").onsubmit = (ev) => {
    ev.preventDefault();
    const text = new FormData(ev.target).get("text");
    const id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
    priv.put(`${mine}/${id}`, { text, at: Date.now() }).then(() => ev.target.reset(), fail);
  };
}

main().catch((e) => { showError(e); $("conn").textContent = "error"; $("conn").className = "pill error"; });
