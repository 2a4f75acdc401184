// The engine's Web Workers: they start from the page's own origin under the page's
// Content-Security-Policy; on the CPU path with two cores or more a second worker holds
// the same encoder and embedding is spread over both, in order; and what goes wrong inside
// a worker reaches the page: a refusal by the policy is shown (and fails every browser
// test, as refusals on the page do), a dead primary worker is reported and replaced, the
// encoder loading again, and a dead helper leaves embedding to the others.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { FIXTURE, ready, startServer, withPage } from "./harness.mjs";
let server;

before(async () => { server = await startServer(); });
after(() => server.stop());

const engineWorkers = (page) => page.workers().filter((w) => w.url().endsWith("/www/engine-worker.js"));
/** The engine's workers by their names: the primary `flicktune-engine`, helpers after it. */
async function workersByName(page) {
  const named = {};
  for (const worker of engineWorkers(page)) named[await worker.evaluate(() => self.name)] = worker;
  return named;
}
/** Waits until `n` workers hold the encoder (the helper loads after the page is ready). */
const holding = (page, n) => page.waitForFunction(
  async (n) => (await window.flicktune.memory()).workers.length === n, n, { timeout: 120_000, polling: 500 });
const texts = FIXTURE.texts.map((t) => t.text);

test("the engine's workers start under the page's policy; two share embedding on the CPU path, in order", { timeout: 300_000 }, () =>
  withPage({ webgpu: false }, async (page) => {
    await page.goto(server.url);
    await ready(page);
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    const expected = cores >= 2 ? 2 : 1;
    await holding(page, expected);
    assert.deepEqual(Object.keys(await workersByName(page)).sort(),
      ["flicktune-engine", "flicktune-engine-helper-2"].slice(0, expected));
    assert.match(await page.getByTestId("backend").locator("..").textContent(), /Web Worker/);
    const spread = await page.evaluate((texts) => window.flicktune.embed(texts), texts);
    // The weights were read in the workers: the page's own wasm memory holds no encoder.
    const memory = await page.evaluate(() => window.flicktune.memory());
    const mib = (b) => `${(b / 2 ** 20).toFixed(0)} MiB`;
    console.log(`${cores} cores; wasm memory: page ${mib(memory.page)}, workers ${memory.workers.map(mib).join(", ")}`);
    assert.ok(memory.workers.every((w) => w > memory.page + 100 * 2 ** 20), `each worker holds the encoder: ${JSON.stringify(memory)}`);

    // One worker reads the same vectors in the same order.
    await page.goto(`${server.url}?workers=1`);
    await ready(page);
    await holding(page, 1);
    const alone = await page.evaluate((texts) => window.flicktune.embed(texts), texts);
    assert.equal(spread.length, alone.length);
    const worst = Math.max(...alone.flatMap((v, i) => Array.from(v, (x, k) => Math.abs(x - spread[i][k]))));
    assert.ok(worst <= 1e-5, `two workers and one disagree by ${worst}`);
  }));

test("a request the policy refuses inside a worker is shown on the page", { timeout: 300_000 }, async () => {
  const refused = await withPage({ webgpu: false, policyRefusals: "expected" }, async (page, seen) => {
    await page.goto(server.url);
    await ready(page);
    const { "flicktune-engine": primary } = await workersByName(page);
    await primary.evaluate(() => fetch("http://198.51.100.7/elsewhere").catch(() => null));
    const panic = page.locator("#panic");
    await panic.filter({ hasText: /Content Security Policy/ }).waitFor({ timeout: 30_000 });
    assert.match(await panic.textContent(), /connect-src/);
    return seen.refused;
  });
  assert.ok(refused.some((m) => /engine's worker was refused/.test(m)), `the page's console says so: ${refused}`);
});

test("a worker that dies is reported and replaced, and the encoder works again", { timeout: 300_000 }, () =>
  withPage({ webgpu: false, workerStops: "expected" }, async (page, seen) => {
    await page.goto(server.url);
    await ready(page);
    const expected = (await page.evaluate(() => navigator.hardwareConcurrency)) >= 2 ? 2 : 1;
    await holding(page, expected);
    const crash = (worker) => worker.evaluate(() => setTimeout(() => { throw new Error("deliberately crashed by a test"); }));

    // A helper: what was asked of it as it died is answered all the same (its part of the
    // embedding by the primary; the memory without it), and embedding goes on in the primary alone.
    if (expected === 2) {
      const helper = (await workersByName(page))["flicktune-engine-helper-2"];
      const asked = page.evaluate((texts) => Promise.all([window.flicktune.embed(texts), window.flicktune.memory()]), texts);
      await crash(helper);
      const [vectors, memory] = await asked;
      assert.equal(vectors.length, texts.length);
      assert.ok(memory.workers.length >= 1, JSON.stringify(memory));
      await holding(page, 1);
      assert.equal((await page.evaluate((texts) => window.flicktune.embed(texts), texts)).length, texts.length);
    }

    // What a panic in the wasm leaves behind: an error nothing inside the worker catches.
    const first = (await workersByName(page))["flicktune-engine"];
    await crash(first);
    const status = page.locator("section.panel", { has: page.getByTestId("backend") });
    await status.filter({ hasText: /worker stopped.*deliberately crashed.*started again/ }).waitFor({ timeout: 120_000 });
    await ready(page);
    await holding(page, expected);
    const now = await workersByName(page);
    assert.ok(now["flicktune-engine"] && now["flicktune-engine"] !== first, "a new primary worker runs");
    assert.equal(engineWorkers(page).length, expected, "the dead workers are gone");
    const vectors = await page.evaluate(() => window.flicktune.embed(["Dreadful.", "Wonderful."]));
    assert.equal(vectors.length, 2);
    assert.ok(seen.stopped.some((m) => /deliberately crashed/.test(m)), `the console says why: ${seen.stopped}`);
  }));
