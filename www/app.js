// The demo board: notes people add and remove, each a key under `note/`
// of the shared database, listed and followed by a subscription to the
// prefix. Edits are written a moment after typing stops. Each note has a
// like counter (`likes/<id>`) incremented in a transaction, so that clicks
// made at once all count. The inspector shows the manifest's log.
import { MPS3 } from "./pkg/index.js";

const $ = (id) => document.getElementById(id);
const names = ["otter", "heron", "lynx", "marten", "ibis", "newt", "wren", "vole", "kestrel", "stoat"];
const me = sessionStorage.getItem("mps3-demo-name") ||
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

/** A note's element: its text, who wrote it last and when, its likes, a
 *  like button and a delete button. */
function noteElement(db, key) {
  const id = key.slice("note/".length);
  const el = document.createElement("article");
  el.className = "note";
  el.dataset.key = key;
  el.innerHTML = `<img class="picture" alt="" hidden>
    <textarea aria-label="note" placeholder="write something…"></textarea>
    <footer><span class="by"></span><span class="at"></span>
    <label class="attach" title="add a picture">picture<input type="file" accept="image/*" hidden></label>
    <button type="button" class="like" title="like">♥ <b class="likes">0</b></button>
    <button type="button" class="remove" title="remove this note">×</button></footer>`;
  // A picture is a binary value (`image/<id>`): the file's bytes, stored
  // as they are with their type.
  el.querySelector("input[type=file]").onchange = (ev) => {
    const file = ev.target.files[0];
    if (file) db.put(`image/${id}`, file).then(() => showError(null), showError);
  };
  const area = el.querySelector("textarea");
  let timer;
  area.addEventListener("input", () => {
    el.typedAt = Date.now();
    clearTimeout(timer);
    timer = setTimeout(() => {
      // Durable in this browser at once; committed to the bucket in the
      // background (when online).
      db.put(key, { text: area.value, by: me, at: Date.now() }, { await: "local" })
        .then(() => showError(null), showError);
    }, 300);
  });
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

/** Shows what a note holds now. */
function showNote(el, value) {
  const area = el.querySelector("textarea");
  const text = value?.text ?? "";
  // What someone is typing right now is not overwritten; a note merely
  // focused is.
  const typing = document.activeElement === area && Date.now() - (el.typedAt ?? 0) < 2000;
  if (!typing && area.value !== text) {
    area.value = text;
    el.classList.remove("flash");
    void el.offsetWidth;
    el.classList.add("flash");
  }
  el.querySelector(".by").textContent = value?.by ?? "";
  el.querySelector(".at").textContent = value?.at ? new Date(value.at).toLocaleTimeString() : "";
}

/** The inspector: the manifest's protocol, head, checkpoint and last
 *  entries, as this client knows them. */
async function inspect(db) {
  const i = await db.inspect();
  $("protocol").textContent = i.protocol ?? "not decided";
  $("head").textContent = i.head;
  $("checkpoint").textContent = i.checkpoint;
  $("entries").replaceChildren(...i.entries.slice().reverse().map((e) => {
    const row = document.createElement("tr");
    for (const cell of [e.seq, e.writer.slice(-8), new Date(e.at).toLocaleTimeString(),
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
  const db = new MPS3({
    label: me,
    defaultBucket: cfg.bucket,
    pollFrequency: 500,
    s3Config: local ? { endpoint: "local:" } : {
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
    if (s.lastSyncAt) $("synced").textContent = new Date(s.lastSyncAt).toLocaleTimeString();
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
    const img = notes.get(`note/${id}`)?.querySelector(".picture");
    if (!img) return;
    const picture = images.get(id);
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
  $("add").onclick = () => {
    const id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
    db.put(`note/${id}`, { text: "", by: me, at: Date.now() }).then(() => showError(null), showError);
  };
  setInterval(() => inspect(db).catch(() => {}), 2000);
}

main().catch((e) => { showError(e); $("conn").textContent = "error"; $("conn").className = "pill error"; });
