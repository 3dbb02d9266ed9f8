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

let pending = 0;
const setPending = (d) => { pending += d; $("pending").textContent = pending; };
const synced = () => { $("synced").textContent = new Date().toLocaleTimeString(); };
const showError = (e) => {
  $("error").hidden = !e;
  $("error").textContent = e ? `${e.code ?? "Error"}: ${e.message}` : "";
  $("conn").className = e ? "pill error" : "pill online";
  $("conn").textContent = e ? "error" : "online";
};

/** The bucket to use: the settings of this tab, else the local test server. */
async function bucketConfig() {
  const saved = sessionStorage.getItem("mps3-demo-bucket");
  if (saved) return JSON.parse(saved);
  const res = await fetch("./config.json", { cache: "no-store" });
  if (!res.ok) throw new Error("no config.json: start the demo with scripts/demo.sh, or open Settings");
  return res.json();
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
  const db = new MPS3({
    label: me,
    defaultBucket: cfg.bucket,
    pollFrequency: 500,
    s3Config: {
      endpoint: cfg.endpoint,
      region: cfg.region,
      credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey },
    },
  });
  window.mps3 = db; // for the end-to-end test and the curious
  $("conn").textContent = "connecting…";
  for (let n = 0; n < NOTES; n++) {
    const el = noteElement(n);
    const area = el.querySelector("textarea");
    const key = `note/${n}`;
    let timer;
    area.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        setPending(+1);
        try {
          await db.put(key, { text: area.value, by: me, at: Date.now() });
          synced();
          showError(null);
        } catch (e) {
          showError(e);
        } finally {
          setPending(-1);
        }
      }, 300);
    });
    db.subscribe(key, (value, error) => {
      if (error) return showError(error);
      showError(null);
      synced();
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

main().catch((e) => showError(e));
