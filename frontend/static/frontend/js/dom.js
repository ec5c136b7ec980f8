// DOM helpers. Text always goes in through textContent: user data is never parsed as HTML.

/** el("td", {class: "num"}, "12", child) -> an element with attributes and children. */
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** The JSON a page's template put in with json_script. */
export function pageData() {
  return JSON.parse(document.getElementById("page-data").textContent);
}

export function percent(value, digits = 0) {
  return value === null || value === undefined ? "–" : `${(value * 100).toFixed(digits)}%`;
}

/** Show a message in a live region so screen readers hear it too. */
export function say(element, text, kind = "") {
  element.textContent = text;
  element.dataset.kind = kind;
}

/** Say that the session has ended, with a link to log in again and come back to this page,
 * where the answers kept meanwhile are sent. */
export function askToLogIn(element) {
  const back = encodeURIComponent(location.pathname + location.search);
  element.replaceChildren(
    "You are logged out; your answers are kept in this browser. ",
    el("a", { href: `/login/?next=${back}` }, "Log in again"),
    " to send them.",
  );
  element.dataset.kind = "error";
}

/** An API error in words: the server's detail, or each field's messages ("name: ..."). */
export function errorText(error) {
  const data = error.data && typeof error.data === "object" ? error.data : {};
  const fields = Object.entries(data).filter(([name]) => name !== "detail");
  if (data.detail || !fields.length) return error.message;
  return fields.map(([name, text]) => `${name}: ${[text].flat().join(" ")}`).join("; ");
}
