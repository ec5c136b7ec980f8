// The labeling guide page: every class of the taxonomy; leads edit it in place.
import { el, pageData, say } from "../dom.js";
import { guideEntry, guideLoad } from "../guide.js";

const { project, can_manage: manage } = pageData();
const $ = (id) => document.getElementById(id);

async function load() {
  const guide = await guideLoad(project);
  const options = { manage, project, message: $("message"), reload: load };
  $("guide").replaceChildren(
    ...(guide.size
      ? [...guide.values()].map((entry) => guideEntry(entry, options))
      : [el("p", { class: "muted" }, "This project has no taxonomy yet.")]),
  );
  if (location.hash) document.querySelector(location.hash)?.scrollIntoView();
}

try {
  await load();
} catch (error) {
  say($("message"), `Could not load the guide: ${error.message}`, "error");
}
