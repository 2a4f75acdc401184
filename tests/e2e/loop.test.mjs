// The few-shot loop in headless Chromium: label, train, held-out accuracy, classify,
// persistence, export/import, safety of review text, bad imports.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  NEGATIVE, PAYLOAD, PAYLOADS, POSITIVE, SAMPLE, assertNothingInjected, classify, heldoutAccuracy, labelWithButtons, ready,
  startServer, stopAutoRetrain, train, waitReady, withPage,
} from "./harness.mjs";
let server;

before(async () => { server = await startServer(); });
after(() => server.stop());

test("label 20 reviews, train, and the classifier is accurate, kept across a reload, exported and imported", { timeout: 600_000 }, async () => {
  const exported = join(tmpdir(), `flicktune-export-${process.pid}.json`);
  let accuracy;
  // Leptos warns (debug builds) of a signal read outside any reactive context: a view that
  // would not follow a change. The whole loop must run without one.
  const untracked = [];
  await withPage({ webgpu: false }, async (page) => {
    page.on("console", (m) => m.text().includes("outside a reactive tracking context") && untracked.push(m.text()));
    await page.goto(server.url);
    await ready(page);
    assert.match(await page.getByTestId("train-status").textContent(), /no classifier yet/);
    // The page retrains after every label: the learning curve grows with them.
    await labelWithButtons(page, 20, { waitForRetrain: true });
    const points = await page.locator("[data-testid=learning-curve] circle").count();
    assert.ok(points >= 15, `${points} points on the learning curve`);
    console.log(`cpu path: ${await train(page)}`);
    accuracy = await heldoutAccuracy(page);
    console.log(`held-out accuracy with 20 suggested labels: ${accuracy}%`);
    assert.ok(accuracy > 60, `held-out accuracy ${accuracy}%`);
    assert.match(await page.getByTestId("review-card").textContent(), /Predicted (positive|negative), \d+% sure/);
    assert.match(await classify(page, POSITIVE), /positive.*\d+%/);
    assert.match(await classify(page, NEGATIVE), /negative.*\d+%/);
    // Pasted markup is text, highlighted sentence by sentence like any other.
    assert.match(await classify(page, `Great fun. ${PAYLOAD} Loved it. The ending was weak, though.`), /\d+%/);
    assert.ok((await page.getByTestId("highlights").textContent()).includes(PAYLOAD));
    assert.ok(await page.locator(".highlights .sentence").count() >= 2, "one span per sentence");
    // Each sentence is tinted by its own prediction (a style property: the security
    // policy refuses style attributes), blue positive, orange negative.
    const tints = await page.locator(".highlights .sentence").evaluateAll((spans) => spans.map((s) => s.style.backgroundColor));
    assert.ok(tints.some((t) => /^rgba\((49, 110, 200|230, 120, 20), 0\.\d+\)$/.test(t)), `sentence tints: ${tints.join(" | ")}`);
    await assertNothingInjected(page, "classified text");

    await page.reload();
    await ready(page);
    assert.match(await page.getByTestId("labelled-count").textContent(), /^20 labelled/);
    assert.match(await page.getByTestId("train-status").textContent(), /^done: classifier from your last visit, trained on 20/);
    assert.equal(await heldoutAccuracy(page), accuracy, "the same classifier, not retrained");
    assert.match(await classify(page, POSITIVE), /positive/);

    const download = page.waitForEvent("download");
    await page.getByTestId("export").click();
    await (await download).saveAs(exported);
  });
  assert.deepEqual(untracked, [], "no signal read outside a reactive context");
  const file = JSON.parse(readFileSync(exported, "utf8"));
  assert.equal(file.labels.length, 20);
  assert.equal(file.classifier.format, "flicktune-classifier");
  // The page's default, e5's recipe: NB-SVM on the labelled reviews' n-grams votes beside
  // the encoder (the lexicon does not: it only seeds), and the file says how it was trained.
  const votes = file.classifier.text_votes;
  assert.ok(votes && Object.keys(votes.nbsvm.weights).length > 100, "the text's votes travel with the classifier");
  assert.equal(votes.lexicon_spread, undefined, "no lexicon vote in e5's recipe");
  const recipe = file.classifier.recipe;
  assert.ok(recipe && recipe.lexicon_seeds > 0 && recipe.self_training && recipe.votes, JSON.stringify(recipe));

  await withPage({ webgpu: false }, async (page) => {
    await page.goto(server.url);
    await ready(page);
    assert.match(await page.getByTestId("labelled-count").textContent(), /^0 labelled/, "a fresh profile");
    await page.getByTestId("import-file").setInputFiles(exported);
    await page.getByTestId("import-status").filter({ hasText: "Imported 20 labels" }).waitFor();
    assert.match(await page.getByTestId("labelled-count").textContent(), /^20 labelled/);
    assert.equal(await heldoutAccuracy(page), accuracy);
    assert.match(await classify(page, NEGATIVE), /negative/);
  });
});

