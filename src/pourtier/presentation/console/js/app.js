// The console's shell: navigation, the page for the address's #route, and
// the profile every page reads (roles, pending legal documents).

import { get, post } from "./api.js";
import * as session from "./session.js";
import { feedback, h } from "./ui.js";
import account from "./pages/account.js";
import admin from "./pages/admin.js";
import escrow from "./pages/escrow.js";
import legal from "./pages/legal.js";
import notifications from "./pages/notifications.js";
import plans from "./pages/plans.js";
import sessions from "./pages/sessions.js";
import signin from "./pages/signin.js";

// Pages marked `business` sit behind the legal gate.
const PAGES = {
  "/": { title: "Account", render: account },
  "/legal": { title: "Legal", render: legal },
  "/escrow": { title: "Escrow", render: escrow, business: true },
  "/plans": { title: "Plans", render: plans, business: true },
  "/notifications": { title: "Notifications", render: notifications },
  "/sessions": { title: "Sessions", render: sessions },
  "/admin": { title: "Admin", render: admin, admin: true },
};

const UNREAD_POLL_MS = 30_000;
const main = document.getElementById("main");
const nav = document.getElementById("nav");
let config = { faucet: false, explorer: null };
let profile = null;
let unread = 0;
let notice = null; // what the next page shows first (a failed sign-out)

const route = () => location.hash.replace(/^#/, "") || "/";
export const navigate = (path) => {
  if (route() === path) show();
  else location.hash = `#${path}`;
};

async function loadProfile() {
  profile = await get("/api/users/me");
  session.setUser(profile);
  const counts = await get("/api/notifications?limit=1");
  unread = counts.unread;
  return profile;
}

function renderNav() {
  nav.replaceChildren();
  if (!session.current()) return;
  const here = route();
  const links = Object.entries(PAGES)
    .filter(([, page]) => !page.admin || profile?.roles?.includes("admin"))
    .map(([path, page]) => {
      const label =
        path === "/notifications" && unread
          ? [page.title, " ", h("span", { className: "badge" }, `${unread} unread`)]
          : [page.title];
      return h("a", { href: `#${path}`, "aria-current": here === path ? "page" : null }, ...label);
    });
  const out = h("button", { type: "button", className: "link" }, "Sign out");
  out.addEventListener("click", async () => {
    try {
      await post("/api/auth/logout");
    } catch (error) {
      notice =
        `Signed out of this tab, but the service said: ${error.message} ` +
        "Sign in and end the session from Sessions.";
    } finally {
      history.replaceState(null, "", "#/");
      session.end();
    }
  });
  nav.append(...links, out);
}

/** What a business page shows while documents wait to be accepted. */
function locked(pending) {
  return h(
    "section",
    { className: "card locked", role: "status" },
    h("h2", {}, "Escrow and subscriptions are locked"),
    h(
      "p",
      {},
      "New versions of these documents were published since you accepted them. ",
      "Accept them to use escrow and subscriptions again:",
    ),
    h("ul", {}, ...pending.map((doc) => h("li", {}, `${doc.title} (version ${doc.version})`))),
    h("p", {}, h("a", { href: "#/legal", className: "button" }, "Review and accept")),
  );
}

async function show() {
  const path = route();
  const signedIn = Boolean(session.current());
  const page = signedIn ? (PAGES[path] ?? PAGES["/"]) : { title: "Sign in", render: signin };
  const heading = h("h1", { tabindex: "-1" }, page.title);
  const body = h("div", {});
  main.replaceChildren(heading, body);
  if (notice) {
    const box = feedback();
    box.show(notice);
    heading.after(box);
    notice = null;
  }
  document.title = `${page.title} · Pourtier`;
  const ctx = {
    config,
    profile: () => profile,
    refresh: async () => {
      await loadProfile();
      renderNav();
    },
    navigate,
    locked: (error) => {
      if (!error?.pendingDocuments) return false;
      body.replaceChildren(locked(error.pendingDocuments));
      return true;
    },
  };
  try {
    if (signedIn) await loadProfile();
    renderNav();
    if (page.business && profile.pending_documents.length) {
      body.append(locked(profile.pending_documents));
    } else {
      await page.render(body, ctx);
    }
  } catch (error) {
    if (!ctx.locked(error)) {
      const box = feedback();
      box.show(error.message);
      body.append(box);
    }
  }
  heading.focus();
}

// Signed out here, elsewhere (revoked) or by a failed refresh: back to sign-in.
session.onChange((state) => {
  if (!state && profile) {
    profile = null;
    show();
  }
});
window.addEventListener("hashchange", show);
// New notifications arrive without a page change (a renewal, a KYC decision):
// the count in the menu follows them.
setInterval(async () => {
  if (!session.current()) return;
  try {
    const counts = await get("/api/notifications?limit=1");
    if (counts.unread !== unread) {
      unread = counts.unread;
      renderNav();
    }
  } catch {
    // The next page change reports what failed; a badge is not worth an alert.
  }
}, UNREAD_POLL_MS);
try {
  const response = await fetch("/console/config.json");
  if (response.ok) config = await response.json();
} finally {
  await show();
}
