// Offline-first across reloads, crashes and tabs, in Chromium driven by
// playwright-core: what a page cannot test about itself. Run by
// scripts/test.sh with the package served at MPS3_DEMO_URL (/pkg/) and
// the test bed at MPS3_TESTBED_ENDPOINT.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { prepare } from "./pages.mjs";

const url = process.env.MPS3_DEMO_URL;
const testbed = process.env.MPS3_TESTBED_ENDPOINT;
const BUCKET = "demo-board";
let browser;

before(async () => {
  assert.ok(url && testbed, "MPS3_DEMO_URL / MPS3_TESTBED_ENDPOINT not set: run through scripts/test.sh");
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});
after(async () => browser?.close());

const control = async (method, path, body) => {
  const r = await fetch(`${testbed}/__testbed${path}`, {
    method, headers: { "content-type": "application/json" }, body: body && JSON.stringify(body),
  });
  assert.equal(r.status, 200, `control ${path}`);
  return r.json();
};

/** The valid manifest entries under `prefix`, oldest first, with their
 *  changes (`files`: url → {version}, or null for a delete). Protocol v2
 *  (what a new manifest is): the log's slots, with the values they carry
 *  (`values`). Protocol v1: the entries readers accept (LastModified
 *  within 5 s of the time in the key). */
async function validEntries(prefix) {
  const slots = (await control("GET", `/objects?bucket=${BUCKET}&prefix=${encodeURIComponent(prefix + "manifest.json.v2/log/")}`)).objects;
  if (slots.length) {
    return slots.sort((a, b) => (a.key < b.key ? -1 : 1)).map((o) => {
      const e = JSON.parse(o.body);
      const files = {}, values = {};
      for (const [url, s] of Object.entries(e.set)) {
        files[url] = { version: s.u };
        if ("i" in s) values[url] = s.i;
      }
      for (const url of e.del) files[url] = null;
      return { ts: Number(o.key.split("/").pop()), key: o.key, files, values };
    });
  }
  const { objects } = await control("GET", `/objects?bucket=${BUCKET}&prefix=${encodeURIComponent(prefix + "manifest.json@")}`);
  return objects.flatMap((o) => {
    const ts = 2 ** 42 - 1 - parseInt(o.key.split("@")[1].split("_")[0], 32);
    if (Math.abs(Date.parse(o.lastModified) - ts) >= 5000) return [];
    return [{ ts, key: o.key, files: JSON.parse(o.body).update?.files ?? {} }];
  }).sort((a, b) => a.ts - b.ts || (a.key < b.key ? 1 : -1));
}

async function openPage(context, prefix) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  await page.goto(`${url}config.json`);
  await prepare(page, prefix);
  return { page, errors };
}

const until = async (page, fn, arg, ms = 20000) => page.waitForFunction(fn, arg, { timeout: ms, polling: 50 });

/** The value of `key` according to a fresh client on its own context. */
async function freshRead(prefix, key) {
  const context = await browser.newContext();
  const { page } = await openPage(context, prefix);
  const v = await page.evaluate((key) => window.make(`reader-${Math.random()}`).get(key), key);
  await context.close();
  return v;
}

test("writes made offline survive a reload and are committed once, in order", async () => {
  const prefix = `e2e-reload-${Date.now()}/`;
  const context = await browser.newContext();
  const { page, errors } = await openPage(context, prefix);
  await page.evaluate(async () => {
    window.db = window.make("device", { online: false });
    for (let i = 1; i <= 5; i++) await window.db.put("k", i);
    await window.db.put("other", "x");
  });
  assert.equal(await page.evaluate(() => window.db.pendingWrites), 6);
  await page.reload();
  await prepare(page, prefix);
  const afterReload = await page.evaluate(async () => {
    window.db = window.make("device", { online: false });
    return { k: await window.db.get("k"), pending: window.db.pendingWrites };
  });
  assert.deepEqual(afterReload, { k: 5, pending: 6 }, "the queue came back from IndexedDB");
  assert.deepEqual(await validEntries(prefix), [], "nothing reached the bucket while offline");
  await page.evaluate(() => { window.db.online = true; });
  await until(page, () => window.db.pendingWrites === 0);
  const entries = await validEntries(prefix);
  // (On v2 an entry may carry the writes queued behind its own, of other
  // keys: the last `k` and `other` share one. Each write is in one entry.)
  const order = entries.flatMap((e) => Object.keys(e.files));
  assert.deepEqual(order, [...Array(5).fill(`${BUCKET}/k`), `${BUCKET}/other`],
    `each queued write committed once, in the order written: ${JSON.stringify(order)}`);
  assert.equal(await freshRead(prefix, "k"), 5);
  assert.deepEqual(errors, []);
  await context.close();
});

