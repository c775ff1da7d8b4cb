// Notifications, newest first, with the unread count; mark one or all read.

import { get, post } from "../api.js";
import { button, feedback, h, section, when } from "../ui.js";

export default async function render(body, ctx) {
  const box = feedback();
  const rerender = async () => {
    const page = await get("/api/notifications?limit=50");
    const items = page.items.map((item) =>
      h(
        "li",
        { className: item.read_at ? "read" : "unread" },
        h("h3", {}, item.read_at ? "" : h("span", { className: "badge" }, "New"), " ", item.title),
        h("p", {}, item.body),
        h("small", {}, when(item.created_at)),
        item.read_at
          ? null
          : button(
              "Mark read",
              async () => {
                await post("/api/notifications/read", { ids: [item.id] });
                await ctx.refresh();
                await rerender();
              },
              box,
              { className: "secondary", "aria-label": `Mark read: ${item.title}` },
            ),
      ),
    );
    body.replaceChildren(
      section(
        `${page.unread} unread of ${page.total}`,
        page.unread
          ? button(
              "Mark all read",
              async () => {
                await post("/api/notifications/read", { all: true });
                await ctx.refresh();
                await rerender();
              },
              box,
            )
          : null,
        box,
        items.length
          ? h("ul", { className: "notifications" }, ...items)
          : h("p", { className: "muted" }, "Nothing yet."),
      ),
    );
  };
  await rerender();
}
