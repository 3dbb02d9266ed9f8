// The package entry: loads the WebAssembly module (next to this file, by
// URL, so it works from npm, a bundler or a CDN) before handing out the
// classes, so `import { MPS3 } from "mps3-rs"` needs no init call. The
// build bundles it with wasm-bindgen's glue (mps3.js) into the package's
// one minified index.js (scripts/build.py, `bundle`).
import { initSync, Atomic, MPS3, Transaction, errorClass } from "./mps3.js";

// Compiled while it streams in, then instantiated at once: the glue's own
// loader (`init`) does the same, with more code. A server that does not
// send the .wasm as `application/wasm` gets the slower path: that refusal
// leaves the body unread, while any other failure (a damaged module) is
// the module's own and is thrown as it is.
const url = new URL("./mps3_bg.wasm", import.meta.url);
const response = await fetch(url);
if (!response.ok) throw new Error(`mps3: ${url}: HTTP ${response.status}`);
let module;
try {
  module = await WebAssembly.compileStreaming(response);
} catch (e) {
  if (response.bodyUsed) throw e;
  module = await WebAssembly.compile(await response.arrayBuffer());
}
initSync({ module });

const MPS3Error = errorClass();

// A Blob is read first: put takes its bytes, typed as the Blob is unless
// contentType says otherwise.
const put = MPS3.prototype.put;
MPS3.prototype.put = async function (key, value, options) {
  if (typeof Blob !== "undefined" && value instanceof Blob) {
    options = { contentType: value.type || undefined, ...options };
    value = new Uint8Array(await value.arrayBuffer());
  }
  return put.call(this, key, value, options);
};

// The builder's calls chain: each returns the builder.
for (const name of ["check", "set", "delete"]) {
  const call = Atomic.prototype[name];
  Atomic.prototype[name] = function (...args) {
    call.apply(this, args);
    return this;
  };
}

// `free()` and `using` (Symbol.dispose) are `shutdown()`: later calls
// reject with `Shutdown` instead of failing inside the module, and the
// memory goes with the object, when the garbage collector takes it. A
// builder or a transaction has nothing to stop: theirs do nothing.
MPS3.prototype.free = MPS3.prototype.shutdown;
Atomic.prototype.free = Transaction.prototype.free = function () {};
for (const C of [MPS3, Atomic, Transaction]) {
  if (Symbol.dispose) C.prototype[Symbol.dispose] = C.prototype.free;
}

// The bundle is minified: the classes are named again for the console and
// stack traces.
Object.defineProperty(MPS3, "name", { value: "MPS3" });
Object.defineProperty(MPS3Error, "name", { value: "MPS3Error" });

export { MPS3, MPS3Error };
