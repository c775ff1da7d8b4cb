// Legal documents: the active versions, and accepting what is pending (a new
// version locks escrow and subscriptions until it is accepted).

import { get, post } from "../api.js";
import { form, h, section } from "../ui.js";

export default async function render(body, ctx) {
  const [documents, compliance] = await Promise.all([
    get("/api/legal/documents"),
    get("/api/legal/compliance"),
  ]);
  const pending = new Set(compliance.pending_documents.map((doc) => doc.id));
  if (pending.size) {
    body.append(
      section(
        "Waiting for your acceptance",
        h("p", {}, "Escrow and subscriptions stay locked until you accept these new versions."),
        form(
          "Accept the new versions",
          compliance.pending_documents.map((doc) =>
            h(
              "div",
              { className: "check" },
              h("input", {
                type: "checkbox",
                id: `accept-${doc.id}`,
                name: doc.id,
                required: true,
              }),
              h(
                "label",
                { for: `accept-${doc.id}` },
                `I have read and accept the ${doc.title} (version ${doc.version})`,
              ),
            ),
          ),
          "Accept",
          async () => {
            await post("/api/legal/accept", { document_ids: [...pending] });
            await ctx.refresh();
            ctx.navigate("/legal");
          },
        ),
      ),
    );
  } else {
    body.append(
      h("p", { role: "status", className: "ok" }, "You have accepted every active document."),
    );
  }
  for (const doc of documents) {
    body.append(
      h(
        "article",
        { className: "card document" },
        h("h2", {}, `${doc.title}`),
        h(
          "p",
          { className: "muted" },
          `Version ${doc.version}, effective ${new Date(doc.effective_date).toLocaleDateString()}`,
          pending.has(doc.id) ? " — not accepted yet" : " — accepted",
        ),
        h(
          "div",
          { className: "document-text", tabindex: "0", role: "region", "aria-label": doc.title },
          doc.content,
        ),
      ),
    );
  }
}
