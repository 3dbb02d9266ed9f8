// The demo board in two browser contexts (two people): notes added,
// edited, liked and removed at once converge.
// Run by scripts/test.sh with the demo served at MPS3_DEMO_URL.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const url = process.env.MPS3_DEMO_URL;
const testbed = process.env.MPS3_TESTBED_ENDPOINT;
const artifacts = process.env.MPS3_ARTIFACTS ?? "../../target/e2e";
let browser;

before(async () => {
  assert.ok(url, "MPS3_DEMO_URL is not set: run through scripts/test.sh");
  mkdirSync(artifacts, { recursive: true });
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});
after(async () => browser?.close());

async function openBoard(context = null, conn = "online") {
  context ??= await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  await page.goto(url);
  await page.waitForFunction((c) => document.querySelector("#conn")?.textContent === c, conn, { timeout: 20000 });
  return { context, page, errors };
}

/** This page's person, as the status line names them. */
const whoAmI = (page) => page.locator("#me").textContent();

/** Adds a note and writes `text` in it: the note this page's person added
 *  that is still empty. */
async function addNote(page, text) {
  const me = await whoAmI(page);
  await page.click("#add");
  const mine = page.locator("article.note").filter({ has: page.locator(".by", { hasText: me }) })
    .filter({ has: page.locator("textarea:empty") });
  await mine.last().locator("textarea").waitFor({ timeout: 15000 });
  await mine.last().locator("textarea").fill(text);
}

/** Waits until `page` shows a note whose text is `text`; its element. */
async function waitForNote(page, text, present = true) {
  await page.waitForFunction(([t, present]) =>
    [...document.querySelectorAll("article.note textarea")].some((a) => a.value === t) === present,
  [text, present], { timeout: 15000 });
}

/** The likes shown on the note whose text is `text`. */
const likesOf = (page, text) => page.evaluate((t) => {
  const el = [...document.querySelectorAll("article.note")].find((n) => n.querySelector("textarea").value === t);
  return el ? Number(el.querySelector(".likes").textContent) : null;
}, text);

/** Clicks like on the note whose text is `text`, `times` times. */
const like = (page, text, times) => page.evaluate(([t, times]) => {
  const el = [...document.querySelectorAll("article.note")].find((n) => n.querySelector("textarea").value === t);
  for (let i = 0; i < times; i++) el.querySelector(".like").click();
}, [text, times]);

