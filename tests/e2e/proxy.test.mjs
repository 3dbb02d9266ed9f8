// The demo board behind the auth proxy: two replicas of mps3-proxy behind
// a round-robin started here, in front of the test bed's S3, with the
// demo's rules (scripts/proxy.py). Alice and Bob (members) and a visitor,
// each in their own browser context, signed in through the proxy's dev
// identity provider. Run by scripts/test.sh with MPS3_DEMO_URL (the demo)
// and MPS3_PROXY_REPLICAS / MPS3_PROXY_IDP (the proxy) set.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const url = process.env.MPS3_DEMO_URL;
const replicas = (process.env.MPS3_PROXY_REPLICAS ?? "").split(" ").filter(Boolean);
const idp = process.env.MPS3_PROXY_IDP;
const artifacts = process.env.MPS3_ARTIFACTS ?? "../../target/e2e";
let browser, balancer, front;
/** Requests the round-robin sent to each replica. */
const served = [];

before(async () => {
  assert.ok(url && replicas.length === 2 && idp, "run through scripts/test.sh (MPS3_PROXY_* unset)");
  mkdirSync(artifacts, { recursive: true });
  // Round-robin, request by request, the Host header kept (it is signed).
  let next = 0;
  balancer = http.createServer((req, res) => {
    const i = next++ % replicas.length;
    served[i] = (served[i] ?? 0) + 1;
    const target = new URL(req.url, replicas[i]);
    const up = http.request(target, { method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on("error", () => { res.writeHead(502); res.end(); });
    req.pipe(up);
  });
  await new Promise((ok) => balancer.listen(0, "127.0.0.1", ok));
  front = `http://127.0.0.1:${balancer.address().port}`;
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});
after(async () => { await browser?.close(); balancer?.close(); });

/** A board in its own context, signed in as `who` (the sign-in button's
 *  user), its config pointing at the round-robin. */
async function signedIn(who) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  page.traffic = [];
  page.on("response", (r) => {
    const u = new URL(r.url());
    page.traffic.push(`${Date.now() % 100000} ${r.request().method()} ${r.status()} ${decodeURIComponent(u.pathname + u.search).replace(/&X-Amz-[^&]*/g, "")}`);
    if (page.traffic.length > 60) page.traffic.shift();
  });
  await page.route("**/config.json", (route) => route.fulfill({
    contentType: "application/json",
    body: JSON.stringify({ bucket: "demo-board", region: "us-east-1", proxy: { url: front, idp } }),
  }));
  await page.goto(url);
  await page.click(`#signin button[data-user="${who}"]`);
  await page.waitForFunction(() => ["online", "error"].includes(document.querySelector("#conn")?.textContent), null, { timeout: 20000 });
  return { page, errors };
}

const noteWith = (page, text) => page.evaluate((t) => {
  const el = [...document.querySelectorAll("article.note")].find((n) => n.querySelector("textarea").value === t);
  return el ? { key: el.dataset.key, readOnly: el.querySelector("textarea").readOnly, likes: Number(el.querySelector(".likes").textContent) } : null;
}, text);

/** What a page shows: its status line, error and notes (for a failure's
 *  message). */
const shows = (page) => page.evaluate(() => ({
  conn: document.querySelector("#conn").textContent,
  pending: document.querySelector("#pending").textContent,
  error: document.querySelector("#error").textContent,
  notes: [...document.querySelectorAll("article.note")].map((n) => `${n.dataset.key}: ${n.querySelector("textarea").value}`),
}));

async function waitForNote(page, text, others = []) {
  try {
    await page.waitForFunction((t) =>
      [...document.querySelectorAll("article.note textarea")].some((a) => a.value === t), text, { timeout: 20000 });
  } catch (e) {
    const seen = [];
    for (const p of [page, ...others]) seen.push({ ...(await shows(p)), traffic: p.traffic });
    throw new Error(`${e.message}: waiting for ${JSON.stringify(text)}; pages show ${JSON.stringify(seen, null, 1)}`);
  }
}

test("behind the proxy: members write their own notes and like any, a write to another's is refused and changes nothing, a visitor reads only", async () => {
  const alice = await signedIn("alice");
  const bob = await signedIn("bob");
  const visitor = await signedIn("visitor");
  assert.equal(await alice.page.locator("#me").textContent(), "alice");
  const stamp = Date.now();
  const a = `alice's note ${stamp}`;
  // Alice adds a note and writes in it.
  await alice.page.click("#add");
  const empty = alice.page.locator("article.note:not(.theirs) textarea:empty");
  await empty.last().waitFor({ timeout: 20000 });
  await empty.last().fill(a);
  for (const p of [bob.page, visitor.page]) await waitForNote(p, a, [alice.page]);
  const seen = await noteWith(bob.page, a);
  assert.match(seen.key, /^note\/alice\//, "a note is under its author's name");
  assert.equal(seen.readOnly, true, "another's note is not editable");
  assert.equal((await noteWith(alice.page, a)).readOnly, false);

  // Bob writes to Alice's note anyway (through the API): refused with the
  // proxy's message, and her note is untouched.
  const refusal = await bob.page.evaluate(async (key) => {
    try {
      await window.mps3.put(key, { text: "bob was here", by: "bob", at: Date.now() });
      return null;
    } catch (e) {
      return { code: e.code, message: e.message, isError: e instanceof Error };
    }
  }, seen.key);
  assert.ok(refusal, "bob's write to alice's note was accepted");
  assert.equal(refusal.code, "AccessDenied", JSON.stringify(refusal));
  assert.match(refusal.message, /note\/alice\//, "the message names the key");
  // A refusal by the rules is this write's answer, not a misconfigured
  // bucket: the client's status stays clear.
  await bob.page.waitForTimeout(300);
  assert.equal(await bob.page.evaluate(() => window.mps3.status.error ?? null), null, "bob's status reports a problem");
  await bob.page.waitForTimeout(1500);
  for (const p of [alice.page, bob.page, visitor.page]) {
    assert.ok(await noteWith(p, a), "alice's note still reads as she wrote it");
  }
  assert.equal((await alice.page.evaluate((k) => window.mps3.get(k), seen.key)).text, a);

  // Likes by transaction, from both members at once: every click counts.
  const like = (page, times) => page.evaluate(([t, times]) => {
    const el = [...document.querySelectorAll("article.note")].find((n) => n.querySelector("textarea").value === t);
    for (let i = 0; i < times; i++) el.querySelector(".like").click();
  }, [a, times]);
  await Promise.all([like(alice.page, 4), like(bob.page, 4)]);
  for (const p of [alice.page, bob.page, visitor.page]) {
    await p.waitForFunction((t) => {
      const el = [...document.querySelectorAll("article.note")].find((n) => n.querySelector("textarea").value === t);
      return el?.querySelector(".likes").textContent === "8";
    }, a, { timeout: 30000 });
  }

  // The visitor adds a note: refused, shown on the page, nothing written.
  const before = await visitor.page.locator("article.note").count();
  await visitor.page.click("#add");
  await visitor.page.waitForFunction(() => /AccessDenied/.test(document.querySelector("#error")?.textContent ?? ""), null, { timeout: 20000 });
  const shown = await visitor.page.locator("#error").textContent();
  assert.match(shown, /key "note\/visitor\/[^"]+" needs one of the roles \["member"\]/, shown);
  await visitor.page.waitForTimeout(1500);
  assert.equal(await visitor.page.locator("article.note").count(), before, "the visitor's note is not on the board");
  assert.equal(await alice.page.evaluate(async () => (await window.mps3.list({ prefix: "note/visitor/" })).length), 0);
  await visitor.page.screenshot({ path: `${artifacts}/proxy-visitor.png`, fullPage: true });

  // Both replicas served, and the boards agree.
  assert.ok(served[0] > 0 && served[1] > 0, `requests per replica: ${served}`);
  const board = (p) => p.evaluate(() => [...document.querySelectorAll("article.note textarea")].map((t) => t.value).sort());
  await alice.page.waitForFunction(() => document.querySelector("#pending").textContent === "0", null, { timeout: 15000 });
  assert.deepEqual(await board(alice.page), await board(bob.page));
  for (const p of [alice, bob, visitor]) assert.deepEqual(p.errors, []);
});

test("behind the proxy: private notes live in each person's own manifest, encrypted in the browser; another person cannot even read them", async () => {
  const alice = await signedIn("alice");
  const secret = `alice's secret ${Date.now()}`;
  await alice.page.fill("#unlock input[name=passphrase]", "alice's passphrase");
  await alice.page.click("#unlock button");
  await alice.page.locator("#private-add").waitFor({ state: "visible", timeout: 20000 });
  await alice.page.fill("#private-add input[name=text]", secret);
  await alice.page.click("#private-add button");
  await alice.page.waitForFunction((t) => [...document.querySelectorAll("#private-notes li")].some((li) => li.textContent.startsWith(t)), secret, { timeout: 20000 });
  await alice.page.waitForFunction(() => document.querySelector("#private-key").textContent.includes("key k1"), null, { timeout: 20000 });
  // Bob, signed in, asks for Alice's private manifest: the proxy refuses
  // the read (and so nothing is sealed under his passphrase over hers).
  const bob = await signedIn("bob");
  const code = await bob.page.evaluate(async () => {
    try {
      await window.mps3.get("private/alice/note/x", { manifest: "private/alice/manifest.json" });
      return "read";
    } catch (e) { return e.code; }
  });
  assert.equal(code, "AccessDenied");
  for (const p of [alice, bob]) assert.deepEqual(p.errors, []);
});
