// The npm package as users meet it: imported by name in a Vite app and in
// an esbuild bundle, and by URL from another origin (a notebook importing
// from a CDN, also one that types the .wasm wrongly, lacks it or has it
// damaged). Each page that loads puts and gets a value against the test
// bed in Chromium. Run by scripts/test.sh after the package is built into
// pkg/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from "node:fs";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = fileURLToPath(new URL("../..", import.meta.url));
const pkg = join(root, "pkg");
const work = join(root, "target", "e2e", "apps");
let browser;
const servers = [];

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json" };

/** A static server of `dir` on a free port, with CORS like a public CDN,
 * sending each file with the content type `types` gives its extension. */
function serve(dir, host = "127.0.0.1", types = TYPES) {
  return new Promise((resolve) => {
    const server = createServer((req, res) => {
      const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^\/+/, "");
      const file = join(dir, path || "index.html");
      if (!file.startsWith(dir) || !existsSync(file)) {
        res.writeHead(404, { "access-control-allow-origin": "*" }).end();
        return;
      }
      res.writeHead(200, {
        "content-type": types[extname(file)] ?? "application/octet-stream",
        "access-control-allow-origin": "*",
        "cache-control": "no-store",
      });
      res.end(readFileSync(file));
    });
    server.listen(0, "127.0.0.1", () => {
      servers.push(server);
      resolve(`http://${host}:${server.address().port}`);
    });
  });
}

function appConfig(name) {
  const tb = JSON.parse(readFileSync(process.env.MPS3_TESTBED_CONFIG, "utf8"));
  return JSON.stringify({ name, bucket: "demo-board", endpoint: tb.endpoint, region: tb.region,
    accessKeyId: tb.accessKeyId, secretAccessKey: tb.secretAccessKey });
}

/** The app: a put and a get, then a move and a forget, and a refused call
 * caught as an `MPS3Error`; the result left in `window.result` with the
 * classes' names (the package is minified; its entry names them again). */
const mainJs = (from) => `import { MPS3, MPS3Error } from ${JSON.stringify(from)};
const cfg = await (await fetch("./config.json")).json();
const db = new MPS3({ defaultBucket: cfg.bucket, s3Config: { endpoint: cfg.endpoint, region: cfg.region,
  credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey } } });
const key = "package-test/" + cfg.name;
await db.put(key, { from: cfg.name });
const value = await db.get(key);
await db.move(key, key + "-moved");
const moved = (await db.get(key + "-moved")).from;
await db.forget(key + "-moved");
const refused = await db.get("").catch((e) => e);
const error = { instance: refused instanceof MPS3Error && refused instanceof Error, code: refused.code, name: MPS3Error.name,
  text: String(refused) === "BadInput: " + refused.message };
const forgotten = await db.get(key + "-moved") === undefined;
// free() (and Symbol.dispose, which \`using\` calls) shut the client down:
// later calls reject with Shutdown, and freeing twice is harmless.
db.free();
db[Symbol.dispose]();
error.afterFree = await db.get(key).catch((e) => e.code);
window.result = { ...value, className: MPS3.name, moved, forgotten, error };
`;
/** What the app's refused call (an empty key) shows of its error, and a
 * call after free(). */
const EXPECTED_ERROR = { instance: true, code: "BadInput", name: "MPS3Error", text: true, afterFree: "Shutdown" };
const indexHtml = (script) => `<!doctype html><meta charset="utf-8"><script type="module" src="${script}"></script>`;

async function runPage(url) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  await page.goto(url);
  try {
    await page.waitForFunction(() => window.result !== undefined, null, { timeout: 20000 });
  } catch (e) {
    throw new Error(`no result at ${url}: ${errors.join("; ")}`);
  }
  const result = await page.evaluate(() => window.result);
  await context.close();
  return result;
}

/** An app directory whose node_modules/mps3-rs is the built package. */
function app(name, main) {
  const dir = join(work, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, "node_modules"), { recursive: true });
  symlinkSync(pkg, join(dir, "node_modules", "mps3-rs"));
  writeFileSync(join(dir, "main.js"), main);
  return dir;
}