test("two people add, edit, like and remove notes at once; boards and counters converge", async () => {
  const alice = await openBoard();
  const bob = await openBoard();
  const stamp = Date.now();
  const a = `alice's note ${stamp}`;
  const b = `bob's note ${stamp}`;
  await Promise.all([addNote(alice.page, a), addNote(bob.page, b)]);
  await Promise.all([waitForNote(alice.page, b), waitForNote(bob.page, a)]);
  // Both click like on alice's note at the same time: every click counts.
  await Promise.all([like(alice.page, a, 5), like(bob.page, a, 5)]);
  for (const p of [alice.page, bob.page]) {
    await p.waitForFunction((t) => {
      const el = [...document.querySelectorAll("article.note")].find((n) => n.querySelector("textarea").value === t);
      return el?.querySelector(".likes").textContent === "10";
    }, a, { timeout: 30000 });
  }
  assert.equal(await alice.page.evaluate(async (t) => {
    const notes = await window.mps3.list({ prefix: "note/" });
    const id = notes.find((n) => n.value.text === t).key.slice("note/".length);
    return window.mps3.get(`likes/${id}`);
  }, a), 10, "the counter in the bucket");
  // Alice gives her note a picture (a binary value): bob sees it.
  const png = Buffer.from(
    "iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAYAAAAf8/9hAAAAGUlEQVR42mP438DwnxLMMGrAqAGjBgwXAwCAAH4f4cqr1QAAAABJRU5ErkJggg==",
    "base64",
  );
  const input = await alice.page.evaluateHandle((t) => {
    const el = [...document.querySelectorAll("article.note")].find((n) => n.querySelector("textarea").value === t);
    return el.querySelector("input[type=file]");
  }, a);
  await input.asElement().setInputFiles({ name: "dot.png", mimeType: "image/png", buffer: png });
  await bob.page.waitForFunction((t) => {
    const el = [...document.querySelectorAll("article.note")].find((n) => n.querySelector("textarea").value === t);
    const img = el?.querySelector(".picture");
    return img && !img.hidden && img.complete && img.naturalWidth === 16;
  }, a, { timeout: 15000 });
  assert.equal(await bob.page.evaluate(async (t) => {
    const notes = await window.mps3.list({ prefix: "note/" });
    const id = notes.find((n) => n.value.text === t).key.slice("note/".length);
    const e = await window.mps3.getEntry(`image/${id}`);
    return `${e.contentType} ${e.value.constructor.name} ${e.value.length}`;
  }, a), `image/png Uint8Array ${png.length}`);
  await bob.page.screenshot({ path: `${artifacts}/demo-two-people.png`, fullPage: true });
  // Bob takes the picture off (the note stays): gone from both boards.
  await bob.page.evaluate((t) => {
    const el = [...document.querySelectorAll("article.note")].find((n) => n.querySelector("textarea").value === t);
    el.querySelector(".unattach").click();
  }, a);
  for (const p of [alice.page, bob.page]) {
    await p.waitForFunction((t) => {
      const el = [...document.querySelectorAll("article.note")].find((n) => n.querySelector("textarea").value === t);
      return el?.querySelector(".picture").hidden && el.querySelector(".unattach").hidden;
    }, a, { timeout: 15000 });
  }
  // Bob removes his note: gone from both boards.
  await bob.page.evaluate((t) => {
    const el = [...document.querySelectorAll("article.note")].find((n) => n.querySelector("textarea").value === t);
    el.querySelector(".remove").click();
  }, b);
  await Promise.all([waitForNote(alice.page, b, false), waitForNote(bob.page, b, false)]);
  // The two boards list the same notes.
  const board = (p) => p.evaluate(() => [...document.querySelectorAll("article.note textarea")].map((t) => t.value));
  await alice.page.waitForFunction(() => document.querySelector("#pending").textContent === "0", null, { timeout: 15000 });
  assert.deepEqual(await board(alice.page), await board(bob.page));
  // The inspector shows the v2 log this bucket holds.
  assert.equal(await alice.page.locator("#protocol").textContent(), "v2");
  assert.ok(Number(await alice.page.locator("#head").textContent()) > 0);
  assert.ok(await alice.page.locator("#entries tr").count() > 0);
  // Its writers by name: her own entries as hers, bob's as his.
  const [aliceName, bobName] = [await whoAmI(alice.page), await whoAmI(bob.page)];
  await alice.page.waitForFunction(([mine, his]) => {
    const writers = [...document.querySelectorAll("#entries tr td:nth-child(2)")].map((td) => td.textContent);
    return writers.includes(`${mine} (you)`) && writers.includes(his);
  }, [aliceName, bobName], { timeout: 10000 });
  await alice.page.screenshot({ path: `${artifacts}/demo-inspector.png`, fullPage: true });
  // A reload names its new writer, and the tab's earlier name goes: the
  // bucket keeps one name key per tab.
  await alice.page.reload();
  await alice.page.waitForFunction(() => document.querySelector("#conn")?.textContent === "online", null, { timeout: 20000 });
  const names = () => alice.page.evaluate(async (name) => {
    const mine = `people/${(await window.mps3.inspect()).writer}`;
    const named = (await window.mps3.list({ prefix: "people/" })).filter((p) => p.value === name);
    return named.map((p) => (p.key === mine ? "this load" : p.key));
  }, aliceName);
  const deadline = Date.now() + 15000;
  let named = await names();
  while (JSON.stringify(named) !== JSON.stringify(["this load"]) && Date.now() < deadline) {
    await alice.page.waitForTimeout(500);
    named = await names();
  }
  assert.deepEqual(named, ["this load"], "one name key for alice's tab: this load's");
  assert.deepEqual([...alice.errors, ...bob.errors], []);
  await alice.context.close();
  await bob.context.close();
});

