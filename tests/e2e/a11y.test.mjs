// A newcomer's first load, by keyboard alone, checked by axe-core (CPU path): no console
// error and no failed request for the page's own files; labelling, training and
// classifying with the keyboard only; and no serious or critical accessibility violation
// in any view, at a desktop and at a phone's width.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { after, before, test } from "node:test";
import { NEGATIVE, SAMPLE, ready, startServer, withPage } from "./harness.mjs";

// axe-core, pinned in package.json and checked against package-lock.json's hashes.
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const WIDTHS = [1280, 390];
const GOLD = new Map(SAMPLE.map((r) => [r.text, r.label]));

let server;
before(async () => { server = await startServer(); });
after(() => server.stop());

/** Every console error, uncaught exception, and request for the page's own files that failed or got an HTTP error. */
function watchForErrors(page, origin) {
  const errors = [];
  page.on("console", (m) => m.type() === "error" && errors.push(`console: ${m.text()}`));
  page.on("pageerror", (e) => errors.push(`uncaught: ${e.message}`));
  page.on("response", (r) => r.url().startsWith(origin) && r.status() >= 400 && errors.push(`${r.status()} ${r.url()}`));
  // A request the browser cancelled (net::ERR_ABORTED: a worker's fetch cut short, seen
  // once on tokenizer.json with no effect on the page) is logged, not counted.
  page.on("requestfailed", (r) => {
    if (!r.url().startsWith(origin)) return;
    const why = r.failure()?.errorText ?? "";
    if (why === "net::ERR_ABORTED") console.log(`cancelled by the browser: ${r.url()}`);
    else errors.push(`failed: ${r.url()} ${why}`);
  });
  return errors;
}

/**
 * Runs axe-core on the view at each width; returns its serious and critical violations
 * (the rule, its help text and the elements) and logs the milder ones. The script is
 * evaluated through the DevTools protocol, so the page's policy (no inline script) need
 * not allow it.
 */
async function graveViolations(page, view) {
  const found = [];
  if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.evaluate(AXE);
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 900 });
    const violations = await page.evaluate(async () => {
      const { violations } = await window.axe.run(document, { resultTypes: ["violations"] });
      return violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")) }));
    });
    const grave = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
    const mild = violations.filter((v) => !grave.includes(v)).map((v) => `${v.id} (${v.impact}, ${v.nodes.length})`);
    console.log(`axe-core, ${view} at ${width} px: ${grave.length} serious or critical; milder: ${mild.join(", ") || "none"}`);
    found.push(...grave.map((v) => ({ view, width, ...v })));
  }
  await page.setViewportSize({ width: WIDTHS[0], height: 900 });
  return found;
}

/** Presses Tab until the element with `testid` has the focus (a person tabbing to it). */
async function tabTo(page, testid, presses = 80) {
  for (let i = 0; i < presses; i++) {
    if (await page.evaluate((id) => document.activeElement?.dataset?.testid === id, testid)) return;
    await page.keyboard.press("Tab");
  }
  assert.fail(`${testid} cannot be reached with Tab`);
}

test("a clean first load, keyboard-only labelling, training and classifying, and every view accessible", { timeout: 900_000 }, () =>
  withPage({ webgpu: false }, async (page) => {
    const errors = watchForErrors(page, server.url);
    const grave = [];
    const checkAccessible = async (view) => grave.push(...(await graveViolations(page, view)));
    await page.setViewportSize({ width: WIDTHS[0], height: 900 });
    await page.goto(server.url);
    await ready(page, 180_000);
    await checkAccessible("Label & train, before any label");

    // Labelling with the keys the page offers (→ positive, ← negative), as a careful person would.
    await tabTo(page, "auto-retrain");
    await page.keyboard.press("Space");
    assert.equal(await page.getByTestId("auto-retrain").isChecked(), false, "Space toggles the setting");
    await page.evaluate(() => document.activeElement.blur());
    const labels = 12;
    for (let i = 1; i <= labels; i++) {
      const text = await page.getByTestId("review-card").locator(".text").textContent();
      await page.keyboard.press(GOLD.get(text) === 1 ? "ArrowRight" : "ArrowLeft");
      await page.getByTestId("labelled-count").filter({ hasText: new RegExp(`^${i} labelled`) }).waitFor();
    }
    await tabTo(page, "train");
    await page.keyboard.press("Enter");
    const status = page.getByTestId("train-status");
    await status.filter({ hasText: new RegExp(`done: trained on ${labels} labels|error`) }).waitFor({ timeout: 180_000 });
    assert.match(await status.textContent(), /^done/);

    await tabTo(page, "classify-input");
    await page.keyboard.type(NEGATIVE);
    await tabTo(page, "classify", 5);
    await page.keyboard.press("Enter");
    const prediction = page.getByTestId("prediction");
    await prediction.filter({ hasText: /%|error/ }).waitFor({ timeout: 120_000 });
    assert.match(await prediction.textContent(), /negative/i, "a plainly negative review, classified by keyboard");
    await checkAccessible("Label & train, trained");

    // The other views, with the contenders scored on these labels.
    await page.waitForFunction((n) => window.flicktune?.comparison?.labels === n, labels, { timeout: 300_000 });
    const nav = page.getByTestId("nav");
    await nav.getByRole("link", { name: "Movies" }).click();
    await page.locator(".share[data-testid=share-yours]").first().waitFor({ timeout: 60_000 });
    await checkAccessible("Movies");
    await page.getByTestId("movie-row").first().getByRole("link").click();
    await page.getByTestId("movie-view").waitFor();
    await checkAccessible("a Movie");
    await nav.getByRole("link", { name: "Compare" }).click();
    await page.getByTestId("compare-view").waitFor();
    await page.getByTestId("compare-row-recipe").waitFor();
    await checkAccessible("Compare");
    await nav.getByRole("link", { name: "Disagreements" }).click();
    await page.getByTestId("disagreements-view").waitFor();
    await checkAccessible("Disagreements");

    console.log(`console errors and failed requests: ${errors.length}`);
    assert.deepEqual(grave, [], "no serious or critical accessibility violation in any view, at either width");
    assert.deepEqual(errors, [], "a clean load logs no error and every file of the page's own loads");
  }));
