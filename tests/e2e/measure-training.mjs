// Training figures for the README (a benchmark, not a test): time to train the classifier
// in the page at 20 and 100 labels, and the held-out accuracy reached, on the CPU path and
// on Chromium's WebGPU adapter (SwiftShader: software, not GPU speed). Labels are given
// with the buttons, to the reviews the page suggests, with their gold labels; the
// automatic retrain after each label is off, so the suggestions use the classifier
// trained at the previous size.
//   node tests/e2e/measure-training.mjs [--paths cpu,webgpu] [--labels 20,100]
import {
  heldoutAccuracy, labelWithButtons, labelledCount, ready, startServer, stopAutoRetrain, train, withPage,
} from "./harness.mjs";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : process.argv[i + 1];
};
const paths = arg("--paths", "cpu,webgpu").split(",");
const sizes = arg("--labels", "20,100").split(",").map(Number);

const server = await startServer();
try {
  for (const path of paths) {
    await withPage({ webgpu: path === "webgpu" }, async (page) => {
      await page.goto(server.url);
      await ready(page, 600_000);
      const backend = await page.evaluate(() => window.flicktune.backend());
      // Only the explicit trainings are timed.
      await stopAutoRetrain(page);
      for (const n of sizes) {
        await labelWithButtons(page, n - (await labelledCount(page)));
        const status = await train(page, 600_000);
        console.log(`${backend}: ${status}; held-out accuracy ${await heldoutAccuracy(page)}%`);
      }
    });
  }
} finally {
  server.stop();
}