test("a page closed between the content PUT and the entry PUT: its write lands once after reopening", async () => {
  for (const fault of ["hold", "drop"]) {
    const prefix = `e2e-crash-${fault}-${Date.now()}/`;
    const context = await browser.newContext();
    const { page } = await openPage(context, prefix);
    // The entry PUT is held (the page dies waiting), or applied with its
    // answer lost (the page dies not knowing: the lost answer leaves it
    // disconnected, and once its probe finds the bucket it waits out the
    // window before listing to learn whether the entry landed).
    // (Any retry of the entry PUT is held too.)
    const entry = `^/${BUCKET}/${prefix}manifest.json(%40|\\.v2/log/)`;
    await control("POST", "/faults", { seed: 1, rules: [
      { action: fault, methods: ["PUT"], path_regex: entry, times: 1, hold_ms: 3000 },
      { action: "hold", methods: ["PUT"], path_regex: entry, hold_ms: 3000 },
    ] });
    // Counted before the write starts: its commit may reach the entry PUT
    // before the test has seen the write accepted.
    const held = async () => {
      const stats = await control("GET", `/stats?bucket=${BUCKET}`);
      return fault === "hold" ? stats.held ?? 0 : stats.faults ?? 0;
    };
    const start = await held();
    await page.evaluate(() => {
      window.db = window.make("crashy");
      window.db.put("k", "survives", { await: "local" }).then(() => { window.accepted = true; });
    });
    await until(page, () => window.accepted === true);
    for (let i = 0; i < 100 && (await held()) === start; i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok((await held()) > start, `the entry PUT was ${fault === "hold" ? "held" : "dropped"} when the page dies`);
    await page.close({ runBeforeUnload: false });
    await control("DELETE", "/faults");
    // Reopen: the queue is committed by the new page, once.
    const again = await openPage(context, prefix);
    // A read waits for the stored queue to load (before that,
    // pendingWrites is 0 for a client that has not looked yet).
    assert.equal(await again.page.evaluate(() => { window.db = window.make("crashy"); return window.db.get("k"); }), "survives");
    await until(again.page, () => window.db.pendingWrites === 0, null, 40000);
    const entries = await validEntries(prefix);
    assert.equal(entries.length, 1, `${fault}: one valid entry, not ${JSON.stringify(entries)}`);
    assert.equal(await freshRead(prefix, "k"), "survives");
    assert.deepEqual(again.errors, []);
    await context.close();
  }
});

test("a page boots from IndexedDB with the server unreachable", async () => {
  const prefix = `e2e-boot-${Date.now()}/`;
  const context = await browser.newContext();
  let { page } = await openPage(context, prefix);
  await page.evaluate(async () => {
    const db = window.make("booter");
    await db.put("k", { hello: "cached" });
    await db.get("k");
  });
  // The bucket becomes unreachable: every request to it fails.
  await context.route(`${testbed}/**`, (route) => route.abort("connectionrefused"));
  await page.close();
  ({ page } = await openPage(context, prefix));
  const got = await page.evaluate(async () => {
    const t0 = performance.now();
    const db = window.make("booter");
    const seen = await new Promise((resolve) => db.subscribe("k", (v, e) => { if (!e) resolve(v); }));
    return { get: await db.get("k"), seen, ms: performance.now() - t0 };
  });
  assert.deepEqual(got.get, { hello: "cached" });
  assert.deepEqual(got.seen, { hello: "cached" });
  await context.close();
});

test("three clients toggling online and offline at random while writing converge with nothing lost", async () => {
  const prefix = `e2e-toggle-${Date.now()}/`;
  const contexts = await Promise.all([0, 1, 2].map(() => browser.newContext()));
  const pages = await Promise.all(contexts.map((c) => openPage(c, prefix)));
  const written = await Promise.all(pages.map(({ page }, n) => page.evaluate(async ([n, prefix]) => {
    const db = window.make(`toggler-${n}`);
    window.db = db;
    let seed = n + 1;
    const rand = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const mine = [];
    for (let i = 0; i < 12; i++) {
      if (rand() < 0.3) db.online = !db.online;
      const key = `${prefix}key-${Math.floor(rand() * 3)}`;
      const value = `c${n}-${i}`;
      await db.put(key, value, { await: "local" });
      mine.push([key, value]);
      await new Promise((r) => setTimeout(r, rand() * 300));
    }
    db.online = true;
    return mine;
  }, [n, prefix])));
  for (const { page } of pages) await until(page, () => window.db.pendingWrites === 0, null, 60000);
  const entries = await validEntries(prefix);
  // Every write is in exactly one valid entry, and each client's are in
  // the order it made them.
  const where = new Map();
  entries.forEach((e, i) => Object.entries(e.files).forEach(([, ref]) => {
    if (!ref) return;
    assert.ok(!where.has(ref.version), `version ${ref.version} committed twice`);
    where.set(ref.version, i);
  }));
  assert.equal(where.size, 36, "36 writes, 36 committed versions");
  // Which value each version holds: in the entry (v2's small values), or
  // the content object `<key>@<version>`.
  const { objects } = await control("GET", `/objects?bucket=${BUCKET}&prefix=${encodeURIComponent(prefix + "key-")}`);
  const position = new Map(objects.map((o) => [JSON.parse(o.body), where.get(o.key.split("@")[1])]));
  entries.forEach((e, i) => Object.values(e.values ?? {}).forEach((v) => position.set(v, i)));
  written.forEach((mine, n) => {
    const at = mine.map(([, value]) => position.get(value));
    assert.ok(at.every((p) => p !== undefined), `client ${n}: every write committed`);
    assert.deepEqual(at, [...at].sort((a, b) => a - b), `client ${n}'s writes in the order made`);
  });
  // All three converge on one state.
  const keys = [0, 1, 2].map((i) => `${prefix}key-${i}`);
  const finals = await Promise.all(pages.map(({ page }) => page.evaluate(async (keys) => {
    const m = await window.db.getAll(keys);
    return [...m.values()];
  }, keys)));
  const fresh = await Promise.all(keys.map((k) => freshRead(prefix, k)));
  for (const f of finals) assert.deepEqual(f, fresh);
  assert.ok(written.flat().length === 36);
  for (const { errors } of pages) assert.deepEqual(errors, []);
  await Promise.all(contexts.map((c) => c.close()));
});

test("two tabs of one label: a write in one reaches the other at once, and is committed once", async () => {
  const prefix = `e2e-tabs-${Date.now()}/`;
  const context = await browser.newContext();
  const one = await openPage(context, prefix);
  const two = await openPage(context, prefix);
  // A slow poll: what reaches tab two within a second came by broadcast.
  await two.page.evaluate(() => {
    window.db = window.make("tabbed", { pollFrequency: 60000 });
    window.seen = [];
    window.db.subscribe("k", (v, e) => { if (!e) window.seen.push(v); });
  });
  await until(two.page, () => window.seen.length === 1);
  // Tab one's entry PUT is held: the write is queued, not committed.
  const entry = `^/${BUCKET}/${prefix}manifest.json(%40|\\.v2/log/)`;
  await control("POST", "/faults", { seed: 1, rules: [{ action: "hold", methods: ["PUT"], path_regex: entry, times: 1, hold_ms: 10000 }] });
  await one.page.evaluate(() => {
    window.db = window.make("tabbed", { pollFrequency: 60000 });
    return window.db.put("k", "from tab one", { await: "local" });
  });
  const t0 = Date.now();
  await until(two.page, () => window.seen.at(-1) === "from tab one", null, 1000);
  const ms = Date.now() - t0;
  assert.equal(await two.page.evaluate(() => window.db.pendingWrites), 1, "tab two knows it is pending");
  // Tab one goes away with its write held; tab two takes it over.
  await one.page.close();
  await control("DELETE", "/faults");
  await until(two.page, () => window.db.pendingWrites === 0, null, 40000);
  const entries = await validEntries(prefix);
  assert.equal(entries.length, 1, `committed once: ${JSON.stringify(entries)}`);
  const seen = await two.page.evaluate(() => window.seen.map((v) => v ?? "<absent>"));
  assert.deepEqual(seen, ["<absent>", "from tab one"], "each version once, across the takeover");
  assert.equal(await freshRead(prefix, "k"), "from tab one");
  assert.ok(ms < 1000, `heard in ${ms} ms`);
  await context.close();
});

test("writes made offline survive closing the browser itself", async () => {
  const prefix = `e2e-close-${Date.now()}/`;
  const profile = mkdtempSync(join(tmpdir(), "mps3-profile-"));
  const launch = () => chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
  try {
    let context = await launch();
    let { page } = await openPage(context, prefix);
    await page.evaluate(async () => {
      const db = window.make("closer", { online: false });
      await db.put("a", 1);
      await db.put("b", 2);
    });
    await context.close(); // the whole browser, offline, writes queued
    assert.deepEqual(await validEntries(prefix), []);
    context = await launch();
    ({ page } = await openPage(context, prefix));
    // A read waits for the stored queue to load.
    assert.equal(await page.evaluate(() => { window.db = window.make("closer"); return window.db.get("b"); }), 2);
    await until(page, () => window.db.pendingWrites === 0, null, 40000);
    const order = (await validEntries(prefix)).flatMap((e) => Object.keys(e.files));
    assert.deepEqual(order, [`${BUCKET}/a`, `${BUCKET}/b`], "committed once each, in order");
    assert.equal(await freshRead(prefix, "b"), 2);
    await context.close();
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
});

test("a tab that dies with several queued writes: the other tab commits them, in order, once", async () => {
  const prefix = `e2e-tabs-order-${Date.now()}/`;
  const key = `${prefix}k`;
  const context = await browser.newContext();
  const one = await openPage(context, prefix);
  const two = await openPage(context, prefix);
  await two.page.evaluate(() => { window.db = window.make("tabbed-order", { pollFrequency: 60000 }); });
  const entry = `^/${BUCKET}/${prefix}manifest.json(%40|\\.v2/log/)`;
  await control("POST", "/faults", { seed: 1, rules: [{ action: "hold", methods: ["PUT"], path_regex: entry, times: 1, hold_ms: 10000 }] });
  await one.page.evaluate(async (key) => {
    window.db = window.make("tabbed-order", { pollFrequency: 60000 });
    for (const v of ["first", "second", "third"]) await window.db.put(key, v, { await: "local" });
  }, key);
  await until(two.page, () => window.db.pendingWrites === 3, null, 5000);
  await one.page.close();
  await control("DELETE", "/faults");
  await until(two.page, () => window.db.pendingWrites === 0, null, 40000);
  const entries = await validEntries(prefix);
  const { objects } = await control("GET", `/objects?bucket=${BUCKET}&prefix=${encodeURIComponent(key + "@")}`);
  const valueOf = new Map(objects.map((o) => [o.key.split("@")[1], JSON.parse(o.body)]));
  const committed = entries.map((e) => e.values?.[`${BUCKET}/${key}`] ?? valueOf.get(e.files[`${BUCKET}/${key}`]?.version));
  assert.deepEqual(committed, ["first", "second", "third"], "each once, in the order written");
  assert.equal(await freshRead(prefix, key), "third");
  assert.deepEqual([...one.errors, ...two.errors], []);
  await context.close();
});

// Offline without being told: the browser context is set offline by the
// driver (`navigator.onLine` false, the `offline` event, every request
// failing), and nobody sets `db.online`.

test("offline untold: a fresh client's put, not awaited, then a get of it answers within 100 ms", async () => {
  const prefix = `e2e-untold-fresh-${Date.now()}/`;
  const context = await browser.newContext();
  const { page, errors } = await openPage(context, prefix);
  await context.setOffline(true);
  const r = await page.evaluate(async () => {
    const db = window.make("fresh-untold");
    const t = performance.now();
    db.put("k", { v: 1 });
    const v = await db.get("k");
    return { v, ms: performance.now() - t, status: db.status };
  });
  assert.deepEqual(r.v, { v: 1 });
  assert.ok(r.ms < 100, `answered in ${r.ms} ms`);
  assert.equal(r.status.connected, false);
  assert.equal(r.status.online, true, "the app's switch untouched");
  assert.deepEqual(errors, []);
  await context.close();
});

test("offline untold: keys read while connected read from memory and IndexedDB within one request time-out", async () => {
  const prefix = `e2e-untold-stored-${Date.now()}/`;
  const context = await browser.newContext();
  const { page, errors } = await openPage(context, prefix);
  await page.evaluate(async () => {
    const w = window.make("writer-untold");
    await w.putAll({ a: 1, b: 2 });
    window.db = window.make("reader-untold", { retry: { timeoutMs: 2000 } });
    await window.db.getAll(["a", "b"]);
  });
  await context.setOffline(true);
  const r = await page.evaluate(async () => {
    const t = performance.now();
    const same = [await window.db.get("a"), await window.db.get("b")];
    const sameMs = performance.now() - t;
    // A new client of the same label: the state and values stored in
    // IndexedDB, read with the bucket out of reach.
    const again = window.make("reader-untold", { retry: { timeoutMs: 2000 } });
    const t2 = performance.now();
    const stored = [await again.get("a"), await again.get("b")];
    const storedMs = performance.now() - t2;
    const missing = await again.get("never", { manifest: "elsewhere.json" }).catch((e) => e.code);
    return { same, sameMs, stored, storedMs, missing };
  });
  assert.deepEqual(r.same, [1, 2]);
  assert.deepEqual(r.stored, [1, 2]);
  assert.ok(r.sameMs < 2000 && r.storedMs < 2000, `within one time-out: ${r.sameMs} and ${r.storedMs} ms`);
  assert.equal(r.missing, "Offline", "what is not stored");
  assert.deepEqual(errors, []);
  await context.close();
});

test("offline untold: a page closed while disconnected; a new page of its label, connected, commits its writes once", async () => {
  const prefix = `e2e-untold-close-${Date.now()}/`;
  const context = await browser.newContext();
  const { page } = await openPage(context, prefix);
  await context.setOffline(true);
  const pending = await page.evaluate(async () => {
    const db = window.make("closer");
    for (let i = 1; i <= 3; i++) await db.put("k", i); // each resolves once durable
    await db.put("other", "x");
    return db.pendingWrites;
  });
  assert.equal(pending, 4);
  await page.close({ runBeforeUnload: false });
  await context.setOffline(false);
  const again = await openPage(context, prefix);
  await again.page.evaluate(async () => {
    window.db = window.make("closer");
    await window.db.get("k");
  });
  await until(again.page, () => window.db.pendingWrites === 0);
  const entries = await validEntries(prefix);
  const order = entries.flatMap((e) => Object.keys(e.files));
  assert.deepEqual(order, [`${BUCKET}/k`, `${BUCKET}/k`, `${BUCKET}/k`, `${BUCKET}/other`], "once each, in order");
  assert.equal(await freshRead(prefix, "k"), 3, "another browser context sees them");
  assert.deepEqual(again.errors, []);
  await context.close();
});

test("offline untold: a page that loses the network and gets it back: writes land once, in order, subscribers catch up, onStatus in order", async () => {
  const prefix = `e2e-untold-flap-${Date.now()}/`;
  const context = await browser.newContext();
  const watcherContext = await browser.newContext();
  const { page, errors } = await openPage(context, prefix);
  const watcher = await openPage(watcherContext, prefix);
  await watcher.page.evaluate(() => {
    window.seen = [];
    window.make("watcher").subscribe("k", (v) => window.seen.push(v));
  });
  await page.evaluate(async () => {
    window.statuses = [];
    window.db = window.make("flapper");
    window.db.onStatus((s) => window.statuses.push(s));
    window.heard = [];
    window.db.subscribe("k", (v) => window.heard.push(v));
    await window.db.put("k", 0);
  });
  await until(watcher.page, () => window.seen.at(-1) === 0);
  await context.setOffline(true);
  await page.evaluate(async () => {
    for (let i = 1; i <= 3; i++) await window.db.put("k", i);
  });
  // The client notices by itself, by the browser's offline event or its
  // commit's failed request (both come a moment after the network goes).
  await until(page, () => !window.db.status.connected, null, 5000);
  const during = await page.evaluate(() => window.db.status);
  assert.equal(during.pendingWrites, 3);
  assert.equal(await watcher.page.evaluate(() => window.seen.at(-1)), 0, "nothing reached the bucket");
  await context.setOffline(false);
  await until(page, () => window.db.pendingWrites === 0 && window.db.status.connected);
  await until(watcher.page, () => window.seen.at(-1) === 3);
  const entries = await validEntries(prefix);
  assert.equal(entries.length, 4, "each write once");
  const statuses = await page.evaluate(() => window.statuses);
  const down = statuses.findIndex((s) => !s.connected);
  const queued = statuses.findIndex((s) => !s.connected && s.pendingWrites === 3);
  const up = statuses.findIndex((s, i) => i > queued && s.connected);
  const flushed = statuses.findIndex((s, i) => i >= up && s.pendingWrites === 0);
  assert.ok(down >= 0 && down < queued && queued < up && up <= flushed, JSON.stringify(statuses));
  const heard = await page.evaluate(() => window.heard);
  assert.deepEqual(heard.slice(-1), [3], "the page's own subscriber ends at the last write");
  const seen = (await watcher.page.evaluate(() => window.seen)).filter((v) => v !== undefined);
  assert.deepEqual([...seen].sort(), seen, `the other client's subscriber moves forward only: ${seen}`);
  assert.deepEqual(errors, []);
  assert.deepEqual(watcher.errors, []);
  await context.close();
  await watcherContext.close();
});

test("offline untold, in a worker: a client there reads navigator.onLine, notices a failed request, and recovers by itself", async () => {
  // (Chromium under the driver's network emulation changes a worker's
  // navigator.onLine but dispatches no online/offline event there, so the
  // events themselves are tested in a page only.)
  const prefix = `e2e-untold-worker-${Date.now()}/`;
  const context = await browser.newContext();
  const { page, errors } = await openPage(context, prefix);
  await page.evaluate(async (prefix) => {
    const origin = JSON.stringify(location.origin);
    const src = `
      const cfg = await (await fetch(${origin} + "/config.json")).json();
      const { MPS3 } = await import(${origin} + "/pkg/index.js");
      const make = (label) => new MPS3({ defaultBucket: cfg.bucket, defaultManifest: ${JSON.stringify(prefix)} + "manifest.json",
        label, s3Config: { endpoint: cfg.endpoint, region: cfg.region,
          credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey } } });
      const db = make("worker");
      await db.put("k", 1);
      onmessage = async (e) => {
        if (e.data === "fresh") postMessage({ fresh: make("worker-fresh").status });
        if (e.data === "read") postMessage({ read: await db.get("k"), s: db.status });
        if (e.data === "status") postMessage({ s: db.status });
      };
      postMessage({ ready: db.status });
    `;
    window.fromWorker = [];
    const url = URL.createObjectURL(new Blob([src], { type: "text/javascript" }));
    window.worker = new Worker(url, { type: "module" });
    window.worker.onmessage = (e) => window.fromWorker.push(e.data);
    window.worker.onerror = (e) => window.fromWorker.push({ error: String(e.message) });
    window.ask = (what) => { window.worker.postMessage(what); };
  }, prefix);
  await until(page, () => window.fromWorker.some((m) => m.ready || m.error));
  const ready = await page.evaluate(() => window.fromWorker.find((m) => m.ready || m.error));
  assert.equal(ready.error, undefined, ready.error);
  assert.equal(ready.ready.connected, true);
  await context.setOffline(true);
  // A client made now starts disconnected: it read navigator.onLine.
  await page.evaluate(() => window.ask("fresh"));
  await until(page, () => window.fromWorker.some((m) => m.fresh));
  const fresh = await page.evaluate(() => window.fromWorker.find((m) => m.fresh).fresh);
  assert.equal(fresh.connected, false);
  // The first client notices at its first failed request, and answers
  // from memory.
  await page.evaluate(() => window.ask("read"));
  await until(page, () => window.fromWorker.some((m) => "read" in m));
  const read = await page.evaluate(() => window.fromWorker.find((m) => "read" in m));
  assert.deepEqual([read.read, read.s.connected], [1, false]);
  // Back online, its prober finds the bucket with no call from the app.
  await context.setOffline(false);
  await until(page, async () => {
    window.ask("status");
    await new Promise((r) => setTimeout(r, 200));
    return window.fromWorker.at(-1)?.s?.connected === true;
  }, null, 10000);
  assert.deepEqual(errors, []);
  await context.close();
});
