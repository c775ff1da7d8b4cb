// Small DOM helpers: build elements, run an action with its error shown next
// to what caused it, announce progress to screen readers.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "className") element.className = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** A place for an action's message: role=alert for errors, status otherwise. */
export function feedback() {
  const box = h("p", { className: "feedback", hidden: true });
  box.show = (text, kind = "error") => {
    box.hidden = false;
    box.className = `feedback ${kind}`;
    box.setAttribute("role", kind === "error" ? "alert" : "status");
    box.textContent = text;
  };
  box.clear = () => {
    box.hidden = true;
    box.textContent = "";
  };
  return box;
}

/**
 * Run `action` for a button or form: the control is busy meanwhile, and a
 * failure is written into `box` (never swallowed). Resolves to the result,
 * or undefined after a failure.
 */
export async function run(control, box, action) {
  box.clear();
  control.setAttribute("aria-busy", "true");
  control.disabled = true;
  try {
    return await action();
  } catch (error) {
    box.show(error?.message || String(error));
    return undefined;
  } finally {
    control.disabled = false;
    control.removeAttribute("aria-busy");
  }
}

/** A form whose submit runs `action(values)`, with its own message box. */
export function form(label, fields, submitText, action, extra = {}) {
  const box = feedback();
  const button = h("button", { type: "submit" }, submitText);
  const element = h(
    "form",
    { "aria-label": label, className: extra.className },
    ...fields,
    h("div", { className: "actions" }, button),
    box,
  );
  element.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(element));
    run(button, box, () => action(values, box));
  });
  return element;
}

let nextId = 0;
/** A labelled input. */
export function field(label, name, attributes = {}) {
  nextId += 1;
  const id = `f${nextId}-${name}`;
  const hint = attributes.hint;
  delete attributes.hint;
  const control =
    attributes.type === "select"
      ? h(
          "select",
          { id, name },
          ...attributes.options.map(([value, text]) => h("option", { value }, text)),
        )
      : h("input", { id, name, ...attributes, "aria-describedby": hint && `${id}-hint` });
  return h(
    "div",
    { className: "field" },
    h("label", { for: id }, label),
    control,
    hint && h("small", { id: `${id}-hint` }, hint),
  );
}

export function button(text, action, box, attributes = {}) {
  const element = h("button", { type: "button", ...attributes }, text);
  element.addEventListener("click", () => run(element, box, action));
  return element;
}

export function section(title, ...children) {
  return h("section", { className: "card" }, h("h2", {}, title), ...children);
}

export function table(caption, headers, rows) {
  if (!rows.length) return h("p", { className: "muted" }, `No ${caption.toLowerCase()} yet.`);
  return h(
    "div",
    { className: "scroll" },
    h(
      "table",
      {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, ...headers.map((name) => h("th", { scope: "col" }, name)))),
      h("tbody", {}, ...rows.map((row) => h("tr", {}, ...row.map((cell) => h("td", {}, cell))))),
    ),
  );
}

/** A card holding one table: its title, the table's caption, columns, rows. */
export const listing = (title, caption, headers, rows, ...after) =>
  section(title, table(caption, headers, rows), ...after);

export const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
export const short = (text) => (text ? `${text.slice(0, 6)}…${text.slice(-4)}` : "—");
