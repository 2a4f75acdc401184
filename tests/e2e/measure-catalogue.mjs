// Catalogue figures for the README (a benchmark, not a test): after a training at N
// labels, how long the baselines take to train and every contender to score the held-out
// sample and the whole movie catalogue, on the CPU path and on Chromium's WebGPU adapter
// (SwiftShader: software, not GPU speed). Labels go to the suggested reviews with their
// gold labels, the automatic retrain off; then one Train.
//   node tests/e2e/measure-catalogue.mjs [--paths cpu,webgpu] [--labels 20]
import { labelWithButtons, ready, startServer, stopAutoRetrain, train, withPage } from "./harness.mjs";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : process.argv[i + 1];
};
const paths = arg("--paths", "cpu,webgpu").split(",");
const labels = Number(arg("--labels", "20"));

const server = await startServer();
try {
  for (const path of paths) {
    await withPage({ webgpu: path === "webgpu" }, async (page) => {
      await page.goto(server.url);
      await ready(page, 600_000);
      await stopAutoRetrain(page);
      await labelWithButtons(page, labels);
      const started = Date.now();
      await train(page, 1_800_000);
      const trained = (Date.now() - started) / 1000;
      await page.waitForFunction((n) => window.flicktune?.comparison?.labels === n, labels, { timeout: 1_800_000 });
      const c = await page.evaluate(() => window.flicktune.comparison);
      const backend = await page.evaluate(() => window.flicktune.backend());
      console.log(
        `${path} (${backend}), ${labels} labels: the page's classifier ${trained.toFixed(1)} s; then the baselines ` +
          `${c.seconds.train.toFixed(2)} s, scoring the held-out sample and ${c.reviews.length} reviews ` +
          `${c.seconds.score.toFixed(2)} s; held-out ${JSON.stringify(c.heldout)}`,
      );
    });
  }
} finally {
  server.stop();
}
