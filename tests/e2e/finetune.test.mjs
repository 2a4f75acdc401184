// Fine-tuning the encoder's top layers in the page (CPU path): train with the option on,
// keep the tuned encoder across a reload, export it and import it into a fresh profile.
// On the adapted L3: re-reading the bundled reviews with a tuned 12-layer e5 takes the wasm
// CPU path far longer than a test run can afford.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  NEGATIVE, POSITIVE, classify, heldoutAccuracy, labelWithButtons, ready, startServer, stopAutoRetrain, train, withPage,
} from "./harness.mjs";

const RESTORED = /^done: classifier from your last visit, trained on 20 labels, with its fine-tuned encoder/;
const WITH_L3_REVIEWS = "?model=l3-reviews";
let server;

before(async () => { server = await startServer(); });
after(() => server.stop());

test("fine-tune the top layers: a classifier on the tuned encoder, kept, exported and imported", { timeout: 1_800_000 }, async () => {
  const exported = join(tmpdir(), `flicktune-finetuned-${process.pid}.json`);
  let accuracy;
  await withPage({ webgpu: false }, async (page) => {
    await page.goto(server.url + WITH_L3_REVIEWS);
    await ready(page);
    await stopAutoRetrain(page);
    await labelWithButtons(page, 20);
    await page.getByTestId("fine-tune").check();
    const status = await train(page, 900_000);
    console.log(`cpu path, fine-tuned: ${status}`);
    assert.match(status, /with the top 2 layers fine-tuned \(3 epochs in [\d.]+ s; reading the reviews again [\d.]+ s\)/);
    accuracy = await heldoutAccuracy(page);
    console.log(`held-out accuracy, 20 suggested labels, fine-tuned: ${accuracy}%`);
    // Well above chance (50%): the tuned encoder and its classifier work together.
    assert.ok(accuracy > 55, `held-out accuracy ${accuracy}%`);
    assert.match(await classify(page, POSITIVE), /positive/);
    assert.match(await classify(page, NEGATIVE), /negative/);

    // A reload puts the tuned encoder back from the browser's storage, without training.
    await page.reload();
    await ready(page);
    await page.getByTestId("train-status").filter({ hasText: RESTORED }).waitFor({ timeout: 900_000 });
    assert.equal(await heldoutAccuracy(page), accuracy, "the same classifier and encoder");
    assert.match(await classify(page, POSITIVE), /positive/);

    const download = page.waitForEvent("download");
    await page.getByTestId("export").click();
    await (await download).saveAs(exported);
  });
  const file = JSON.parse(readFileSync(exported, "utf8"));
  const layers = file.classifier.tuned_layers;
  assert.equal(layers.from_layer, 1, "L3's top two layers");
  assert.match(layers.sha256, /^[0-9a-f]{64}$/);
  assert.ok(layers.safetensors_base64.length > 1_000_000, "the tuned layers travel with the classifier");

  await withPage({ webgpu: false }, async (page) => {
    await page.goto(server.url + WITH_L3_REVIEWS);
    await ready(page);
    await page.getByTestId("import-file").setInputFiles(exported);
    // The fresh profile has the layers but not their features: it reads the reviews again.
    await page.getByTestId("train-status").filter({ hasText: RESTORED }).waitFor({ timeout: 900_000 });
    await page.getByTestId("import-status").filter({ hasText: "Imported 20 labels" }).waitFor();
    assert.equal(await heldoutAccuracy(page), accuracy);
    assert.match(await classify(page, NEGATIVE), /negative/);
  });
});
