// Screenshots of every view at a desktop's and a phone's width, after 20 labels (CPU
// path), for a person to look at: `node tests/e2e/screenshots.mjs [OUT_DIR]`.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { labelWithButtons, ready, startServer, withPage } from "./harness.mjs";

const out = process.argv[2] ?? "screenshots";

/** Waits until the view shows its results: the encoder ready, the contenders scored (and on Label & train, the held-out score). */
async function settled(page, name) {
  await page.waitForFunction(() => window.flicktune?.ready() && window.flicktune?.comparison?.labels === 20, null, { timeout: 180_000 });
  if (name === "label") await page.getByTestId("labels-alone").waitFor({ timeout: 180_000 });
  await page.waitForTimeout(500);
}
mkdirSync(out, { recursive: true });
const server = await startServer();
try {
  await withPage({ webgpu: false }, async (page) => {
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(server.url);
    await ready(page, 180_000);
    await labelWithButtons(page, 20, { waitForRetrain: true });
    await page.waitForFunction(() => window.flicktune?.comparison?.labels === 20, null, { timeout: 180_000 });
    const movie = await page.evaluate(() => window.flicktune.comparison.reviews[0].movie);
    const views = { label: "", movies: "movies", movie: `movies/${movie}`, compare: "compare", disagreements: "disagreements" };
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: width > 500 ? 900 : 844 });
      for (const [name, path] of Object.entries(views)) {
        await page.goto(server.url + path);
        await settled(page, name);
        await page.screenshot({ path: join(out, `${name}-${width}.png`), fullPage: false });
      }
    }
    // The README's picture: Label & train down to the held-out panel.
    await page.setViewportSize({ width: 1280, height: 1300 });
    await page.goto(server.url);
    await settled(page, "label");
    await page.screenshot({ path: join(out, "overview-1280.png"), fullPage: false });
  });
} finally {
  server.stop();
}
console.log(`screenshots in ${out}/`);
