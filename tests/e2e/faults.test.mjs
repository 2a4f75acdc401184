// The page under faults, in headless Chromium: storage full while saving, a reload in the
// middle of training and of fine-tuning, the WebGPU device lost mid-training, two tabs on
// one profile, an import too large or too deep. Each checks that no label is lost and the
// page says what happened.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  POSITIVE, SAMPLE, classify, heldoutAccuracy, labelWithButtons, labelledCount, launch, ready, startServer,
  stopAutoRetrain, train, withPage,
} from "./harness.mjs";

const SESSION_KEY = "flicktune.session.v1";
const WITH_L3_REVIEWS = "?model=l3-reviews";
let server;

before(async () => { server = await startServer(); });
after(() => server.stop());

/** The session as this browser keeps it (parsed), or null. */
const stored = (page) => page.evaluate((key) => JSON.parse(localStorage.getItem(key)), SESSION_KEY);

test("storage full while saving: the labels stay in the tab, the page says so, nothing is half-written", { timeout: 300_000 }, () =>
  withPage({ webgpu: false }, async (page) => {
    await page.goto(server.url);
    await ready(page);
    await stopAutoRetrain(page);
    await labelWithButtons(page, 2);
    const before = await stored(page);
    assert.equal(before.labels.length, 2);
    // Fills the site's real storage quota with another key: the next, larger, save fails
    // with the browser's own QuotaExceededError.
    const filler = await page.evaluate(() => {
      let [low, high] = [0, 32 * 1024 * 1024];
      while (low < high) {
        const mid = Math.ceil((low + high) / 2);
        try { localStorage.setItem("filler", "x".repeat(mid)); low = mid; } catch { high = mid - 1; }
      }
      localStorage.setItem("filler", "x".repeat(low));
      return low;
    });
    console.log(`storage filled with ${filler} characters`);
    await labelWithButtons(page, 3);
    const banner = page.getByTestId("unsaved");
    await banner.waitFor();
    const said = await banner.textContent();
    console.log(`the page says: ${said}`);
    assert.match(said, /^Not saved in this browser: the browser would not store the labels \(.*quota.*\)\. Your 5 labels are safe in this tab/i);
    assert.deepEqual(await stored(page), before, "storage still holds the last complete save");
    // Said on every view, and the labels are all there to export.
    await page.getByRole("link", { name: "Movies" }).click();
    await banner.waitFor();
    await page.getByRole("link", { name: "Label & train" }).click();
    const download = page.waitForEvent("download");
    await page.getByTestId("export").click();
    const exported = join(tmpdir(), `flicktune-unsaved-${process.pid}.json`);
    await (await download).saveAs(exported);
    assert.equal(JSON.parse(readFileSync(exported, "utf8")).labels.length, 5);
    // Space freed: saving again keeps everything, across a reload.
    await page.evaluate(() => localStorage.removeItem("filler"));
    await page.getByTestId("save-again").click();
    await banner.waitFor({ state: "detached" });
    assert.equal((await stored(page)).labels.length, 5);
    await page.reload();
    await ready(page);
    assert.equal(await labelledCount(page), 5);
  }));

