// ULMFiT's AWD-LSTM in the page, in headless Chromium: read in the engine's worker as the
// native engine reads it, downloaded once and cached, and damaged downloads refused.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ROOT, SAMPLE, labelWithButtons, ready, startServer, stopAutoRetrain, train, waitReady, withPage } from "./harness.mjs";

// The native engine's outputs (`cargo test --test lstm reference_features` keeps them true).
const REFERENCE = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/awd-lstm-reference-features.json"), "utf8"));
const LM_WEIGHTS = /\/models\/awd-lstm\/awd-lstm\.f16\.safetensors/;
// L3 loads fastest; the language model does not depend on the encoder.
const WITH_L3 = "?model=l3";
let server;

before(async () => { server = await startServer(); });
after(() => server.stop());

const features = (page, texts) =>
  page.evaluate(async (texts) => (await window.flicktune.languageModelFeatures(texts)).map((r) => Array.from(r)), texts);

function worstDiff(rows) {
  assert.equal(rows.length, REFERENCE.features.length);
  let worst = 0;
  rows.forEach((row, i) => {
    assert.equal(row.length, REFERENCE.features[i].length, `text ${i}`);
    row.forEach((v, j) => { worst = Math.max(worst, Math.abs(v - REFERENCE.features[i][j])); });
  });
  return worst;
}

test("on the CPU path the page's AWD-LSTM matches the native engine within 1e-4, and a reload reads it from the cache", { timeout: 300_000 }, () =>
  withPage({ webgpu: false }, async (page) => {
    const downloads = [];
    page.on("request", (r) => LM_WEIGHTS.test(r.url()) && downloads.push(r.url()));
    await page.goto(server.url + WITH_L3);
    await waitReady(page, 120_000);
    assert.equal(await page.evaluate(() => window.flicktune.backend()), "cpu");
    const worst = worstDiff(await features(page, REFERENCE.texts));
    console.log(`cpu path: AWD-LSTM concat pooling, worst |diff| from the native engine over ${REFERENCE.texts.length} texts ${worst.toExponential(2)}`);
    assert.ok(worst <= 1e-4, `worst difference ${worst}`);
    assert.equal(downloads.length, 1, "the weights are downloaded once");
    await features(page, REFERENCE.texts.slice(0, 1));
    assert.equal(downloads.length, 1, "a second request uses the model already built");

    await page.reload();
    await waitReady(page, 120_000);
    assert.ok(worstDiff(await features(page, REFERENCE.texts)) <= 1e-4);
    assert.equal(downloads.length, 1, "after a reload the weights come from Cache Storage");
  }));

// Chromium's WebGPU adapter here is SwiftShader, a software renderer: the figure is its.
test("with WebGPU (SwiftShader here) the page's AWD-LSTM matches the native engine within 1e-3", { timeout: 600_000 }, () =>
  withPage({ webgpu: true }, async (page) => {
    await page.goto(server.url + WITH_L3);
    await waitReady(page, 300_000);
    assert.equal(await page.evaluate(() => window.flicktune.backend()), "webgpu");
    const started = Date.now();
    const worst = worstDiff(await features(page, REFERENCE.texts));
    console.log(`webgpu path (SwiftShader): AWD-LSTM concat pooling, worst |diff| ${worst.toExponential(2)}, ${((Date.now() - started) / 1e3).toFixed(1)} s with the download`);
    assert.ok(worst <= 1e-3, `worst difference ${worst}`);
  }));

