// The browser calls of the edges (src/web): each Rust module binds its
// part with `#[wasm_bindgen(module = "/src/web/edges.js")]` and calls it
// once per operation (each browser call made from Rust would be an import
// with a shim in the glue and its argument passing in the .wasm). One
// file, not a snippet per module: the browser tests' page, which loads
// each snippet as a module of its own, hung on loading now and then with
// seven. The release bundles it into index.js.

// src/web/errors.rs
export class MPS3Error extends Error {
  constructor(message, code, status, s3Code) {
    super(message);
    this.name = 'MPS3Error';
    this.code = code;
    if (status !== undefined) this.status = status;
    if (s3Code !== undefined) this.s3Code = s3Code;
  }
  // `message` is the sentence, `code` the code: joined once here.
  toString() { return this.code + ": " + this.message; }
}
export function mps3ErrorClass() { return MPS3Error; }

// src/web/convert.rs
// A value as JSON text (indented as the JS client writes it), or a
// TypeError saying why not, read after "value is not JSON: ".
// JSON.stringify alone would store a Map, a Set or a typed array as `{}`
// or an object of indices without a word; the replacer sees every value,
// nested ones too, after `toJSON` (a Date is its ISO string by then).
// Top-level binary values never get here (`written_as`).
export function mps3Json(value) {
  return JSON.stringify(value, (_, v) => {
    if (v === null || typeof v != "object") return v;
    const kind = Object.prototype.toString.call(v).slice(8, -1), is = "it holds a" + (/^[AEIOU]/.test(kind) ? "n " : " ") + kind;
    if (kind == "Map" || kind == "Set")
      throw new TypeError(is + ", which JSON stores as {}: write " + (kind == "Map" ? "Object.fromEntries(map)" : "[...set]") + " instead");
    if (kind == "Uint8Array" || kind == "ArrayBuffer" || kind == "Blob")
      throw new TypeError(is + ": binary data is stored alone, as a key's whole value");
    if (ArrayBuffer.isView(v))
      throw new TypeError(is + ": binary values are a Uint8Array, ArrayBuffer or Blob, e.g. new Uint8Array(x.buffer, x.byteOffset, x.byteLength)");
    return v;
  }, 2);
}

// src/web/fetch.rs
// Answers { s: status, h: "name\nvalue\n…", b: body bytes }, or { e:
// message } when no answer came (bad: the request itself was refused, so
// sending it again would not help). (What fetch, Headers and Request throw
// are errors: TypeError, DOMException.)
const message = (e) => e?.message ?? String(e);
export async function mps3Fetch(method, url, headers, body, controller) {
  let request, h = new Headers(), pairs = headers ? headers.split("\n") : [];
  for (let i = 0; i < pairs.length; i += 2) {
    try { h.append(pairs[i], pairs[i + 1]); }
    catch (e) { return { e: "header " + pairs[i] + ": " + message(e), bad: true }; }
  }
  try {
    request = new Request(url, { method, mode: "cors", cache: "no-store", headers: h,
      body: body.length ? body.slice() : undefined, signal: controller?.signal });
  } catch (e) { return { e: "request: " + message(e), bad: true }; }
  try {
    const r = await fetch(request), got = [];
    for (const [n, v] of r.headers) got.push(n, v);
    return { s: r.status, h: got.join("\n"), b: method == "HEAD" ? undefined : new Uint8Array(await r.arrayBuffer()) };
  } catch (e) { return { e: message(e) }; }
}

// src/web/store.rs
export function mps3IdbOpen(tables) {
  return new Promise((resolve, reject) => {
    let blocked = false;
    const r = indexedDB.open("mps3", 2);
    r.onupgradeneeded = () => {
      if (blocked) return r.transaction.abort();
      const db = r.result;
      for (const t of tables.split(" ")) if (!db.objectStoreNames.contains(t)) db.createObjectStore(t);
    };
    r.onsuccess = () => {
      const db = r.result;
      db.onversionchange = () => db.close();
      resolve(db);
    };
    r.onerror = reject;
    r.onblocked = () => { blocked = true; reject(); };
  });
}
const request = (r) => new Promise((ok, fail) => { r.onsuccess = () => ok(r.result); r.onerror = fail; });
// The operations, numbered as store.rs numbers them.
const GET = 0, PUT = 1, DELETE = 2, SCAN = 3;
// Answers: { v } a value, { k, v } a scan's keys and values, {} done;
// { e: 1 } the database could not be opened, { e: 2 } the request failed.
export async function mps3Idb(open, op, table, key, value, strict) {
  let db;
  try { db = await open; } catch { return { e: 1 }; }
  try {
    const tx = db.transaction(table, op == PUT || op == DELETE ? "readwrite" : "readonly",
      strict ? { durability: "strict" } : undefined);
    const store = tx.objectStore(table);
    if (op == GET) return { v: await request(store.get(key)) };
    if (op == SCAN) {
      // Every string starting with `key` sorts below key + U+FFFF.
      const range = IDBKeyRange.bound(key, key + "\uffff");
      const [k, v] = await Promise.all([request(store.getAllKeys(range)), request(store.getAll(range))]);
      return { k, v };
    }
    const done = new Promise((ok, fail) => { tx.oncomplete = ok; tx.onerror = tx.onabort = fail; });
    op == PUT ? store.put(value, key) : store.delete(key);
    await done;
    return {};
  } catch { return { e: 2 }; }
}

