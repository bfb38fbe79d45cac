// Renders the gateway's OpenAPI document as a readable reference: grouped by tag, each route with
// its summary, security, parameters, request schema and responses. Served under a strict CSP
// (script-src 'self'), so it builds DOM nodes only: no inline handlers, no innerHTML.

const root = document.getElementById("reference");

main().catch((error) => {
  root.replaceChildren(element("p", { class: "error" }, `Could not load the document: ${error}`));
});

async function main() {
  const response = await fetch(root.dataset.spec, { headers: { accept: "application/json" } });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const spec = await response.json();
  document.title = `${spec.info.title} ${spec.info.version} — API reference`;
  const groups = groupByTag(spec);
  const filter = element("input", {
    type: "search",
    placeholder: "Filter by path, method or summary",
    "aria-label": "Filter routes",
  });
  const sections = [...groups].map(([tag, operations]) => tagSection(spec, tag, operations));
  filter.addEventListener("input", () => applyFilter(sections, filter.value));
  root.replaceChildren(
    element("header", {}, [
      element("h1", {}, `${spec.info.title} API`),
      element("p", { class: "meta" }, [
        `Version ${spec.info.version} · OpenAPI ${spec.openapi} · `,
        element("a", { href: root.dataset.spec }, "openapi.json"),
      ]),
      element("p", {}, withCode(spec.info.description ?? "")),
      securitySection(spec),
      element("nav", { "aria-label": "Tags" }, [
        element(
          "ul",
          {},
          [...groups.keys()].map((tag) =>
            element("li", {}, element("a", { href: `#${anchor(tag)}` }, tag))
          ),
        ),
      ]),
      filter,
    ]),
    ...sections,
  );
}

function groupByTag(spec) {
  const groups = new Map();
  for (const [path, item] of Object.entries(spec.paths ?? {})) {
    for (const [method, operation] of Object.entries(item)) {
      if (!operation || typeof operation !== "object" || !operation.responses) continue;
      for (const tag of operation.tags?.length ? operation.tags : ["Other"]) {
        if (!groups.has(tag)) groups.set(tag, []);
        groups.get(tag).push({ path, method, operation });
      }
    }
  }
  return new Map([...groups].sort(([a], [b]) => a.localeCompare(b)));
}

function securitySection(spec) {
  const schemes = Object.entries(spec.components?.securitySchemes ?? {});
  if (schemes.length === 0) return element("div");
  return element("section", { class: "schemes" }, [
    element("h2", {}, "Authentication"),
    element(
      "dl",
      {},
      schemes.flatMap(([name, scheme]) => [
        element("dt", {}, element("code", {}, name)),
        element("dd", {}, withCode(scheme.description ?? scheme.type)),
      ]),
    ),
  ]);
}

function tagSection(spec, tag, operations) {
  return element("section", { id: anchor(tag), class: "tag" }, [
    element("h2", {}, tag),
    ...operations.map((entry) => operationBlock(spec, entry)),
  ]);
}

function operationBlock(spec, { path, method, operation }) {
  const body = [];
  if (operation.description) body.push(element("p", {}, withCode(operation.description)));
  if (operation.security?.length) {
    body.push(element("p", { class: "auth" }, [
      "Authentication: ",
      ...operation.security.flatMap((requirement, index) => [
        index > 0 ? " or " : "",
        ...Object.keys(requirement).map((name) => element("code", {}, name)),
      ]),
    ]));
  }
  if (operation.parameters?.length) {
    body.push(
      element("h3", {}, "Parameters"),
      table(
        ["name", "in", "schema", "description"],
        operation.parameters.map((parameter) => [
          [element("code", {}, parameter.name), parameter.required ? " (required)" : ""],
          parameter.in,
          schemaSummary(spec, parameter.schema),
          withCode(parameter.description ?? ""),
        ]),
      ),
    );
  }
  const requestBody = operation.requestBody;
  if (requestBody) {
    body.push(element("h3", {}, "Request body"));
    for (const [type, media] of Object.entries(requestBody.content ?? {})) {
      body.push(element("p", {}, element("code", {}, type)), schemaTree(spec, media.schema, 0));
    }
  }
  body.push(
    element("h3", {}, "Responses"),
    table(
      ["status", "description", "body"],
      Object.entries(operation.responses).map(([status, response]) => [
        element("span", { class: `status s${status[0]}` }, status),
        withCode(response.description ?? ""),
        Object.values(response.content ?? {}).map((media) => schemaSummary(spec, media.schema)),
      ]),
    ),
  );
  const details = element("details", { class: "operation" }, [
    element("summary", {}, [
      element("span", { class: `method ${method}` }, method.toUpperCase()),
      element("code", { class: "path" }, path),
      element("span", { class: "summary" }, withCode(operation.summary ?? "")),
    ]),
    ...body,
  ]);
  details.dataset.search = `${method} ${path} ${operation.summary ?? ""}`.toLowerCase();
  return details;
}