test("one person goes offline, edits, and syncs when back", async () => {
  const alice = await openBoard();
  const bob = await openBoard();
  const first = `to edit offline ${Date.now()}`;
  await addNote(alice.page, first);
  await waitForNote(bob.page, first);
  await bob.page.click("#offline-toggle");
  await bob.page.waitForFunction(() => document.querySelector("#conn").textContent === "offline", null, { timeout: 5000 })
    .catch(async (e) => {
      const shown = await bob.page.evaluate(() => [document.querySelector("#conn").textContent, document.querySelector("#error").textContent]);
      throw new Error(`the status line shows ${JSON.stringify(shown)}, not "offline": ${e.message}`);
    });
  const edit = `written offline ${Date.now()}`;
  await bob.page.evaluate(([t, edit]) => {
    const area = [...document.querySelectorAll("article.note textarea")].find((a) => a.value === t);
    area.value = edit;
    area.dispatchEvent(new Event("input"));
  }, [first, edit]);
  await bob.page.waitForFunction(() => document.querySelector("#pending").textContent !== "0", null, { timeout: 5000 });
  await new Promise((r) => setTimeout(r, 1500));
  await waitForNote(alice.page, edit, false);
  await bob.page.screenshot({ path: `${artifacts}/demo-offline.png`, fullPage: true });
  await bob.page.click("#offline-toggle");
  await waitForNote(alice.page, edit).catch(async (e) => {
    const state = async (p) => p.evaluate(async ([t, edit]) => ({
      pending: document.querySelector("#pending").textContent,
      conn: document.querySelector("#conn").textContent,
      error: document.querySelector("#error").textContent,
      board: [...document.querySelectorAll("article.note textarea")].map((a) => a.value).slice(-3),
      listed: (await window.mps3.list({ prefix: "note/" })).map((n) => n.value.text).slice(-3),
      inspect: await window.mps3.inspect(),
    }), [first, edit]);
    throw new Error(`alice ${JSON.stringify(await state(alice.page))} bob ${JSON.stringify(await state(bob.page))}: ${e.message}`);
  });
  await bob.page.waitForFunction(() => document.querySelector("#pending").textContent === "0", null, { timeout: 15000 });
  assert.deepEqual([...alice.errors, ...bob.errors], []);
  await alice.context.close();
  await bob.context.close();
});

/** The text of the note `id` on `page`'s board, and as its client reads it. */
const noteState = (page, id) => page.evaluate(async (id) => {
  const area = document.querySelector(`article.note[data-key="note/${id}"] textarea`);
  return { shown: area?.value, stored: (await window.mps3.get(`note/${id}`))?.text };
}, id);

/** Waits until both boards show `expected` in note `id`, as both clients
 *  read it; says what each shows if they never do. */