// SwiftShader runs ULMFiT's training some hundred times slower than the CPU path, so
// this run is cut short (8 labels, 8 unlabelled reviews, each review's first 32 words,
// 2 steps a stage): it checks that training works on WebGPU, not what it reaches.
test("with WebGPU (SwiftShader here) ULMFiT trains in the engine's worker: the language model tuned, the classifier through every stage, reviews scored", { timeout: 1_500_000 }, () =>
  withPage({ webgpu: true }, async (page) => {
    await page.goto(server.url + WITH_L3);
    await waitReady(page, 300_000);
    assert.equal(await page.evaluate(() => window.flicktune.backend()), "webgpu");
    const positive = SAMPLE.filter((r) => r.label === 1), negative = SAMPLE.filter((r) => r.label === 0);
    const labelled = [...positive.slice(0, 4), ...negative.slice(0, 4)];
    const unseen = [...positive.slice(4, 8), ...negative.slice(4, 8)];
    const result = await page.evaluate(
      async ([labelled, sample]) => window.flicktune.trainUlmfit(labelled, sample, { maxTokens: 32, minStageSteps: 2 }),
      [labelled, SAMPLE.slice(0, 8).map((r) => r.text)],
    );
    const p = await page.evaluate(async (texts) => Array.from(await window.flicktune.ulmfitPositive(texts)), unseen.map((r) => r.text));
    const right = p.filter((x, i) => (x >= 0.5) === (unseen[i].label === 1)).length;
    console.log(`webgpu path (SwiftShader), ULMFiT on ${labelled.length} labels, 32 words, 2 steps a stage: language model tuned in ${result.tuningSeconds.toFixed(1)} s, classifier (${result.steps} steps) in ${result.trainingSeconds.toFixed(1)} s; ${right} of ${unseen.length} other sample reviews right`);
    assert.equal(result.steps, 4 * 2, "the head's stage and one per LSTM layer, two steps each");
    assert.ok(result.progress > result.steps, "the tuning's steps and every classifier step reported");
    assert.ok(result.tuningSeconds > 0, "the language model was tuned");
    assert.equal(p.length, unseen.length);
    assert.ok(p.every((x) => Number.isFinite(x) && x >= 0 && x <= 1), `probabilities: ${p}`);
    assert.ok(new Set(p.map((x) => x.toFixed(4))).size > 1, `its probabilities differ from review to review: ${p}`);
    assert.equal(await page.locator("#panic").isHidden(), true, "no panic");
  }));

// The language model is tuned to a fifth of the sample here, to keep the test short;
// Compare's test below tunes it to the whole sample, as the page does.
test("ULMFiT trains in the engine's worker on a few labels (CPU path): the language model tuned to unlabelled texts, then the classifier, which fits its labels", { timeout: 1_200_000 }, () =>
  withPage({ webgpu: false }, async (page) => {
    await page.goto(server.url + WITH_L3);
    await waitReady(page, 120_000);
    const positive = SAMPLE.filter((r) => r.label === 1), negative = SAMPLE.filter((r) => r.label === 0);
    const labelled = [...positive.slice(0, 10), ...negative.slice(0, 10)];
    const unseen = [...positive.slice(10, 30), ...negative.slice(10, 30)];
    const result = await page.evaluate(
      async ([labelled, sample]) => window.flicktune.trainUlmfit(labelled, sample),
      [labelled, SAMPLE.slice(0, 60).map((r) => r.text)],
    );
    const accuracy = async (reviews) => {
      const p = await page.evaluate(async (texts) => Array.from(await window.flicktune.ulmfitPositive(texts)), reviews.map((r) => r.text));
      assert.equal(p.length, reviews.length);
      assert.ok(p.every((x) => x >= 0 && x <= 1), "probabilities");
      return [p.filter((x, i) => (x >= 0.5) === (reviews[i].label === 1)).length / reviews.length, p];
    };
    const [fit] = await accuracy(labelled);
    const [heldout, probabilities] = await accuracy(unseen);
    console.log(`cpu path, ULMFiT on ${labelled.length} labels: language model tuned in ${result.tuningSeconds.toFixed(1)} s, classifier (${result.steps} steps) in ${result.trainingSeconds.toFixed(1)} s; accuracy on its labels ${fit}, on ${unseen.length} other sample reviews ${heldout}`);
    assert.ok(result.progress >= result.steps, "every step reported");
    assert.ok(fit >= 0.8, `it fits its labels: ${fit}`);
    assert.ok(new Set(probabilities.map((x) => x.toFixed(3))).size > 5, "its probabilities differ from review to review");

    // Trained again on more labels, the language model is not tuned again.
    const again = await page.evaluate(
      async ([labelled, sample]) => window.flicktune.trainUlmfit(labelled, sample),
      [[...labelled, ...positive.slice(30, 32), ...negative.slice(30, 32)], SAMPLE.slice(0, 60).map((r) => r.text)],
    );
    assert.ok(again.tuningSeconds < 1, `tuned again: ${again.tuningSeconds} s`);
  }));

