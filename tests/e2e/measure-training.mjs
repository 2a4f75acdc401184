// Training figures for the README (a benchmark, not a test): time to train the classifier
// in the page at 20 and 100 labels, and the held-out accuracy reached, on the CPU path and
// on Chromium's WebGPU adapter (SwiftShader: software, not GPU speed). Labels are given
// with the buttons, to the reviews the page suggests, with their gold labels; the
// automatic retrain after each label is off, so the suggestions use the classifier
// trained at the previous size.
//   node tests/e2e/measure-training.mjs [--paths cpu,webgpu] [--labels 20,100]
// With --fine-tune, each size is trained with the "fine-tune the top layers" option
// instead, and the fine-tuning steps are timed from the page's progress; --budget S stops
// (cancels) a run whose fine-tuning has not finished after S seconds and reports the steps
// done so far, since SwiftShader can take hours.
import {
  heldoutAccuracy, labelWithButtons, labelledCount, ready, startServer, stopAutoRetrain, train, withPage,
} from "./harness.mjs";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : process.argv[i + 1];
};
const paths = arg("--paths", "cpu,webgpu").split(",");
const sizes = arg("--labels", "20,100").split(",").map(Number);
const fineTune = process.argv.includes("--fine-tune");
const budget = Number(arg("--budget", "3600")) * 1000;

/** Clicks Train with fine-tuning on and follows the page's progress until done or out of budget. */
async function timeFineTuning(page) {
  const status = page.getByTestId("train-status");
  await page.getByTestId("train").click();
  const started = Date.now();
  let tuned = null; // ms when the fine-tuning steps were over
  let last = "";
  for (;;) {
    const text = await status.textContent();
    const elapsed = Date.now() - started;
    if (text !== last) {
      console.log(`  ${(elapsed / 1000).toFixed(1)} s: ${text}`);
      last = text;
    }
    if (tuned === null && /reading the reviews again/.test(text)) tuned = elapsed;
    if (/^(done|error|cancelled)/.test(text)) return { text, tuned };
    if (elapsed > budget) {
      await page.getByRole("button", { name: "Cancel" }).click();
      await status.filter({ hasText: /^(cancelled|done|error)/ }).waitFor({ timeout: 600_000 });
      return { text: `out of budget after ${(elapsed / 1000).toFixed(0)} s at: ${last}`, tuned };
    }
    await page.waitForTimeout(500);
  }
}

const server = await startServer();
try {
  for (const path of paths) {
    await withPage({ webgpu: path === "webgpu" }, async (page) => {
      await page.goto(server.url);
      await ready(page, 600_000);
      const backend = await page.evaluate(() => window.flicktune.backend());
      // Only the explicit trainings are timed.
      await stopAutoRetrain(page);
      if (fineTune) await page.getByTestId("fine-tune").check();
      for (const n of sizes) {
        await labelWithButtons(page, n - (await labelledCount(page)));
        if (fineTune) {
          const { text, tuned } = await timeFineTuning(page);
          const phase = tuned === null ? "not over" : `${(tuned / 1000).toFixed(1)} s`;
          console.log(`${backend}, ${n} labels, fine-tuning: ${text}; until the re-reading began: ${phase}`);
          if (/^done/.test(text)) console.log(`${backend}: held-out accuracy ${await heldoutAccuracy(page)}%`);
        } else {
          const status = await train(page, 600_000);
          console.log(`${backend}: ${status}; held-out accuracy ${await heldoutAccuracy(page)}%`);
        }
      }
    });
  }
} finally {
  server.stop();
}
