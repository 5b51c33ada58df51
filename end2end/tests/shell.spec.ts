import { expect, test } from "@playwright/test";

const routes = [
  { path: "/", heading: "Overview" },
  { path: "/workflows", heading: "Workflows" },
  { path: "/steps", heading: "Steps" },
  { path: "/traces", heading: "Traces" },
  { path: "/timeline", heading: "Timeline" },
  { path: "/models", heading: "Models" },
  { path: "/metrics", heading: "Metrics" },
  { path: "/routines", heading: "Routines" },
  { path: "/approvals", heading: "Approvals" },
  { path: "/alerts", heading: "Alerts" },
];

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  for (const { path, heading } of routes) {
    test(`${path} is complete server-rendered HTML`, async ({ page }) => {
      const response = await page.goto(path);
      expect(response?.status()).toBe(200);
      await expect(page.locator("h1")).toHaveText(heading);
      await expect(page.locator("nav.nav a")).toHaveCount(10);
      // Nothing is live without the client, and the page says so.
      await expect(page.locator(".link")).toHaveAttribute("data-state", "static");
    });
  }

  test("the overview shows real health figures", async ({ page, request }) => {
    const health = await (await request.get("/api/health/status")).json();
    await page.goto("/");
    await expect(page.getByTestId("health-status")).toHaveText(health.status);
    await expect(page.getByTestId("health-uptime")).toHaveText(/^\d+(s|m \d+s)$/);
    // The header names the server the page came from.
    await expect(page.getByTestId("node-id")).toHaveText(health.node_id);
  });
});

test.describe("hydrated", () => {
  test("connects to /api/ws and the uptime ticks", async ({ page }) => {
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    await page.goto("/");
    const link = page.locator(".link");
    await expect(link).toHaveAttribute("data-state", "connected");
    await expect(link).toContainText("live");
    const uptime = page.getByTestId("uptime");
    const first = await uptime.textContent();
    await expect(uptime).not.toHaveText(first ?? "", { timeout: 5_000 });
    await page.screenshot({ path: "screenshots/overview.png", fullPage: true });
    expect(errors).toEqual([]);
  });

  test("navigates between every page without a reload", async ({ page }) => {
    await page.goto("/");
    await expect(page.locator(".link")).toHaveAttribute("data-state", "connected");
    // A marker on window survives client-side navigation, not a reload.
    await page.evaluate(() => ((window as any).__noReload = true));
    for (const { path, heading } of routes.slice(1)) {
      await page.locator("nav.nav").getByRole("link", { name: heading }).click();
      await expect(page).toHaveURL(path);
      await expect(page.locator("h1")).toHaveText(heading);
      await expect(page.locator(`nav.nav a[aria-current="page"]`)).toHaveText(heading);
    }
    expect(await page.evaluate(() => (window as any).__noReload)).toBe(true);
  });

  test("reconnects with backoff after the link drops", async ({ page }) => {
    // Route the page's WebSocket through Playwright so the test can cut it.
    const sockets: { close: () => Promise<void> }[] = [];
    await page.routeWebSocket(/\/api\/ws$/, (ws) => {
      ws.connectToServer();
      sockets.push(ws);
    });
    await page.goto("/");
    const link = page.locator(".link");
    await expect(link).toHaveAttribute("data-state", "connected");
    // Record every state the indicator passes through from here on.
    await page.evaluate(() => {
      const el = document.querySelector(".link")!;
      const seen: string[] = [];
      (window as any).__states = seen;
      new MutationObserver(() => seen.push(el.getAttribute("data-state")!)).observe(el, {
        attributes: true,
        attributeFilter: ["data-state"],
      });
    });
    await sockets[0].close();
    await expect
      .poll(() => page.evaluate(() => (window as any).__states as string[]))
      .toEqual(expect.arrayContaining(["reconnecting", "connecting", "connected"]));
    await expect(link).toHaveAttribute("data-state", "connected");
    expect(sockets.length).toBe(2);
  });
});
