// For administrators: the KYC review queue (approve or reject), user lookup,
// and the webhook endpoints.

import { get, patch, post } from "../api.js";
import { button, feedback, field, form, h, section, short, table, when } from "../ui.js";

async function review(userId, place, rerender) {
  const record = await get(`/api/admin/kyc/${userId}`);
  const details = record.details;
  place.replaceChildren(
    h(
      "dl",
      {},
      h("dt", {}, "Legal name"),
      h("dd", {}, details?.legal_name ?? "—"),
      h("dt", {}, "Date of birth"),
      h("dd", {}, details?.date_of_birth ?? "—"),
      h("dt", {}, "Country"),
      h("dd", {}, details?.country ?? "—"),
    ),
    form(
      `Decision for ${short(userId)}`,
      [
        field("Decision", "decision", {
          type: "select",
          options: [
            ["approve", "Approve"],
            ["reject", "Reject"],
          ],
        }),
        field("If rejected", "rejection_type", {
          type: "select",
          options: [
            ["retry", "The user may retry"],
            ["final", "Final"],
          ],
        }),
        field("Reason", "reason", { maxlength: 500 }),
      ],
      "Record the decision",
      async (values) => {
        const body = { decision: values.decision, reason: values.reason || null };
        if (values.decision === "reject") body.rejection_type = values.rejection_type;
        const result = await post(`/api/admin/kyc/${userId}/decision`, body);
        await rerender(`Recorded: ${short(userId)} is ${result.status}.`);
      },
    ),
  );
}

async function kycQueue() {
  const box = feedback();
  const card = section("KYC review queue");
  const rerender = async (message) => {
    const cases = await get("/api/admin/kyc?status=in_review");
    const rows = cases.map((item) => {
      const place = h("div", {});
      return [
        h("span", { className: "mono", title: item.user_id }, short(item.user_id)),
        when(item.status_at),
        h(
          "div",
          {},
          button(
            `Review ${short(item.user_id)}`,
            () => review(item.user_id, place, rerender),
            box,
            { className: "secondary" },
          ),
          place,
        ),
      ];
    });
    card.replaceChildren(
      h("h2", {}, "KYC review queue"),
      box,
      table("Cases in review", ["User", "Waiting since", "Review"], rows),
    );
    if (message) box.show(message, "ok");
  };
  await rerender();
  return card;
}

function lookup() {
  const results = h("div", {});
  return section(
    "Users",
    form(
      "Find a user",
      [field("Wallet, email or user id", "query", { hint: "A prefix is enough." })],
      "Search",
      async (values) => {
        const found = await get(
          `/api/admin/users?query=${encodeURIComponent(values.query)}&limit=20`,
        );
        results.replaceChildren(
          table(
            "Users found",
            ["Wallet", "Name", "Email", "KYC", "Roles", "Since"],
            found.map((user) => [
              h(
                "span",
                { className: "mono", title: user.wallet_address },
                short(user.wallet_address),
              ),
              user.display_name ?? "—",
              user.email ?? "—",
              user.kyc_status,
              user.roles.join(", ") || "user",
              when(user.created_at),
            ]),
          ),
        );
      },
    ),
    results,
  );
}

async function webhooks() {
  const box = feedback();
  const card = section("Webhooks");
  const rerender = async (message) => {
    const hooks = await get("/api/admin/webhooks");
    card.replaceChildren(
      h("h2", {}, "Webhooks"),
      table(
        "Webhook endpoints",
        ["URL", "Events", "State", ""],
        hooks.map((hook) => [
          hook.url,
          hook.event_types.join(", ") || "all",
          hook.enabled
            ? "enabled"
            : `disabled${hook.disabled_reason ? `: ${hook.disabled_reason}` : ""}`,
          button(
            hook.enabled ? "Disable" : "Enable",
            async () => {
              await patch(`/api/admin/webhooks/${hook.id}`, { enabled: !hook.enabled });
              await rerender();
            },
            box,
            {
              className: "secondary",
              "aria-label": `${hook.enabled ? "Disable" : "Enable"} ${hook.url}`,
            },
          ),
        ]),
      ),
      box,
      form(
        "Add a webhook",
        [
          field("Endpoint URL", "url", { type: "url", required: true }),
          field("Event types", "event_types", { hint: "Comma-separated; empty for all." }),
        ],
        "Add webhook",
        async (values) => {
          const types = values.event_types
            .split(",")
            .map((item) => item.trim())
            .filter(Boolean);
          const made = await post("/api/admin/webhooks", { url: values.url, event_types: types });
          await rerender(`Added. Its signing secret, shown this once: ${made.secret}`);
        },
      ),
    );
    if (message) box.show(message, "ok");
  };
  await rerender();
  return card;
}

export default async function render(body) {
  body.append(await kycQueue(), lookup(), await webhooks());
}