test("a reload in the middle of training, then of fine-tuning, keeps the labels and the previous classifier", { timeout: 900_000 }, () =>
  withPage({ webgpu: false }, async (page) => {
    // What the training status said as the page went away: proof the reload came mid-run.
    await page.addInitScript(() => addEventListener("pagehide", () => sessionStorage.setItem(
      "status-at-unload", document.querySelector("[data-testid=train-status]")?.textContent ?? "")));
    const statusAtUnload = () => page.evaluate(() => sessionStorage.getItem("status-at-unload"));
    await page.goto(server.url + WITH_L3_REVIEWS);
    await ready(page);
    await stopAutoRetrain(page);
    await labelWithButtons(page, 10);
    await train(page);
    const accuracy = await heldoutAccuracy(page);
    const previous = (await stored(page)).classifier;
    assert.equal(previous.trained_on, 10);
    await labelWithButtons(page, 2);

    for (const [phase, running] of [["training", /^training…/], ["fine-tuning", /^fine-tuning the encoder's top layers/]]) {
      await page.getByTestId("fine-tune").setChecked(phase === "fine-tuning");
      await page.getByTestId("train").click();
      await page.getByTestId("train-status").filter({ hasText: running }).waitFor({ timeout: 120_000 });
      await page.reload();
      await ready(page);
      assert.match(await statusAtUnload(), running, `the reload came in the middle of ${phase}`);
      assert.equal(await labelledCount(page), 12, `labels after a reload mid-${phase}`);
      assert.deepEqual((await stored(page)).classifier, previous, `the previous classifier after a reload mid-${phase}`);
      assert.match(await page.getByTestId("train-status").textContent(), /^done: classifier from your last visit, trained on 10 labels/);
      assert.equal(await heldoutAccuracy(page), accuracy);
    }
    assert.match(await classify(page, POSITIVE), /positive/);
  }));

// SwiftShader, a software adapter, on the adapted L3 (as in loop.test.mjs). The device is
// destroyed through the WebGPU API, as a driver reset or the browser reclaiming it would.
// Chromium rejects the pending read-back before it reports the loss, so this also checks
// that the page tells a lost device from a failed read.
test("the WebGPU device lost mid-training: the page moves to the CPU, says so and trains there", { timeout: 900_000 }, () =>
  withPage({ webgpu: true }, async (page) => {
    // The encoder runs in the engine's worker, which asks for the device: keep it there.
    // (The worker asks only when the page sends it the model, long after it starts.)
    const hooked = new Promise((ok) => page.on("worker", (worker) => ok(worker.evaluate(() => {
      const request = GPUAdapter.prototype.requestDevice;
      self.__devices = [];
      GPUAdapter.prototype.requestDevice = async function (...args) {
        const device = await request.apply(this, args);
        self.__devices.push(device);
        return device;
      };
    }).then(() => worker))));
    await page.goto(server.url + WITH_L3_REVIEWS);
    const worker = await hooked;
    await ready(page, 400_000);
    assert.equal(await page.evaluate(() => window.flicktune.backend()), "webgpu");
    await stopAutoRetrain(page);
    await labelWithButtons(page, 20);
    await page.getByTestId("train").click();
    await page.getByTestId("train-status").filter({ hasText: /^training… step [1-9]/ }).waitFor({ timeout: 300_000 });
    assert.equal(await worker.evaluate(() => { self.__devices.forEach((d) => d.destroy()); return self.__devices.length; }), 1);
    await page.waitForFunction(() => window.flicktune.backend() === "cpu", null, { timeout: 300_000 });
    const notice = await page.locator(".notice", { hasText: "WebGPU" }).textContent();
    console.log(`after the device was lost: ${notice}`);
    assert.match(notice, /WebGPU device was lost.*running on the CPU/);
    const done = /^done: trained on 20 labels/;
    await page.getByTestId("train-status").filter({ hasText: done }).waitFor({ timeout: 300_000 });
    assert.equal(await labelledCount(page), 20);
    assert.equal((await stored(page)).labels.length, 20);
    const accuracy = await heldoutAccuracy(page);
    console.log(`trained again on the CPU after the loss: held-out accuracy ${accuracy}%`);
    assert.ok(accuracy > 60, `held-out accuracy ${accuracy}%`);
  }));

test("two tabs on one profile: each merges the other's labels and says so; none is lost", { timeout: 600_000 }, async () => {
  const context = await launch({ webgpu: false });
  try {
    const [a, b] = [context.pages()[0] ?? (await context.newPage()), await context.newPage()];
    for (const page of [a, b]) {
      await page.goto(server.url + WITH_L3_REVIEWS);
      await ready(page);
      await stopAutoRetrain(page);
    }
    // b learns of a's labels and suggests other reviews.
    await labelWithButtons(a, 3);
    // (Each save is merged as it comes: the notice says what the last one brought.)
    await b.getByTestId("other-tab").filter({ hasText: /1 label added or changed.*same 3 labels/ }).waitFor();
    await labelWithButtons(b, 2);
    await a.getByTestId("other-tab").filter({ hasText: /1 label added or changed.*same 5 labels/ }).waitFor();
    console.log(`tab a says: ${await a.getByTestId("other-tab").textContent()}`);
    assert.equal(await labelledCount(a), 5);
    assert.equal(await labelledCount(b), 5);
    // An undo in one tab takes the label away in the other too, and nothing else.
    await a.keyboard.press("u");
    await b.getByTestId("other-tab").filter({ hasText: /1 removed.*same 4 labels/ }).waitFor();
    const [ka, kb] = [await stored(a), await stored(b)];
    assert.equal(ka.labels.length, 4);
    assert.deepEqual(new Set(ka.labels.map((l) => l.review)), new Set(kb.labels.map((l) => l.review)));
    for (const page of [a, b]) {
      await page.reload();
      await ready(page);
      assert.equal(await labelledCount(page), 4);
    }
  } finally {
    await context.close();
  }
});

test("imports too large or too deep are refused at once, and the page stays usable", { timeout: 300_000 }, () =>
  withPage({ webgpu: false }, async (page) => {
    // Counts the files the page reads: a refused import must be refused before reading.
    await page.addInitScript(() => {
      const text = Blob.prototype.text;
      window.__filesRead = 0;
      Blob.prototype.text = function () { window.__filesRead++; return text.call(this); };
    });
    await page.goto(server.url);
    await ready(page);
    await stopAutoRetrain(page);
    await labelWithButtons(page, 2);
    const before = await stored(page);
    const big = join(tmpdir(), `flicktune-${process.pid}-big.json`);
    writeFileSync(big, `{"format":"flicktune-session","version":1,"labels":[${'{"review":0,"label":1,"text":"x"},'.repeat(1_600_000)}{}]}`);
    const deep = join(tmpdir(), `flicktune-${process.pid}-deep.json`);
    writeFileSync(deep, `{"format":"flicktune-session","version":1,"labels":${"[".repeat(100_000)}${"]".repeat(100_000)}}`);
    const foreign = join(tmpdir(), `flicktune-${process.pid}-v2.json`);
    writeFileSync(foreign, JSON.stringify({ format: "flicktune-session", version: 2, labels: [], classifier: null, curve: [] }));
    const status = page.getByTestId("import-status");
    const cases = [
      [big, /nothing was changed: .* is 5\d{4} kB; a labels file is at most 40000 kB/, 0],
      [deep, /nothing was changed: .*recursion limit/, 1],
      [foreign, /nothing was changed: .*only version 1 is supported/, 1],
    ];
    for (const [path, expected, reads] of cases) {
      const readsBefore = await page.evaluate(() => window.__filesRead);
      await page.getByTestId("import-file").setInputFiles(path);
      await status.filter({ hasText: expected }).waitFor();
      const said = await status.textContent();
      console.log(`import of ${path.split("-").pop()}: ${said}`);
      assert.match(said, expected);
      assert.equal(await page.evaluate(() => window.__filesRead) - readsBefore, reads, "files read for this import");
      assert.deepEqual(await stored(page), before, "nothing changed");
    }
    // Still labelling.
    await labelWithButtons(page, 1);
    assert.equal(await labelledCount(page), 3);

    // A classifier for another encoder (L3's 384 features, while the page runs e5): the
    // page moves to that encoder, says so, and uses the classifier there.
    const dim = 384;
    const classifier = {
      format: "flicktune-classifier", version: 2, encoder: "paraphrase-MiniLM-L3-v2", pooling: "chunks",
      scaling: { center: Array(dim).fill(0), scale: Array(dim).fill(1) }, weights: Array(dim).fill(0.01), bias: 0,
      trained_on: 2, tuned_layers: null, text_votes: null, recipe: null,
    };
    const labels = SAMPLE.slice(0, 2).map((r, review) => ({ review, label: r.label, text: r.text }));
    const other = join(tmpdir(), `flicktune-${process.pid}-l3.json`);
    writeFileSync(other, JSON.stringify({ format: "flicktune-session", version: 1, labels, classifier, curve: [] }));
    await page.getByTestId("import-file").setInputFiles(other);
    await status.filter({ hasText: "Imported 2 labels" }).waitFor();
    console.log(`import of a classifier for L3: ${await status.textContent()}`);
    assert.match(await status.textContent(), /reads L3's features, so the page now runs L3/);
    await page.waitForFunction(() => window.flicktune.model() === "l3" && window.flicktune.ready(), null, { timeout: 120_000 });
    await ready(page);
    await page.getByTestId("train-status").filter({ hasText: /^done: classifier from your last visit, trained on 2 labels/ }).waitFor();
    assert.match(await classify(page, POSITIVE), /(positive|negative).*\d+%/);
  }));