// src/web/locks.rs
const locks = () => globalThis.navigator?.locks;
export const mps3LocksSupported = () => !!locks();
export function mps3Lock(name, wait) {
  return new Promise((granted) => {
    if (!locks()) return granted();
    locks()
      .request(name, { ifAvailable: !wait }, (lock) => lock ? new Promise((release) => granted(release)) : granted(null))
      .catch(() => granted(null));
  });
}

// src/web/gzip.rs
export async function mps3Gzip(bytes) {
  // A copy: `bytes` is a view of the .wasm's memory, which the browser
  // would read after this returns, changed or moved by then.
  try {
    const zipped = new Response(bytes.slice()).body.pipeThrough(new CompressionStream("gzip"));
    return new Uint8Array(await new Response(zipped).arrayBuffer());
  } catch {}
}

// src/web/timer.rs
export const mps3Sleep = (ms) => new Promise((done) => setTimeout(done, ms));

// src/web/channel.rs
export function mps3Channel(name) {
  try { return new BroadcastChannel(name); } catch {}
}
export function mps3Listen(channel, receive) {
  if (channel) channel.onmessage = (e) => typeof e.data == "string" && receive(e.data);
}
export function mps3Post(channel, text) {
  try { channel?.postMessage(text); } catch {}
}

// src/web/class.rs
export function mps3WatchOnline(changed) {
  globalThis.addEventListener?.("online", () => changed(true));
  globalThis.addEventListener?.("offline", () => changed(false));
  return globalThis.navigator?.onLine !== false;
}

// src/web/io.rs
export const mps3Controller = () => { try { return new AbortController(); } catch {} };
export const mps3Abort = (controller) => controller?.abort();

// src/web/class.rs, src/web/log.rs
export function mps3Seed() {
  // No Web Crypto: ids need only be unique, not secret.
  try { return crypto.getRandomValues(new BigUint64Array(1))[0].toString(); }
  catch { return (BigInt(Math.floor(Math.random() * 2 ** 53)) ^ (BigInt(Date.now()) << 11n)).toString(); }
}
export const mps3Log = (event) => console.log(event);
export const mps3HandlerThrew = (error) => console.error("mps3: a handler threw", error);

// src/web/cipher.rs: encrypted manifests' keys stay here, as
// non-extractable CryptoKeys, named to the engine by their index. One
// call for every operation (`op`), so the .wasm has one import and one
// future for them; each view of its memory is copied before an await.
const keys = [];
const AES = ["encrypt", "decrypt"];
export function mps3KeyAdd(key) {
  if (!(globalThis.CryptoKey && key instanceof CryptoKey) || key.algorithm?.name != "AES-GCM" || !AES.every((u) => key.usages.includes(u)))
    throw new Error('encryption.key must be an AES-GCM CryptoKey with the usages "encrypt" and "decrypt"');
  return keys.push(key) - 1;
}
const subtle = () => {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error("encryption needs WebCrypto, which browsers give only to secure pages (https or localhost)");
  return s;
};
export const mps3RandomBytes = (n) => subtle() && crypto.getRandomValues(new Uint8Array(n));
// 0: derive a key from passphrase bytes `a` and salt `b` (`n` PBKDF2
// iterations); 1: open the data key `b` wrapped by `key` with associated
// data `a`, as a key; 2: seal `b` by `key` with associated data `a` (the
// nonce first); 3: open it; 4: a new random data key wrapped by `key`
// with `a`, and as a key: [wrapped, index]. A key is its index; what does
// not open, undefined.
export async function mps3Cipher(op, key, a, b, n) {
  const s = subtle(), x = a.slice(), y = b.slice(), kept = (k) => keys.push(k) - 1;
  const aes = (raw) => s.importKey("raw", raw, "AES-GCM", false, AES);
  const seal = async (plain) => {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const body = new Uint8Array(await s.encrypt({ name: "AES-GCM", iv, additionalData: x }, keys[key], plain));
    const out = new Uint8Array(12 + body.length);
    out.set(iv);
    out.set(body, 12);
    return out;
  };
  const open = async () => {
    try { return new Uint8Array(await s.decrypt({ name: "AES-GCM", iv: y.slice(0, 12), additionalData: x }, keys[key], y.slice(12))); } catch {}
  };
  if (op == 0) {
    const base = await s.importKey("raw", x, "PBKDF2", false, ["deriveKey"]);
    return kept(await s.deriveKey({ name: "PBKDF2", hash: "SHA-256", salt: y, iterations: n }, base, { name: "AES-GCM", length: 256 }, false, AES));
  }
  if (op == 1) {
    const raw = await open();
    return raw && kept(await aes(raw));
  }
  if (op == 2) return seal(y);
  if (op == 3) return open();
  const raw = crypto.getRandomValues(new Uint8Array(32));
  return [await seal(raw), kept(await aes(raw))];
}
