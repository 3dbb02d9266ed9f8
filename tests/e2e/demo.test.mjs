// The demo board in two browser contexts (two people): edits converge.
// Run by scripts/test.sh with the demo served at MPS3_DEMO_URL.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const url = process.env.MPS3_DEMO_URL;
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

const noteText = (page, n) => page.evaluate((n) => document.querySelectorAll("textarea")[n].value, n);

test("two people edit the board and see each other's notes", async () => {
  const alice = await openBoard();
  const bob = await openBoard();
  const stamp = `hello from alice ${Date.now()}`;
  await alice.page.locator("textarea").nth(0).fill(stamp);
  await bob.page.waitForFunction((s) => document.querySelectorAll("textarea")[0].value === s, stamp, { timeout: 15000 });

  const reply = `and bob ${Date.now()}`;
  await bob.page.locator("textarea").nth(1).fill(reply);
  await alice.page.waitForFunction((s) => document.querySelectorAll("textarea")[1].value === s, reply, { timeout: 15000 });
  // Both pages agree on every note, and the database agrees with them.
  const read = (p) => p.evaluate(async () => {
    const keys = [...Array(12).keys()].map((n) => `note/${n}`);
    const all = await window.mps3.getAll(keys);
    return keys.map((k) => all.get(k)?.text ?? "");
  });
  assert.deepEqual(await read(alice.page), await read(bob.page));
  assert.equal((await read(bob.page))[0], stamp);
  assert.equal(await alice.page.locator("#pending").textContent(), "0");
  await bob.page.screenshot({ path: `${artifacts}/demo-two-people.png`, fullPage: true });
  assert.deepEqual([...alice.errors, ...bob.errors], []);
  await alice.context.close();
  await bob.context.close();
});

test("one person goes offline, edits, and syncs when back", async () => {
  const alice = await openBoard();
  const bob = await openBoard();
  await bob.page.click("#offline-toggle");
  await bob.page.waitForFunction(() => document.querySelector("#conn").textContent === "offline", null, { timeout: 5000 })
    .catch(async (e) => {
      const shown = await bob.page.evaluate(() => [document.querySelector("#conn").textContent, document.querySelector("#error").textContent]);
      throw new Error(`the status line shows ${JSON.stringify(shown)}, not "offline": ${e.message}`);
    });
  const edit = `written offline ${Date.now()}`;
  await bob.page.locator("textarea").nth(2).fill(edit);
  await bob.page.waitForFunction(() => document.querySelector("#pending").textContent !== "0", null, { timeout: 5000 });
  await new Promise((r) => setTimeout(r, 1500));
  assert.notEqual(await noteText(alice.page, 2), edit, "an offline edit stays in its browser");
  await bob.page.screenshot({ path: `${artifacts}/demo-offline.png`, fullPage: true });
  await bob.page.click("#offline-toggle");
  await alice.page.waitForFunction((s) => document.querySelectorAll("textarea")[2].value === s, edit, { timeout: 15000 });
  await bob.page.waitForFunction(() => document.querySelector("#pending").textContent === "0", null, { timeout: 15000 });
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
  await one.page.locator("textarea").nth(4).fill(stamp);
  await two.page.waitForFunction((s) => document.querySelectorAll("textarea")[4].value === s, stamp, { timeout: 15000 });
  await two.page.screenshot({ path: `${artifacts}/demo-local-only.png`, fullPage: true });
  assert.deepEqual([...one.errors, ...two.errors], []);
  await context.close();
});
