// The account's live sessions (devices): end any of them, or all.

import { del, get, post } from "../api.js";
import * as session from "../session.js";
import { button, feedback, h, listing, when } from "../ui.js";

export default async function render(body) {
  const box = feedback();
  const rerender = async () => {
    const rows = await get("/api/auth/sessions");
    body.replaceChildren(
      listing(
        "Where you are signed in",
        "Sessions",
        ["Started", "Last refreshed", "Address", "Browser", ""],
        rows.map((row) => [
          when(row.created_at),
          when(row.last_used_at),
          row.ip_address ?? "—",
          row.user_agent ?? "—",
          row.current
            ? h("strong", {}, "This session")
            : button(
                "Revoke",
                async () => {
                  await del(`/api/auth/sessions/${row.id}`);
                  await rerender();
                },
                box,
                {
                  className: "danger",
                  "aria-label": `Revoke the session started ${when(row.created_at)}`,
                },
              ),
        ]),
        button(
          "Sign out everywhere",
          async () => {
            await post("/api/auth/logout-all");
            history.replaceState(null, "", "#/");
            session.end();
          },
          box,
          { className: "danger" },
        ),
        box,
      ),
    );
  };
  await rerender();
}
