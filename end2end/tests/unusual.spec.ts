import { expect, Page, test } from "@playwright/test";
import { markNoReload, stillNoReload } from "./helpers";

// Runs whose shapes once crashed the trace page, in the server's renderer
// and in the browser: a short step at the right end of the time axis, a
// zero-length step, a 1,000-step chain of instant steps. (This file runs
// last: its 1,000-step workflow would weigh on the other files' pages.)

type Step = { id: string; ms: number };

function chain(name: string, steps: Step[]) {
  return {
    name,
    workflow: {
      steps: steps.map(({ id, ms }) => ({
        id,
        role: "agent",
        action: { agent_task: { prompt: `do ${id}` } },
        simulation: { latency_ms: [ms, ms] },
      })),
      dependencies: Object.fromEntries(steps.slice(1).map((s, i) => [s.id, [steps[i].id]])),
    },
    execute: true,
  };
}

/** Fails the test on any error the page's scripts raise (a WASM panic is one). */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error" && /panicked|unreachable|RuntimeError/.test(m.text())) errors.push(m.text());
  });
  return errors;
}

async function live(page: Page) {
  await expect(page.locator(".link")).toHaveAttribute("data-state", "connected");
}

test("a trace whose last step is 1 ms renders, hydrates and follows the run to its end", async ({ page, request }) => {
  const errors = watchErrors(page);
  const created = await (
    await request.post("/api/jobs", { data: chain("Short Tail", [{ id: "work", ms: 3_500 }, { id: "notify", ms: 1 }]) })
  ).json();
  const response = await page.goto(`/traces/${created.run_id}`);
  expect(response?.status()).toBe(200);
  await live(page);
  await markNoReload(page);
  // While `work` runs (3.5 s, no event meanwhile), the elapsed time moves
  // with the clock, not only on events.
  const elapsed = page.getByTestId("trace-duration");
  const first = await elapsed.textContent();
  await expect(elapsed).not.toHaveText(first ?? "", { timeout: 2_000 });
  await expect(page.getByTestId("trace-progress")).toHaveText("0%");
  // The 1 ms step lands at the right edge of the axis: still drawn, inside it.
  await expect(page.getByTestId("trace-progress")).toHaveText("100%", { timeout: 10_000 });
  await expect(page.locator(".badge").first()).toHaveText("Completed");
  const bar = page.locator('.wf-row[data-step="notify"] .wf-bar');
  await expect(bar).toBeVisible();
  const style = (await bar.getAttribute("style")) ?? "";
  const [left, width] = [...style.matchAll(/([\d.]+)%/g)].map((m) => Number(m[1]));
  expect(left + width).toBeLessThanOrEqual(100.01);
  expect(width).toBeGreaterThan(0);
  await live(page);
  await stillNoReload(page);
  expect(errors).toEqual([]);
});

test("a trace with a zero-length step renders whole, also without JavaScript", async ({ browser, request }) => {
  const created = await (
    await request.post("/api/jobs", {
      data: chain("Instant Middle", [
        { id: "before", ms: 50 },
        { id: "instant", ms: 0 },
        { id: "after", ms: 0 },
      ]),
    })
  ).json();
  await expect
    .poll(async () => (await (await request.get(`/api/runs/${created.run_id}`)).json()).status)
    .toBe("Completed");
  for (const javaScriptEnabled of [false, true]) {
    const context = await browser.newContext({ javaScriptEnabled });
    const page = await context.newPage();
    const errors = watchErrors(page);
    const response = await page.goto(`/traces/${created.run_id}`);
    expect(response?.status()).toBe(200);
    await expect(page.locator(".wf-row")).toHaveCount(3);
    await expect(page.locator("svg.dag .node")).toHaveCount(3);
    if (javaScriptEnabled) await live(page);
    expect(errors).toEqual([]);
    await context.close();
  }
});

test("the trace of a 1,000-step chain of instant steps renders, hydrates and stays live", async ({ page, request }) => {
  test.setTimeout(120_000);
  const errors = watchErrors(page);
  const steps = Array.from({ length: 1_000 }, (_, i) => ({ id: `s${i}`, ms: 0 }));
  const created = await (await request.post("/api/jobs", { data: chain("Long Chain", steps) })).json();
  await expect
    .poll(async () => (await (await request.get(`/api/runs/${created.run_id}`)).json()).status, { timeout: 60_000 })
    .toBe("Completed");
  const response = await page.goto(`/traces/${created.run_id}`);
  expect(response?.status()).toBe(200);
  await expect(page.locator(".wf-row")).toHaveCount(1_000);
  await expect(page.locator("svg.dag .node")).toHaveCount(1_000);
  await live(page);
  // Still live a moment later: nothing trapped after hydration.
  await page.waitForTimeout(1_500);
  await live(page);
  // Its workflow page draws the 12 costliest steps and sums up the rest.
  await page.goto("/workflows/long_chain");
  await expect(page.locator(".bars .bar-row")).toHaveCount(12);
  await expect(page.getByTestId("more-steps")).toContainText("and 988 more steps");
  await live(page);
  expect(errors).toEqual([]);
});

test("the run page survives a run with a zero-length step", async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto("/run");
  await live(page);
  await markNoReload(page);
  const body = chain("Zero From The Form", [
    { id: "prepare", ms: 300 },
    { id: "nothing", ms: 0 },
  ]);
  await page.getByTestId("job-json").fill(JSON.stringify(body, null, 2));
  await page.getByTestId("submit-job").click();
  await expect(page).toHaveURL(/\/traces\/[0-9A-Z]{26}$/);
  await expect(page.getByTestId("trace-progress")).toHaveText("100%", { timeout: 10_000 });
  await expect(page.locator(".badge").first()).toHaveText("Completed");
  await expect(page.locator('.wf-row[data-step="nothing"] .wf-bar')).toBeVisible();
  await live(page);
  await stillNoReload(page);
  expect(errors).toEqual([]);
});

test("the workflow filters gain workflows that first run after the page loaded", async ({ page, request }) => {
  const errors = watchErrors(page);
  for (const path of ["/traces", "/steps"]) {
    await page.goto(path);
    await live(page);
    const select = page.locator('select[name="workflow_id"]');
    const name = `Appears Later ${path.slice(1)}`;
    const id = name.toLowerCase().replace(/ /g, "_");
    await expect(select.locator(`option[value="${id}"]`)).toHaveCount(0);
    // A choice made but not submitted survives the update.
    await select.selectOption({ index: 0 });
    await request.post("/api/jobs", { data: chain(name, [{ id: "only", ms: 10 }]) });
    await expect(select.locator(`option[value="${id}"]`)).toHaveCount(1, { timeout: 10_000 });
  }
  expect(errors).toEqual([]);
});

test("a workflow's page with one run draws it as a dot", async ({ browser, request }) => {
  const created = await (await request.post("/api/jobs", { data: chain("Lonely Run", [{ id: "only", ms: 5 }]) })).json();
  await expect
    .poll(async () => (await (await request.get(`/api/runs/${created.run_id}`)).json()).status)
    .toBe("Completed");
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto("/workflows/lonely_run");
  await expect(page.locator("svg.chart circle.series-dot")).toHaveCount(1);
  await context.close();
});
