import { APIRequestContext, expect, Page } from "@playwright/test";

/** A job in the guide's shape; `ms` fixes every step's simulated latency. */
export function job(name: string, ms: number, extra: Record<string, unknown> = {}) {
  const ids = ["fetch_data", "analyze_data", "generate_charts", "create_report"];
  return {
    name,
    workflow: {
      steps: ids.map((id) => ({
        id,
        name: id,
        role: "agent",
        action: { agent_task: { prompt: `do ${id}` } },
        simulation: { latency_ms: [ms, ms] },
      })),
      dependencies: { analyze_data: ["fetch_data"], generate_charts: ["analyze_data"], create_report: ["generate_charts"] },
    },
    execute: true,
    ...extra,
  };
}

/** Posts a job and waits until its run has finished; returns the run id. */
export async function runJob(request: APIRequestContext, body: unknown): Promise<string> {
  const created = await request.post("/api/jobs", { data: body });
  expect(created.status()).toBe(201);
  const runId: string = (await created.json()).run_id;
  await expect
    .poll(async () => (await (await request.get(`/api/runs/${runId}`)).json()).status, { timeout: 30_000 })
    .toMatch(/Completed|Failed/);
  return runId;
}

/** Marks the window, to prove later that no reload happened. */
export async function markNoReload(page: Page) {
  await page.evaluate(() => ((window as any).__noReload = true));
}

export async function stillNoReload(page: Page) {
  expect(await page.evaluate(() => (window as any).__noReload)).toBe(true);
}