/** A page of another origin that imports the package from `cdn`. */
function notebook(name, cdn, main = mainJs(`${cdn}/index.js`)) {
  const dir = join(work, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "main.js"), main);
  writeFileSync(join(dir, "index.html"), indexHtml("./main.js"));
  writeFileSync(join(dir, "config.json"), appConfig(name));
  return serve(dir, "localhost");
}

before(async () => {
  assert.ok(process.env.MPS3_TESTBED_CONFIG, "MPS3_TESTBED_CONFIG is not set: run through scripts/test.sh");
  assert.ok(existsSync(join(pkg, "index.js")), "pkg/ is not built");
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});
after(async () => {
  await browser?.close();
  for (const s of servers) s.close();
});

test("a Vite app imports the package by name, no init call", async () => {
  const dir = app("vite", mainJs("mps3-rs"));
  writeFileSync(join(dir, "index.html"), indexHtml("./main.js"));
  const { build } = await import("vite");
  await build({ root: dir, logLevel: "error", build: { outDir: join(dir, "dist"), emptyOutDir: true } });
  writeFileSync(join(dir, "dist", "config.json"), appConfig("vite"));
  assert.deepEqual(await runPage(await serve(join(dir, "dist"))), { from: "vite", className: "MPS3", moved: "vite", forgotten: true, error: EXPECTED_ERROR });
});

test("an esbuild bundle imports the package by name (the .wasm copied beside it)", async () => {
  const dir = app("esbuild", mainJs("mps3-rs"));
  const dist = join(dir, "dist");
  const esbuild = await import("esbuild");
  await esbuild.build({ entryPoints: [join(dir, "main.js")], bundle: true, format: "esm",
    target: "es2022", outdir: dist, logLevel: "error" });
  // esbuild keeps `new URL("./mps3_bg.wasm", import.meta.url)` as it is:
  // the module is looked up beside the bundle.
  cpSync(join(pkg, "mps3_bg.wasm"), join(dist, "mps3_bg.wasm"));
  writeFileSync(join(dist, "index.html"), indexHtml("./main.js"));
  writeFileSync(join(dist, "config.json"), appConfig("esbuild"));
  assert.deepEqual(await runPage(await serve(dist)), { from: "esbuild", className: "MPS3", moved: "esbuild", forgotten: true, error: EXPECTED_ERROR });
});

test("a notebook page imports the package by URL from another origin (a CDN)", async () => {
  const cdn = await serve(pkg);
  const page = await notebook("cdn", cdn);
  // `localhost` and `127.0.0.1` are different origins.
  assert.notEqual(new URL(page).origin, new URL(cdn).origin);
  assert.deepEqual(await runPage(page), { from: "cdn", className: "MPS3", moved: "cdn", forgotten: true, error: EXPECTED_ERROR });
});

test("a host that sends the .wasm untyped (not application/wasm) still serves a working package", async () => {
  const cdn = await serve(pkg, "127.0.0.1", { ...TYPES, ".wasm": "application/octet-stream" });
  const page = await notebook("untyped", cdn);
  assert.deepEqual(await runPage(page), { from: "untyped", className: "MPS3", moved: "untyped", forgotten: true, error: EXPECTED_ERROR });
});

/** What importing the package's entry rejects with (or "loaded") from a
 * host whose module is `wasm`, or which has none; and the host's URL. */
async function imported(name, wasm) {
  const dir = join(work, `${name}-cdn`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(join(pkg, "index.js"), join(dir, "index.js"));
  if (wasm) writeFileSync(join(dir, "mps3_bg.wasm"), wasm);
  const cdn = await serve(dir);
  const page = await notebook(name, cdn,
    `window.result = await import(${JSON.stringify(`${cdn}/index.js`)}).then(() => "loaded", (e) => e.name + ": " + e.message);\n`);
  return { cdn, result: await runPage(page) };
}

test("a package whose .wasm is missing fails its import with the module's URL and status", async () => {
  const { cdn, result } = await imported("no-wasm");
  assert.equal(result, `Error: mps3: ${cdn}/mps3_bg.wasm: HTTP 404`);
});

test("a package whose .wasm is damaged fails its import with the compiler's error", async () => {
  const wasm = readFileSync(join(pkg, "mps3_bg.wasm"));
  const { result } = await imported("damaged-wasm", wasm.subarray(0, wasm.length >> 1));
  assert.match(result, /^CompileError: /);
});