test("review text, pasted text and file names are shown as text: no element is injected", { timeout: 600_000 }, () =>
  withPage({ webgpu: false }, async (page) => {
    // Every review of the sample carries the payloads, so whichever the page shows has
    // them (the page then computes the features itself: the cached ones are for other texts).
    await page.route(/data\/sample\.jsonl$/, async (route) => {
      const response = await route.fetch();
      const lines = (await response.text()).trim().split("\n").map((l) => JSON.parse(l));
      for (const line of lines) line.text = `${PAYLOAD} ${line.text}`;
      await route.fulfill({ response, body: lines.map((l) => JSON.stringify(l)).join("\n") });
    });
    const dialogs = [];
    page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });
    await page.goto(server.url);
    await waitReady(page, 120_000);
    const card = page.getByTestId("review-card").locator(".text");
    await card.filter({ hasText: PAYLOAD }).waitFor();
    assert.ok((await card.textContent()).startsWith(PAYLOAD));
    await assertNothingInjected(page, "review card");
    // Without a classifier, classifying says what to do first.
    assert.match(await classify(page, `Great fun. ${PAYLOAD} Loved it.`), /Train a classifier first/);
    await assertNothingInjected(page, "classify");
    // A file's name is shown in the import's message: as text too.
    // (A name has no slash and at most 255 bytes: the payloads that fit.)
    const named = join(tmpdir(), `${PAYLOADS[0]}<b class="pwn" onmouseover="window.__injected=1">${process.pid}.json`);
    writeFileSync(named, "{ not json");
    await page.getByTestId("import-file").setInputFiles(named);
    await page.getByTestId("import-status").filter({ hasText: "nothing was changed" }).waitFor();
    assert.ok((await page.getByTestId("import-status").textContent()).includes(PAYLOADS[0]), "the name, as text");
    await assertNothingInjected(page, "import message");
    assert.deepEqual(dialogs, [], "no script ran");
  }));

test("keyboard labelling, undo, and a malformed import that changes nothing", { timeout: 300_000 }, () =>
  withPage({ webgpu: false }, async (page) => {
    await page.goto(server.url);
    await ready(page);
    await stopAutoRetrain(page);
    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("ArrowLeft");
    await page.keyboard.press("2");
    await page.getByTestId("labelled-count").filter({ hasText: "3 labelled: 2 positive, 1 negative" }).waitFor();
    await page.keyboard.press("u");
    await page.getByTestId("labelled-count").filter({ hasText: "2 labelled: 1 positive, 1 negative" }).waitFor();
    const before = await page.evaluate(() => localStorage.getItem("flicktune.session.v1"));
    const bad = [
      ["not-json.json", "{ this is not json"],
      ["bad-label.json", JSON.stringify({ format: "flicktune-session", version: 1, curve: [], classifier: null,
        labels: [{ review: 0, label: 7, text: SAMPLE[0].text }] })],
      ["other.json", JSON.stringify({ format: "something-else", version: 1 })],
    ];
    for (const [name, body] of bad) {
      const path = join(tmpdir(), `flicktune-${process.pid}-${name}`);
      writeFileSync(path, body);
      await page.getByTestId("import-file").setInputFiles(path);
      const status = page.getByTestId("import-status");
      await status.filter({ hasText: "nothing was changed" }).waitFor();
      console.log(`import of ${name}: ${await status.textContent()}`);
      assert.match(await page.getByTestId("labelled-count").textContent(), /^2 labelled/);
    }
    assert.equal(await page.evaluate(() => localStorage.getItem("flicktune.session.v1")), before);

    page.once("dialog", (d) => d.accept());
    await page.getByTestId("reset").click();
    await page.getByTestId("labelled-count").filter({ hasText: /^0 labelled/ }).waitFor();
  }));

// SwiftShader, a software adapter: slow, so only training runs on this path, on the adapted
// L3 (e5's 12 layers read ~2 tokens/s there: checking the cached features on one review
// would take minutes).
test("with WebGPU, training runs on it", { timeout: 600_000 }, () =>
  withPage({ webgpu: true }, async (page) => {
    await page.goto(server.url + "?model=l3-reviews");
    await ready(page, 400_000);
    assert.equal(await page.evaluate(() => window.flicktune.backend()), "webgpu");
    await stopAutoRetrain(page);
    await labelWithButtons(page, 20);
    const training = train(page, 300_000);
    // Reset waits while training runs (its end would write into the emptied session). A
    // confirmation, were one asked, is dismissed (no handler): the message is the check.
    await page.getByTestId("train-status").filter({ hasText: /^training/ }).waitFor();
    await page.getByTestId("reset").click();
    await page.getByTestId("import-status").filter({ hasText: "Reset waits until training stops" }).waitFor();
    console.log(`webgpu path (software adapter): ${await training}`);
    assert.match(await page.getByTestId("labelled-count").textContent(), /^20 labelled/, "the reset did not happen");
    const accuracy = await heldoutAccuracy(page);
    console.log(`webgpu path: held-out accuracy with 20 suggested labels: ${accuracy}%`);
    assert.ok(accuracy > 60, `held-out accuracy ${accuracy}%`);
  }));
