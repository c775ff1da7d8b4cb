// The account: who is signed in, the profile (editable) and the identity
// check (KYC): its status and how to start it.

import { get, patch, post } from "../api.js";
import { field, form, h, section, when } from "../ui.js";

const KYC_WORDS = {
  not_started: "Not started",
  pending: "Waiting for your documents at the provider",
  in_review: "In review",
  verified: "Verified",
  rejected: "Rejected",
};

function profileCard(profile, ctx) {
  return section(
    "Profile",
    h(
      "dl",
      {},
      h("dt", {}, "Wallet"),
      h("dd", { className: "mono" }, profile.wallet_address),
      h("dt", {}, "Member since"),
      h("dd", {}, when(profile.created_at)),
      h("dt", {}, "Role"),
      h("dd", {}, profile.roles.includes("admin") ? "Administrator" : "User"),
    ),
    form(
      "Edit profile",
      [
        field("Display name", "display_name", {
          value: profile.display_name ?? "",
          autocomplete: "nickname",
        }),
        field("Email", "email", {
          type: "email",
          value: profile.email ?? "",
          autocomplete: "email",
        }),
      ],
      "Save profile",
      async (values, box) => {
        await patch("/api/users/me", {
          display_name: values.display_name || null,
          email: values.email || null,
        });
        await ctx.refresh();
        box.show("Profile saved.", "ok");
      },
    ),
  );
}

async function kycCard(ctx, rerender) {
  const kyc = await get("/api/kyc");
  const parts = [
    h(
      "p",
      {},
      "Status: ",
      h("strong", { "data-kyc-status": kyc.status }, KYC_WORDS[kyc.status] ?? kyc.status),
    ),
  ];
  if (kyc.rejection) {
    parts.push(
      h(
        "p",
        {},
        `Reason: ${kyc.rejection.reason ?? "none given"}. `,
        kyc.rejection.type === "retry" ? "You may start again." : "This decision is final.",
      ),
    );
  }
  const canStart =
    kyc.status === "not_started" ||
    (kyc.status === "rejected" && kyc.rejection?.type === "retry") ||
    (kyc.status === "pending" && kyc.provider !== "manual");
  if (canStart && kyc.provider === "manual") {
    parts.push(
      form(
        "Identity check",
        [
          field("Legal name", "legal_name", { required: true, autocomplete: "name" }),
          field("Date of birth", "date_of_birth", {
            type: "date",
            required: true,
            autocomplete: "bday",
          }),
          field("Country", "country", {
            required: true,
            maxlength: 2,
            autocomplete: "country",
            hint: "Two letters (ISO 3166-1), e.g. FR",
          }),
        ],
        "Submit for review",
        async (values) => {
          await post("/api/kyc/start", {
            ...values,
            country: values.country.toUpperCase(),
          });
          await ctx.refresh();
          await rerender();
        },
      ),
    );
  } else if (canStart) {
    parts.push(
      form("Identity check", [], "Start the identity check", async (_, box) => {
        const started = await post("/api/kyc/start");
        box.show(
          `Your check is open at ${started.provider} (applicant ${started.applicant_id}). ` +
            "Continue there with your documents.",
          "ok",
        );
      }),
    );
  }
  return section("Identity check (KYC)", ...parts);
}

export default async function render(body, ctx) {
  const place = h("div", {});
  const rerender = async () => place.replaceChildren(await kycCard(ctx, rerender));
  body.append(profileCard(ctx.profile(), ctx), place);
  await rerender();
}
