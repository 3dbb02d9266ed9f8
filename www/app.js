// The demo board: 12 notes, each one key (`note/<n>`) of the shared
// database. Edits are written a moment after typing stops; every tab
// subscribes to every note and sees the others' edits as they land.
import { MPS3 } from "./pkg/index.js";

const NOTES = 12;
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

function noteElement(n) {
  const el = document.createElement("article");
  el.className = "note";
  el.innerHTML = `<textarea aria-label="note ${n + 1}" placeholder="note ${n + 1}…"></textarea>
    <footer><span class="by"></span><span class="at"></span></footer>`;
  $("board").append(el);
  return el;
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
    const conn = lastError ? "error" : !s.online ? "offline" : !s.connected ? "disconnected"
      : local ? "local only" : "online";
    $("conn").textContent = conn;
    $("conn").className = `pill ${conn === "error" ? "error" : conn === "online" || conn === "local only" ? "online" : "offline"}`;
    $("offline-toggle").textContent = s.online ? "Go offline" : "Go online";
  };
  db.onStatus(status);
  refreshStatus = () => status();
  $("offline-toggle").onclick = () => { db.online = !db.online; };
  status();
  for (let n = 0; n < NOTES; n++) {
    const el = noteElement(n);
    const area = el.querySelector("textarea");
    const key = `note/${n}`;
    let timer;
    area.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        try {
          // Durable in this browser at once; committed to the bucket in the
          // background (when online).
          await db.put(key, { text: area.value, by: me, at: Date.now() }, { await: "local" });
          showError(null);
        } catch (e) {
          showError(e);
        }
      }, 300);
    });
    db.subscribe(key, (value, error) => {
      if (error) return showError(error);
      showError(null);
      const text = value?.text ?? "";
      if (document.activeElement !== area && area.value !== text) {
        area.value = text;
        el.classList.remove("flash");
        void el.offsetWidth;
        el.classList.add("flash");
      }
      el.querySelector(".by").textContent = value ? value.by : "";
      el.querySelector(".at").textContent = value ? new Date(value.at).toLocaleTimeString() : "";
    });
  }
}

main().catch((e) => { showError(e); $("conn").textContent = "error"; $("conn").className = "pill error"; });
