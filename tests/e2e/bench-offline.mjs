// Benchmark (scripts/bench.sh): page load → first value, with 1000 keys
// stored. Times are ms from the page's navigation start (wasm load
// included), median of several loads:
//   offline:      IndexedDB only, the client offline;
//   online warm:  the stored value first, then the newer one from the bucket;
//   online cold:  an empty IndexedDB, the value from the bucket;
// and reads while the browser is offline (the context set offline, the
// client not told), median of 20: a key this client just wrote (a put not
// awaited, then the get), a stored key in the same client, and a stored
// key in a new client of its label (from IndexedDB).
// Writes target/bench/offline.json.
import { writeFileSync, mkdirSync } from "node:fs";
import { chromium } from "playwright-core";
import { prepare } from "./pages.mjs";

const url = process.env.MPS3_DEMO_URL;
const KEYS = 1000;
const RUNS = 5;
const prefix = `bench-offline-${Date.now()}/`;

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});

/** Loads the page fresh and measures the first value(s) of one key. */
async function load(context, { label, online, wantNewer }) {
  const page = await context.newPage();
  await page.goto(`${url}config.json`);
  await prepare(page, prefix);
  const r = await page.evaluate(async ({ prefix, label, online, wantNewer }) => {
    const db = window.make(label, { online, pollFrequency: 60000 });
    const times = [];
    await new Promise((resolve) => db.subscribe(`${prefix}key-500`, (v, e) => {
      if (e || v === undefined) return;
      times.push({ ms: performance.now(), imported: window.imported, v });
      if (!wantNewer || v.round === "newer") resolve();
    }));
    db.shutdown();
    return times;
  }, { prefix, label, online, wantNewer });
  await page.close();
  return r;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

try {
  // Seed: 1000 keys written by one client, then read by the "device"
  // client, whose IndexedDB the warm and offline loads start from.
  const device = await browser.newContext();
  const seeder = await device.newPage();
  await seeder.goto(`${url}config.json`);
  await prepare(seeder, prefix);
  await seeder.evaluate(async ({ prefix, KEYS }) => {
    const make = window.make;
    const writer = make("bench-writer");
    for (let b = 0; b < KEYS / 100; b++) {
      const m = new Map();
      for (let i = b * 100; i < (b + 1) * 100; i++) m.set(`${prefix}key-${i}`, { n: i, round: "first" });
      await writer.putAll(m);
    }
    const reader = make("bench-device");
    const keys = [...Array(KEYS).keys()].map((i) => `${prefix}key-${i}`);
    const all = await reader.getAll(keys);
    if (all.size !== KEYS) throw new Error("seed read back short");
    writer.shutdown(); reader.shutdown();
  }, { prefix, KEYS });
  await seeder.close();

  const offline = [];
  const imported = [];
  for (let i = 0; i < RUNS; i++) {
    const [first] = await load(device, { label: "bench-device", online: false });
    offline.push(first.ms);
    imported.push(first.imported);
  }

  // A newer value in the bucket: warm loads show the stored one first.
  const writer = await device.newPage();
  await writer.goto(`${url}config.json`);
  await prepare(writer, prefix);
  await writer.evaluate(async ({ prefix }) => {
    const w = window.make("bench-writer");
    await w.put(`${prefix}key-500`, { n: 500, round: "newer" });
    w.shutdown();
  }, { prefix });
  await writer.close();
  const warmStored = [];
  const warmServer = [];
  for (let i = 0; i < RUNS; i++) {
    // A label per run: each load starts from the same stored (older) state.
    const ctx = await browser.newContext({ storageState: await device.storageState({ indexedDB: true }) });
    const t = await load(ctx, { label: "bench-device", online: true, wantNewer: true });
    warmStored.push(t[0].v.round === "first" ? t[0].ms : NaN);
    warmServer.push(t.at(-1).ms);
    await ctx.close();
  }
  const cold = [];
  for (let i = 0; i < RUNS; i++) {
    const ctx = await browser.newContext();
    cold.push((await load(ctx, { label: `bench-cold-${i}`, online: true }))[0].ms);
    await ctx.close();
  }
  // Reads while disconnected (the browser context offline; nobody sets
  // `online`).
  const READS = 20;
  const disc = await browser.newContext({ storageState: await device.storageState({ indexedDB: true }) });
  const dpage = await disc.newPage();
  await dpage.goto(`${url}config.json`);
  await prepare(dpage, prefix);
  await dpage.evaluate(async ({ prefix }) => {
    window.db = window.make("bench-device");
    await window.db.get(`${prefix}key-1`);
  }, { prefix });
  await disc.setOffline(true);
  const disconnected = await dpage.evaluate(async ({ prefix, READS }) => {
    const masked = [], stored = [], storedFresh = [];
    for (let i = 0; i < READS; i++) {
      let t = performance.now();
      window.db.put(`${prefix}own-${i}`, { i });
      await window.db.get(`${prefix}own-${i}`);
      masked.push(performance.now() - t);
      t = performance.now();
      await window.db.get(`${prefix}key-${2 + i}`);
      stored.push(performance.now() - t);
      const fresh = window.make("bench-device");
      t = performance.now();
      await fresh.get(`${prefix}key-${100 + i}`);
      storedFresh.push(performance.now() - t);
      fresh.shutdown();
    }
    return { masked, stored, storedFresh, connected: window.db.status.connected };
  }, { prefix, READS });
  await disc.close();
  if (disconnected.connected) throw new Error("the client still believed it was connected");
  const figures = {
    keys_stored: KEYS,
    runs: RUNS,
    package_imported_ms: median(imported),
    offline_first_value_ms: median(offline),
    online_warm_first_stored_value_ms: median(warmStored),
    online_warm_first_server_value_ms: median(warmServer),
    online_cold_first_value_ms: median(cold),
    disconnected_reads: READS,
    disconnected_masked_read_ms: median(disconnected.masked),
    disconnected_stored_read_ms: median(disconnected.stored),
    disconnected_stored_read_new_client_ms: median(disconnected.storedFresh),
    samples: { offline, warmStored, warmServer, cold, disconnected },
  };
  mkdirSync("../../target/bench", { recursive: true });
  writeFileSync("../../target/bench/offline.json", JSON.stringify(figures, null, 2));
  console.log(`\npage load → first value (ms from navigation start, median of ${RUNS}, ${KEYS} keys stored)`);
  console.log(`  the package imported (wasm compiled):  ${figures.package_imported_ms.toFixed(0)}`);
  console.log(`  offline, from IndexedDB:              ${figures.offline_first_value_ms.toFixed(0)}`);
  console.log(`  online, warm: stored value            ${figures.online_warm_first_stored_value_ms.toFixed(0)}`);
  console.log(`  online, warm: newer value from bucket ${figures.online_warm_first_server_value_ms.toFixed(0)}`);
  console.log(`  online, cold: value from bucket       ${figures.online_cold_first_value_ms.toFixed(0)}`);
  console.log(`\nreads while disconnected, untold (ms, median of ${READS})`);
  console.log(`  a key it just wrote (put not awaited): ${figures.disconnected_masked_read_ms.toFixed(1)}`);
  console.log(`  a stored key, same client:             ${figures.disconnected_stored_read_ms.toFixed(1)}`);
  console.log(`  a stored key, new client (IndexedDB):  ${figures.disconnected_stored_read_new_client_ms.toFixed(1)}`);
  console.log("wrote target/bench/offline.json");
} finally {
  await browser.close();
}
