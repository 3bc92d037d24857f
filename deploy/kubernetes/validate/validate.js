"use strict";
// Checks Kubernetes manifests the way the API server would before it
// stores them: each YAML document must be a kind kubernetes-models knows
// (the Kubernetes OpenAPI schemas, compiled), valid against its schema
// (types, required fields, enums, formats), and, as kubeconform's -strict
// and `kubectl apply --validate=strict` do, hold no field the schema does
// not declare: a misspelt `readinesProbe` is otherwise silently no probe.
//
// Usage: node validate.js FILE.yaml...   (exit 1 and one line per problem)
const fs = require("fs");
const path = require("path");
const YAML = require("yaml");

const MODELS_DIR = path.dirname(require.resolve("kubernetes-models/package.json"));
const NODE_MODULES = path.dirname(MODELS_DIR);

// The fields an interface declares, read from the package's generated
// declarations (the schemas compile to code; the declarations list each
// object's properties and their types): name -> type text, and the files
// its imported types come from.
const declarations = new Map();

function declarationFile(fromFile, specifier) {
  const base = specifier.startsWith(".")
    ? path.join(path.dirname(fromFile), specifier)
    : path.join(NODE_MODULES, specifier);
  return base + ".d.ts";
}

// Splits an interface body at the semicolons that end its members.
function members(body) {
  const out = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === "{" || c === "<" || c === "(") depth++;
    else if (c === "}" || c === ">" || c === ")") depth--;
    else if (c === ";" && depth === 0) {
      out.push(body.slice(start, i).trim());
      start = i + 1;
    }
  }
  return out.filter((m) => m.length > 0);
}

function declaration(file) {
  if (declarations.has(file)) return declarations.get(file);
  let found = null;
  if (fs.existsSync(file)) {
    const text = fs.readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "");
    const imports = new Map();
    for (const m of text.matchAll(/import \{ (\w+) \} from "([^"]+)";/g))
      imports.set(m[1], declarationFile(file, m[2]));
    // Only an interface has properties; a type alias (IntOrString,
    // Quantity, Time) is a leaf the schema check covers.
    const head = text.match(/export interface \w+(?: extends [\w, ]+)? \{/);
    if (head) {
      let depth = 1;
      let i = head.index + head[0].length;
      const start = i;
      for (; i < text.length && depth > 0; i++) {
        if (text[i] === "{") depth++;
        else if (text[i] === "}") depth--;
      }
      const fields = new Map();
      for (const member of members(text.slice(start, i - 1))) {
        const m = member.match(/^"([^"]+)"\??:\s*([\s\S]*)$/);
        if (m) fields.set(m[1], m[2].trim());
      }
      found = { fields, imports, extendsTypeMeta: /extends TypeMeta/.test(head[0]) };
    }
  }
  declarations.set(file, found);
  return found;
}

// What a property's type text says of its value: an object of a declared
// interface, an array or a string-keyed map of one, or a leaf.
function shapeOf(typeText, decl) {
  let m = typeText.match(/^Array<(\w+)>$/);
  if (m) return { kind: "array", element: decl.imports.get(m[1]) };
  m = typeText.match(/^\{\s*\[key: string\]: (\w+);?\s*\}$/);
  if (m) return { kind: "map", element: decl.imports.get(m[1]) };
  m = typeText.match(/^(\w+)$/);
  if (m && decl.imports.has(m[1])) return { kind: "object", element: decl.imports.get(m[1]) };
  return { kind: "leaf" };
}

function checkUnknown(value, file, pointer, problems) {
  const decl = file && declaration(file);
  if (!decl || value === null || typeof value !== "object" || Array.isArray(value)) return;
  for (const [key, child] of Object.entries(value)) {
    const where = pointer + "/" + key.replace(/~/g, "~0").replace(/\//g, "~1");
    if (!decl.fields.has(key)) {
      if (decl.extendsTypeMeta && (key === "apiVersion" || key === "kind")) continue;
      problems.push(`${where}: unknown field "${key}"`);
      continue;
    }
    const shape = shapeOf(decl.fields.get(key), decl);
    if (shape.kind === "object") checkUnknown(child, shape.element, where, problems);
    else if ((shape.kind === "array" || shape.kind === "map") && shape.element && child && typeof child === "object")
      for (const [k, v] of Object.entries(child)) checkUnknown(v, shape.element, `${where}/${k}`, problems);
  }
}

function checkDocument(doc) {
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) return ["not an object"];
  const { apiVersion, kind } = doc;
  if (typeof apiVersion !== "string" || typeof kind !== "string") return ["no apiVersion and kind"];
  const dir = path.join(MODELS_DIR, apiVersion);
  const declFile = path.join(dir, kind + ".d.ts");
  if (!/^[\w.\/-]+$/.test(apiVersion) || !/^\w+$/.test(kind) || !fs.existsSync(declFile))
    return [`${apiVersion} ${kind}: not a kind of the Kubernetes API`];
  const Model = require(path.join(dir, kind))[kind];
  const problems = [];
  try {
    new Model(doc).validate();
  } catch (err) {
    // ajv's text: "data/a/b must ..., data/c must ..."
    for (const line of String(err.message).split(/, (?=data\/)|\n/)) problems.push(line.replace(/^data/, ""));
  }
  checkUnknown(doc, declFile, "", problems);
  return problems;
}

let failed = false;
for (const file of process.argv.slice(2)) {
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"));
  docs.forEach((parsed, index) => {
    const label = `${file}: document ${index + 1}`;
    if (parsed.errors.length > 0) {
      for (const e of parsed.errors) console.log(`${label}: YAML: ${e.message.split("\n")[0]}`);
      failed = true;
      return;
    }
    const doc = parsed.toJS();
    if (doc === null) return;
    const name = `${doc.kind}/${(doc.metadata && doc.metadata.name) || "?"}`;
    const problems = checkDocument(doc);
    for (const problem of problems) console.log(`${label} (${name}): ${problem}`);
    if (problems.length > 0) failed = true;
    else console.log(`${label} (${name}): valid`);
  });
}
process.exit(failed ? 1 : 0);