async function converged(pages, id, expected) {
  const deadline = Date.now() + 20000;
  let states;
  while (Date.now() < deadline) {
    states = await Promise.all(pages.map((p) => noteState(p, id)));
    if (states.every((s) => s.shown === expected && s.stored === expected)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`expected ${JSON.stringify(expected)} on both boards, saw ${JSON.stringify(states)}`);
}

/** A note both boards show with `text`; its id. */
async function sharedNote(alice, bob, text) {
  await addNote(alice.page, text);
  await Promise.all([waitForNote(alice.page, text), waitForNote(bob.page, text)]);
  return alice.page.evaluate((t) => [...document.querySelectorAll("article.note")]
    .find((n) => n.querySelector("textarea").value === t).dataset.key.slice("note/".length), text);
}

test("an edit that arrives while you type is shown at once and kept, and so is your typing", async () => {
  const alice = await openBoard();
  const bob = await openBoard();
  const base = `typing race ${Date.now()}`;
  const id = await sharedNote(alice, bob, base);
  // Bob types at the end of the note, a key every 120 ms for about 4 s,
  // never pausing long enough to save; meanwhile alice writes at its
  // start, and her edit reaches bob while he types.
  const area = `article.note[data-key="note/${id}"] textarea`;
  await bob.page.click(area);
  await bob.page.keyboard.press("End");
  const typed = "bob-was-here-typing";
  const typing = bob.page.keyboard.type(typed, { delay: 200 });
  await alice.page.waitForTimeout(400);
  await alice.page.locator(area).fill(`A: ${base}`);
  // Bob sees her edit before he stops typing: it is not held back.
  await bob.page.waitForFunction((sel) => document.querySelector(sel).value.startsWith("A: "), area, { timeout: 3500 });
  await typing;
  await converged([alice.page, bob.page], id, `A: ${base}${typed}`);
  assert.deepEqual([...alice.errors, ...bob.errors], []);
  await alice.context.close();
  await bob.context.close();
});

test("an edit that arrives before yours is saved is merged, not saved under your name over yours", async () => {
  const alice = await openBoard();
  const bob = await openBoard();
  const base = `save race ${Date.now()}`;
  const id = await sharedNote(alice, bob, base);
  // Alice edits while bob is offline; bob edits, and comes back at once:
  // her edit reaches him inside his edit's 300 ms save delay.
  await bob.page.click("#offline-toggle");
  await bob.page.waitForFunction(() => document.querySelector("#conn").textContent === "offline", null, { timeout: 5000 });
  await alice.page.locator(`article.note[data-key="note/${id}"] textarea`).fill(`${base} +alice`);
  await alice.page.waitForFunction(() => document.querySelector("#pending").textContent === "0", null, { timeout: 15000 });
  await bob.page.evaluate((id) => {
    const area = document.querySelector(`article.note[data-key="note/${id}"] textarea`);
    area.value = `bob: ${area.value}`;
    area.dispatchEvent(new Event("input"));
    document.querySelector("#offline-toggle").click();
  }, id);
  await converged([alice.page, bob.page], id, `bob: ${base} +alice`);
  assert.deepEqual([...alice.errors, ...bob.errors], []);
  await alice.context.close();
  await bob.context.close();
});

test("with no server configured the board lives in the browser's own bucket", async () => {
  const context = await browser.newContext();
  await context.route("**/config.json", (route) => route.fulfill({ status: 404, body: "" }));
  const one = await openBoard(context, "local only");
  const two = await openBoard(context, "local only");
  assert.equal(await one.page.locator("#local-note").isVisible(), true);
  const stamp = `local ${Date.now()}`;
  await addNote(one.page, stamp);
  await waitForNote(two.page, stamp);
  await like(two.page, stamp, 2);
  await one.page.waitForFunction((t) => {
    const el = [...document.querySelectorAll("article.note")].find((n) => n.querySelector("textarea").value === t);
    return el?.querySelector(".likes").textContent === "2";
  }, stamp, { timeout: 15000 });
  await two.page.screenshot({ path: `${artifacts}/demo-local-only.png`, fullPage: true });
  assert.deepEqual([...one.errors, ...two.errors], []);
  await context.close();
});

/** Opens the private notes of `page` with `passphrase`. */
async function unlock(page, passphrase) {
  await page.fill("#unlock input[name=passphrase]", passphrase);
  await page.click("#unlock button");
}

const privateNote = (page, text) => page.waitForFunction((t) =>
  [...document.querySelectorAll("#private-notes li")].some((li) => li.textContent.startsWith(t)), text, { timeout: 20000 });

test("private notes are encrypted in the browser: the bucket holds none of their text, the same passphrase reads them, another is told Decrypt", async () => {
  assert.ok(testbed, "MPS3_TESTBED_ENDPOINT is not set: run through scripts/test.sh");
  const secret = `private words ${Date.now()}`;
  const one = await openBoard();
  await unlock(one.page, "correct horse battery");
  await one.page.locator("#private-add").waitFor({ state: "visible", timeout: 20000 });
  await one.page.fill("#private-add input[name=text]", secret);
  await one.page.click("#private-add button");
  await privateNote(one.page, secret);
  await one.page.waitForFunction(() => document.querySelector("#private-key").textContent.includes("key k1"), null, { timeout: 20000 });
  const r = await fetch(`${testbed}/__testbed/objects?bucket=demo-board&prefix=private`);
  const { objects } = await r.json();
  assert.ok(objects.some((o) => o.key === "private.json.v2/keys"), "the key ring beside the log");
  assert.ok(objects.some((o) => o.key.startsWith("private.json.v2/log/")), "the note's log entry");
  assert.deepEqual(objects.filter((o) => (o.body ?? "").includes(secret)).map((o) => o.key), [], "no object holds the text");
  // Another person with the passphrase reads it; one without is told so.
  const two = await openBoard();
  await unlock(two.page, "correct horse battery");
  await privateNote(two.page, secret);
  const three = await openBoard();
  await unlock(three.page, "a wrong guess");
  await three.page.waitForFunction(() => document.querySelector("#private-error").textContent.includes("Decrypt"), null, { timeout: 20000 });
  assert.equal(await three.page.locator("#private-notes li").count(), 0);
  await one.page.screenshot({ path: `${artifacts}/demo-private-notes.png`, fullPage: true });
  assert.deepEqual([...one.errors, ...two.errors, ...three.errors], []);
  for (const p of [one, two, three]) await p.context.close();
});

test("the board's console stays free of error lines through a minute of idle polling", async () => {
  const { context, page, errors } = await openBoard();
  // Settled: the first reads done, the poller at its idle pace.
  await page.waitForTimeout(3000);
  const lines = [];
  page.on("console", (m) => m.type() === "error" && lines.push(m.text()));
  const statuses = await page.evaluate(() => {
    window.statusCalls = 0;
    window.mps3.onStatus(() => window.statusCalls++);
    return window.mps3.status;
  });
  assert.equal(statuses.connected, true);
  await page.waitForTimeout(60000);
  assert.deepEqual(lines, [], "no error line in the console while idle");
  assert.deepEqual(errors, []);
  // Nothing a user would be shown changed: no status calls, though every
  // poll moved lastSyncAt.
  const { calls, status } = await page.evaluate(() => ({ calls: window.statusCalls, status: window.mps3.status }));
  assert.equal(calls, 0, "onStatus quiet while idle");
  assert.ok(status.lastSyncAt > Date.now() - 10000, "polls went on");
  await context.close();
});
