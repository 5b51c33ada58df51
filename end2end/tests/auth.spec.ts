import { expect, test } from "@playwright/test";

// The second server of playwright.config.ts: it asks for tokens.
const port = Number(process.env.SHIIOO_E2E_PORT ?? 8181) + 1;
const server = `http://127.0.0.1:${port}`;
const token = (role: string) => `${role}-token-for-e2e`;

async function signIn(page: import("@playwright/test").Page, role: string, to = "/") {
  await page.goto(`${server}${to}`);
  await expect(page).toHaveURL(/\/sign-in\?next=/);
  await page.getByLabel("Token").fill(token(role));
  await page.getByRole("button", { name: "Sign in" }).click();
}

test("a browser signs in with a token, stays signed in, and signs out", async ({ page, context }) => {
  // Sent to sign in, and back to the page it wanted.
  await page.goto(`${server}/traces`);
  await expect(page).toHaveURL(`${server}/sign-in?next=%2Ftraces`);
  await page.getByLabel("Token").fill("not-a-token-of-this-server");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toContainText("not one of this server's");
  await page.getByLabel("Token").fill(token("viewer"));
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(`${server}/traces`);
  await expect(page.getByRole("heading", { level: 1 })).toContainText("Traces");
  // The session cookie: not readable by scripts, never sent cross-site.
  const [cookie] = (await context.cookies(server)).filter((c) => c.name === "shiioo_session");
  expect(cookie.httpOnly).toBe(true);
  expect(cookie.sameSite).toBe("Strict");
  // The live client uses the same session for its WebSocket.
  await expect(page.locator(".link")).toHaveAttribute("data-state", "connected");

  await page.goto(`${server}/sign-in`);
  await expect(page.locator("main")).toContainText("Signed in as viewer-e2e (viewer)");
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(`${server}/sign-in`);
  await page.goto(`${server}/traces`);
  await expect(page).toHaveURL(/\/sign-in\?next=%2Ftraces/);
});

test("an approver votes as itself; a viewer's vote is refused", async ({ page, request }) => {
  const body = {
    name: "Signed Release",
    workflow: {
      steps: [{ id: "sign_off", action: { manual_approval: { approvers: ["approver-e2e"], quorum: "unanimous" } } }],
    },
    execute: true,
  };
  const created = await request.post(`${server}/api/jobs`, {
    data: body,
    headers: { Authorization: `Bearer ${token("operator")}` },
  });
  expect(created.status()).toBe(201);
  const runId = (await created.json()).run_id;

  await signIn(page, "viewer", "/approvals");
  const pending = page.locator("article.approval[data-status=pending]").filter({ hasText: "Signed Release" });
  await expect(pending).toBeVisible();
  // A viewer is offered no buttons it may not use (once the page is live).
  await expect(page.locator(".link")).toHaveAttribute("data-state", "connected");
  await expect(pending.getByTestId("approve")).toBeHidden();
  await expect(pending.getByTestId("reject")).toBeHidden();
  await expect(page.locator("a.run-link")).toBeHidden();
  // And the server refuses the vote all the same.
  const refused = await page.evaluate(async (path) => {
    const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: '{"decision":"approve"}' });
    return [r.status, (await r.json()).message];
  }, `${server}/api/approvals/${(await pending.getAttribute("data-approval")) ?? "none"}/vote`);
  expect(refused[0]).toBe(403);
  await page.goto(`${server}/sign-in`);
  await page.getByRole("button", { name: "Sign out" }).click();

  await signIn(page, "approver", "/approvals");
  const again = page.locator("article.approval[data-status=pending]").filter({ hasText: "Signed Release" });
  await expect(page.locator("a.run-link")).toBeVisible();
  // No name typed: the vote is cast by the signed-in identity.
  await again.getByTestId("approve").click();
  const approved = page.locator("article.approval[data-status=approved]").filter({ hasText: "Signed Release" });
  await expect(approved).toBeVisible();
  await expect(approved.locator(".vote.yes")).toContainText("approver-e2e");
  await expect
    .poll(async () =>
      (await (await request.get(`${server}/api/runs/${runId}`, { headers: { Authorization: `Bearer ${token("viewer")}` } })).json()).status,
    )
    .toBe("Completed");
});

test("a form on another site cannot act, even on a signed-in browser", async ({ page }) => {
  await signIn(page, "operator", "/");
  // A page of another origin (the first test server) posts to this one.
  await page.goto("/");
  await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
  await page.evaluate((target) => {
    const form = document.createElement("form");
    form.method = "post";
    form.action = `${target}/sign-out`;
    document.body.append(form);
    form.submit();
  }, server);
  // Same site (only the port differs), so the cookie went along: the
  // server's Origin check is what refused it.
  await expect(page.locator("body")).toContainText("origin_not_allowed");
  // The session is intact: the cross-site sign-out did nothing.
  await page.goto(`${server}/sign-in`);
  await expect(page.locator("main")).toContainText("Signed in as operator-e2e");
});
