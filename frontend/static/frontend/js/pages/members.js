// Members: who is in the project and how each one labels; add people (admins may create
// their accounts, with a password shown once), change roles, remove them.
import { get, patch, post, request } from "../api.js";
import { el, errorText, pageData, percent, say } from "../dom.js";

const { project, user, is_admin: isAdmin } = pageData();
const base = `/api/projects/${project}/members/`;
const $ = (id) => document.getElementById(id);
const message = $("message");
const ROLES = ["annotator", "lead"];

function today(quota) {
  return quota.daily_quota === null ? `${quota.used_today} (no quota)` : `${quota.used_today} of ${quota.daily_quota}`;
}

function roleSelect(member) {
  return el(
    "select",
    {
      "aria-label": `Role of ${member.username}`,
      onchange: async (event) => {
        try {
          await patch(`${base}${member.id}/`, { role: event.target.value });
          say(message, `${member.username} is now ${event.target.value}.`, "ok");
        } catch (error) {
          say(message, errorText(error), "error");
        }
        load();
      },
    },
    ROLES.map((role) => el("option", { value: role, selected: role === member.role }, role)),
  );
}

async function remove(member) {
  const yourself = member.username === user ? " You will lose access to this project." : "";
  if (!confirm(`Remove ${member.username} from the project? Their answers stay.${yourself}`)) return;
  try {
    await request("DELETE", `${base}${member.id}/`);
    say(message, `${member.username} was removed; their open items went back to the queue.`, "ok");
  } catch (error) {
    say(message, errorText(error), "error");
  }
  load();
}

function row(member) {
  return el(
    "tr",
    { "data-username": member.username },
    el("th", { scope: "row" }, member.username),
    el("td", {}, roleSelect(member)),
    el("td", { class: "num" }, member.answers),
    el("td", { class: "num" }, member.hours.toFixed(2)),
    el("td", { class: "num" }, member.items_per_hour ?? "–"),
    el("td", { class: "num", title: `on ${member.compared} shared items` }, percent(member.agreement)),
    el("td", { class: "num" }, today(member.quota)),
    el("td", {}, el("button", { type: "button", onclick: () => remove(member) }, `Remove ${member.username}`)),
  );
}

async function load() {
  try {
    const members = await get(`${base}stats/`);
    $("members").replaceChildren(...members.map(row));
    if (!members.length) $("members").append(el("tr", {}, el("td", { colspan: 8 }, "Nobody yet: add someone below.")));
  } catch (error) {
    say(message, `Could not load the members: ${errorText(error)}`, "error");
  }
}

const form = $("add-form");
// Accounts are the whole site's: only admins get the choice (the API agrees).
if (isAdmin) $("accounts-note").remove();
else $("create-account-field").remove();

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = {
    username: form.elements.username.value.trim(),
    role: form.elements.role.value,
    create_account: Boolean(form.elements.create_account?.checked),
  };
  try {
    const { data: member } = await post(base, body);
    form.reset();
    if (member.one_time_password) {
      $("new-account-title").textContent = `Account “${member.username}” created`;
      $("one-time-password").textContent = member.one_time_password;
      $("new-account").hidden = false;
    }
    say(message, `${member.username} is a member, as ${member.role}.`, "ok");
  } catch (error) {
    say(message, errorText(error), "error");
  }
  load();
});

$("copy-password").addEventListener("click", () => navigator.clipboard?.writeText($("one-time-password").textContent));
$("hide-password").addEventListener("click", () => {
  $("one-time-password").textContent = "";
  $("new-account").hidden = true;
});

load();
