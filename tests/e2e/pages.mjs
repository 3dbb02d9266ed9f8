// Shared by the offline end-to-end tests and the offline benchmark: a page
// of the package's origin gets `window.make(label, extra)`, which makes
// clients of one test's manifest in the test bed's demo bucket.

/** Imports the package in `page` (its time in `window.imported`) and
 *  defines `window.make`. */
export async function prepare(page, prefix) {
  await page.evaluate(async (prefix) => {
    const { MPS3 } = await import("/pkg/index.js");
    window.imported = performance.now();
    const cfg = await (await fetch("/config.json")).json();
    window.make = (label, extra = {}) => new MPS3({
      defaultBucket: cfg.bucket,
      defaultManifest: `${prefix}manifest.json`,
      label, pollFrequency: 200,
      s3Config: { endpoint: cfg.endpoint, region: cfg.region,
        credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey } },
      ...extra,
    });
  }, prefix);
}
