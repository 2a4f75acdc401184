// The page never blocks while the encoder works: on the CPU path the engine runs in a Web
// Worker, so reading reviews, classifying a pasted one and training leave the main thread
// free. The browser's long-task observer reports every task over 50 ms; while encoding or
// training none may pass 250 ms (generous on purpose: before the worker the worst was a
// 10.8 s task, and the machine is shared), and the page answers a click meanwhile.
// Starting the page, which compiles the module, is not counted.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  POSITIVE, SAMPLE, classify, labelWithButtons, observeLongTasks, ready, startServer, takeLongTasks,
  train, withPage,
} from "./harness.mjs";
let server;

before(async () => { server = await startServer(); });
after(() => server.stop());

const LIMIT_MS = 250;

test("on the CPU path the main thread stays free while the page encodes, classifies and trains", { timeout: 900_000 }, () =>
  withPage({ webgpu: false }, async (page) => {
    await page.addInitScript(observeLongTasks);
    await page.goto(server.url);
    await ready(page);
    assert.equal(await page.evaluate(() => window.flicktune.backend()), "cpu");
    assert.match(await page.getByTestId("backend").locator("..").textContent(), /Web Worker/);
    await takeLongTasks(page);
    const blocked = {};

    // Embedding 10 reviews, and a click answered while it runs.
    const texts = SAMPLE.slice(0, 10).map((r) => r.text);
    await page.evaluate((texts) => {
      window.__embedding = { started: performance.now() };
      window.flicktune.embed(texts).then((vectors) => {
        Object.assign(window.__embedding, { count: vectors.length, seconds: (performance.now() - window.__embedding.started) / 1e3 });
      });
    }, texts);
    const clicked = Date.now();
    await page.getByTestId("auto-retrain").uncheck();
    const clickMs = Date.now() - clicked;
    assert.equal(await page.evaluate(() => window.__embedding.count), undefined, "the click was answered during embedding");
    await page.waitForFunction(() => window.__embedding.count !== undefined, null, { timeout: 300_000 });
    const read = await page.evaluate(() => window.__embedding);
    assert.equal(read.count, texts.length);
    blocked[`embedding ${texts.length} reviews (${read.seconds.toFixed(1)} s; a click answered in ${clickMs} ms)`] =
      await takeLongTasks(page);

    // The click above turned the retrain after each label off: one training, at 20 labels.
    await labelWithButtons(page, 20);
    await takeLongTasks(page);
    blocked[`training at 20 labels (${await train(page, 300_000)})`] = await takeLongTasks(page);

    assert.match(await classify(page, POSITIVE), /positive/);
    blocked["classifying a pasted review, sentence by sentence"] = await takeLongTasks(page);

    for (const [phase, tasks] of Object.entries(blocked)) {
      console.log(`${phase}: ${tasks.length} long tasks${tasks.length ? `, longest ${Math.round(Math.max(...tasks))} ms` : ""}`);
    }
    const over = Object.entries(blocked).filter(([, tasks]) => tasks.some((t) => t > LIMIT_MS));
    assert.deepEqual(over, [], `main-thread tasks over ${LIMIT_MS} ms while the encoder worked`);
  }));
