// The engine's Web Worker: it starts from the page's own origin under the page's
// Content-Security-Policy, and what goes wrong inside it reaches the page: a refusal by
// the policy is shown (and fails every browser test, as refusals on the page do), and a
// worker that dies is reported and replaced, the encoder loading again in a new one.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ready, startServer, withPage } from "./harness.mjs";
let server;

before(async () => { server = await startServer(); });
after(() => server.stop());

const engineWorkers = (page) => page.workers().filter((w) => w.url().endsWith("/www/engine-worker.js"));

test("the engine's worker starts under the page's policy and runs the encoder on the CPU path", { timeout: 300_000 }, () =>
  withPage({ webgpu: false }, async (page) => {
    await page.goto(server.url);
    await ready(page);
    assert.equal(engineWorkers(page).length, 1, "one engine worker, from the page's origin");
    assert.match(await page.getByTestId("backend").locator("..").textContent(), /Web Worker/);
    const [vector] = await page.evaluate(() => window.flicktune.embed(["A fine film."]));
    assert.equal(vector.length, 384);
    // The weights were read in the worker: the page's own wasm memory holds no encoder.
    const memory = await page.evaluate(() => window.flicktune.memory());
    console.log(`wasm memory: page ${(memory.page / 2 ** 20).toFixed(0)} MiB, engine's worker ${(memory.engine / 2 ** 20).toFixed(0)} MiB`);
    assert.ok(memory.engine > memory.page, `the worker holds the encoder: ${JSON.stringify(memory)}`);
  }));

test("a request the policy refuses inside the worker is shown on the page", { timeout: 300_000 }, async () => {
  const refused = await withPage({ webgpu: false, policyRefusals: "expected" }, async (page, seen) => {
    await page.goto(server.url);
    await ready(page);
    const [worker] = engineWorkers(page);
    await worker.evaluate(() => fetch("http://198.51.100.7/elsewhere").catch(() => null));
    const panic = page.locator("#panic");
    await panic.filter({ hasText: /security policy|Content Security Policy/i }).waitFor({ timeout: 30_000 });
    assert.match(await panic.textContent(), /connect-src/);
    return seen.refused;
  });
  assert.ok(refused.some((m) => /engine's worker was refused/.test(m)), `the page's console says so: ${refused}`);
});

test("a worker that dies is reported and replaced, and the encoder works again", { timeout: 300_000 }, () =>
  withPage({ webgpu: false, workerStops: "expected" }, async (page, seen) => {
    await page.goto(server.url);
    await ready(page);
    const [first] = engineWorkers(page);
    // What a panic in the wasm leaves behind: an error nothing inside the worker catches.
    await first.evaluate(() => setTimeout(() => { throw new Error("deliberately crashed by a test"); }));
    const status = page.locator("section.panel", { has: page.getByTestId("backend") });
    await status.filter({ hasText: /worker stopped.*deliberately crashed.*started again/ }).waitFor({ timeout: 120_000 });
    await ready(page);
    assert.equal(engineWorkers(page).length, 1, "the dead worker is gone and one new worker runs");
    assert.notEqual(engineWorkers(page)[0], first);
    const vectors = await page.evaluate(() => window.flicktune.embed(["Dreadful.", "Wonderful."]));
    assert.equal(vectors.length, 2);
    assert.ok(seen.stopped.some((m) => /deliberately crashed/.test(m)), `the console says why: ${seen.stopped}`);
  }));