function applyFilter(sections, text) {
  const needle = text.trim().toLowerCase();
  for (const section of sections) {
    let shown = 0;
    for (const block of section.querySelectorAll("details.operation")) {
      const visible = !needle || block.dataset.search.includes(needle);
      block.hidden = !visible;
      if (visible) shown++;
    }
    section.hidden = shown === 0;
  }
}

function resolve(spec, schema) {
  if (!schema?.$ref) return { schema, name: undefined };
  const name = schema.$ref.split("/").pop();
  return { schema: spec.components?.schemas?.[name] ?? {}, name };
}

/** One line: a `$ref`'s name or a type with its constraints. */
function schemaSummary(spec, schema) {
  if (!schema) return "";
  const { schema: resolved, name } = resolve(spec, schema);
  if (name) return element("code", {}, name);
  const type = [resolved.type ?? (resolved.oneOf ? "one of" : "any")].flat().join(" | ");
  const facts = [
    "enum",
    "const",
    "format",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "pattern",
    "default",
  ]
    .filter((key) => resolved[key] !== undefined)
    .map((key) => `${key}: ${JSON.stringify(resolved[key])}`);
  const items = resolved.items ? [" of ", schemaSummary(spec, resolved.items)] : [];
  return element("span", {}, [
    element("code", {}, type),
    ...items,
    facts.length ? ` (${facts.join(", ")})` : "",
  ]);
}

/** Properties as a nested list, `$ref`s resolved (to a bounded depth: schemas may recurse). */
function schemaTree(spec, schema, depth) {
  const { schema: resolved, name } = resolve(spec, schema);
  const heading = name ? element("p", {}, ["Schema ", element("code", {}, name)]) : "";
  if (depth > 4) return element("div", {}, schemaSummary(spec, schema));
  if (resolved.oneOf) {
    return element("div", {}, [
      heading,
      element("p", {}, "One of:"),
      element(
        "ol",
        {},
        resolved.oneOf.map((option) =>
          element("li", {}, [option.title ?? "", schemaTree(spec, option, depth + 1)])
        ),
      ),
    ]);
  }
  const properties = Object.entries(resolved.properties ?? {});
  if (properties.length === 0) return element("div", {}, [heading, schemaSummary(spec, resolved)]);
  const required = new Set(resolved.required ?? []);
  const list = element(
    "ul",
    { class: "properties" },
    properties.map(([key, property]) =>
      element("li", {}, [
        element("code", {}, key),
        required.has(key) ? element("span", { class: "required" }, " required") : "",
        " — ",
        schemaSummary(spec, property),
        property.description ? [" — ", ...withCode(property.description)] : "",
        property.properties ? schemaTree(spec, property, depth + 1) : "",
      ])
    ),
  );
  const extra = resolved.additionalProperties === false ? "No other fields are accepted." : "";
  return element("div", {}, [heading, list, extra ? element("p", { class: "meta" }, extra) : ""]);
}

function table(headings, rows) {
  return element("table", {}, [
    element("thead", {}, element("tr", {}, headings.map((text) => element("th", {}, text)))),
    element(
      "tbody",
      {},
      rows.map((cells) => element("tr", {}, cells.map((cell) => element("td", {}, cell)))),
    ),
  ]);
}

/** Text with `backtick` spans as <code>, the only markup the document's prose uses. */
function withCode(text) {
  return String(text).split(/`([^`]*)`/).map((part, index) =>
    index % 2 === 1 ? element("code", {}, part) : part
  );
}

function anchor(tag) {
  return `tag-${tag.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
}

function element(name, attributes = {}, children = []) {
  const node = document.createElement(name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  node.append(...[children].flat(Infinity).filter((child) => child !== "" && child != null));
  return node;
}