test("Compare trains ULMFiT on your labels while it is open, and shows its accuracy, agreement with the critics and shares; kept across a reload", { timeout: 1_500_000 }, () =>
  withPage({ webgpu: false }, async (page) => {
    await page.goto(server.url);
    await ready(page, 300_000);
    await stopAutoRetrain(page);
    await labelWithButtons(page, 12);
    await train(page, 180_000);
    await page.getByTestId("nav").getByRole("link", { name: "Compare" }).click();
    const cell = page.getByTestId("compare-row-ulmfit").getByTestId("heldout");
    await cell.filter({ hasText: /language model|classifier/ }).waitFor({ timeout: 300_000 });
    const working = await cell.textContent();
    await page.waitForFunction(
      () => Number.isFinite(window.flicktune?.comparison?.heldout?.ulmfit) || !document.getElementById("panic")?.hidden,
      null, { timeout: 1_200_000 });
    assert.equal(await page.locator("#panic").isHidden(), true, "no panic");
    const scores = await page.evaluate(() => window.flicktune.comparison);
    const { heldout, critics, seconds, reviews, labels } = scores;
    console.log(`cpu path, Compare: ULMFiT on ${labels} labels, held-out ${heldout.ulmfit}, critics ${critics.ulmfit}; tuning ${seconds.ulmfit.tuning.toFixed(1)} s, training ${seconds.ulmfit.training.toFixed(1)} s, scoring ${seconds.ulmfit.scoring.toFixed(1)} s (${reviews.length} catalogue reviews); shown while training: "${working}"`);
    assert.equal(labels, 12);
    assert.equal(await cell.textContent(), `${(100 * heldout.ulmfit).toFixed(1)}%`);
    assert.ok(critics.ulmfit >= 0 && critics.ulmfit <= 1, `critics ${critics.ulmfit}`);
    assert.ok(reviews.length > 0 && reviews.every((r) => r.positive.ulmfit >= 0 && r.positive.ulmfit <= 1), "every catalogue review scored");
    assert.ok(seconds.ulmfit.tuning > 0 && seconds.ulmfit.training > 0, "times measured");
    assert.ok((await page.getByTestId("compare-movies").textContent()).includes("ULMFiT (AWD-LSTM)"), "its per-movie column");
    assert.equal(await page.locator("#panic").isHidden(), true, "no panic");

    // After a reload its scores are shown at once, kept with the others'.
    await page.reload();
    await page.waitForFunction(() => window.flicktune?.ready(), null, { timeout: 180_000 });
    const readyAt = Date.now();
    await cell.filter({ hasText: /%$/ }).waitFor({ timeout: 30_000 });
    console.log(`after a reload on /compare: ULMFiT's kept scores ${((Date.now() - readyAt) / 1e3).toFixed(2)} s after ready`);
    assert.equal(await page.evaluate(() => window.flicktune.comparison.heldout.ulmfit), heldout.ulmfit);
  }));

for (const [name, corrupt, reason] of [
  ["truncated", (body) => body.subarray(0, body.length >> 1), /awd-lstm\.f16\.safetensors is \d+ bytes but the manifest says \d+/],
  ["corrupted", (body) => { const b = Buffer.from(body); b.fill(7, 0, 4096); return b; }, /awd-lstm\.f16\.safetensors does not match its manifest/],
]) {
  test(`a ${name} language-model download is refused with a clear error, and the encoder goes on`, { timeout: 300_000 }, () =>
    withPage({ webgpu: false }, async (page) => {
      await page.route(LM_WEIGHTS, async (route) => {
        const response = await route.fetch();
        await route.fulfill({ response, body: corrupt(await response.body()) });
      });
      await page.goto(server.url + WITH_L3);
      await waitReady(page, 120_000);
      const error = await page.evaluate(async () => {
        try {
          await window.flicktune.languageModelFeatures(["A fine film."]);
          return null;
        } catch (e) {
          return e.message;
        }
      });
      assert.match(error ?? "no error", reason);
      assert.equal(await page.locator("#panic").isHidden(), true, "no panic");
      const [embedding] = await page.evaluate(async () => (await window.flicktune.embed(["A fine film."])).map((e) => e.length));
      assert.equal(embedding, 384, "the encoder still answers");
    }));
}
