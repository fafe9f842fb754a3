// Secrets a build runtime file holds in clear. aiWARE keeps the file with the build and the agent
// writes it to /cache/engines/{engineId}/{buildId}/runtime.json on every engine host, so whatever
// it holds readable is readable there. Node-RED's own answer is its credentials, encrypted with a
// credentialSecret (`{"$": "..."}`, the runner decrypts them with RUNNER_CREDENTIAL_SECRET), or
// environment variables (`${NAME}`, an env entry of type `cred`). Found by property name, never by
// value, and reported by name only: a value is never repeated.
import type { BuildRuntime } from './runtime-file';
import { redactSecrets } from './modules';

export interface SecretInClear {
  /** The node it belongs to, when it does (a flow node, or a plain credentials entry). */
  nodeId?: string;
  /** Where in the file: `credentials.<id>`, `<property path>` of the node, `settings.…`, `modules.<name>`. */
  where: string;
  /** The property names holding values in clear. */
  keys: string[];
  /**
   * `credentials` a plain credentials entry, `encrypted-form` a `$` that is not Node-RED's encrypted
   * form, `property` a secret-named property, `module` a module spec with a login in it.
   */
  code: 'credentials' | 'encrypted-form' | 'property' | 'module';
}

// The last word of a property name (camelCase, snake_case, kebab-case) that names a secret, or its last two.
const SECRET_WORD = new Set(['password', 'passwd', 'pwd', 'passphrase', 'secret', 'token', 'apikey', 'authorization']);
const SECRET_PAIR = new Set(['apikey', 'accesskey', 'secretkey', 'privatekey', 'clientsecret', 'authtoken', 'accesstoken', 'refreshtoken', 'bearertoken', 'sessiontoken']);

/** True for property names that name a secret: password, apiKey, api_key, clientSecret, x-api-key, authToken… (not tokenType, maxTokens). */
export function secretName(name: string): boolean {
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '');
  if (words.length === 0) return false;
  return SECRET_WORD.has(words[words.length - 1]) || SECRET_PAIR.has(words.slice(-2).join(''));
}

// A typed input's type that takes the value from elsewhere: the text is a name, not the secret.
const INDIRECT_TYPES = new Set(['env', 'cred', 'msg', 'flow', 'global', 'jsonata']);

/** A literal value worth hiding: a non-empty string that is not an environment reference (`${NAME}`). */
function inClear(value: unknown): boolean {
  return typeof value === 'string' && value.trim() !== '' && !/\$\{[^}]+\}/.test(value);
}

/**
 * Entries that name a property and give its value, [name, value, type]: a tab's or subflow's env
 * ({name, value, type}), http request's headers ({keyValue, valueValue, valueType}), change rules
 * ({p, to, tot}), inject properties ({p, v, vt}).
 */
const PAIRS: [string, string, string][] = [
  ['name', 'value', 'type'],
  ['keyValue', 'valueValue', 'valueType'],
  ['p', 'to', 'tot'],
  ['p', 'v', 'vt'],
];

/** Node properties that are code or text, never settings: their words are not property names. */
const CODE_PROPERTIES = new Set(['func', 'initialize', 'finalize', 'template', 'info', 'wires']);

/** Secret-named properties with a value in clear, anywhere in `value`, as paths under `where`. */
function secretProperties(value: unknown, where: string, depth = 0): string[] {
  if (depth > 8 || value === null || typeof value !== 'object') return [];
  const found: string[] = [];
  if (Array.isArray(value)) {
    value.forEach((item, i) => found.push(...secretProperties(item, `${where}[${i}]`, depth + 1)));
    return found;
  }
  const object = value as Record<string, unknown>;
  for (const [nameKey, valueKey, typeKey] of PAIRS) {
    const name = object[nameKey];
    if (typeof name === 'string' && valueKey in object && secretName(name) && inClear(object[valueKey]) && !INDIRECT_TYPES.has(String(object[typeKey]))) found.push(`${where}(${name})`);
  }
  for (const [key, v] of Object.entries(object)) {
    if (depth === 0 && CODE_PROPERTIES.has(key)) continue;
    const path = where ? `${where}.${key}` : key;
    if (secretName(key) && inClear(v) && !INDIRECT_TYPES.has(String(object[`${key}Type`]))) found.push(path);
    else found.push(...secretProperties(v, path, depth + 1));
  }
  return found;
}

/** Node-RED's encrypted credentials: `{"$": "<32 hex digits of IV><base64>"}`. */
function encrypted(value: unknown): boolean {
  return typeof value === 'string' && /^[0-9a-f]{32}[A-Za-z0-9+/=]+$/i.test(value);
}

/** Everything of `runtime` that holds a secret in clear. */
export function secretsInClear(runtime: BuildRuntime): SecretInClear[] {
  const found: SecretInClear[] = [];
  for (const [id, entry] of Object.entries(runtime.credentials ?? {})) {
    if (id === '$') {
      if (!encrypted(entry)) found.push({ where: 'credentials.$', keys: ['$'], code: 'encrypted-form' });
      continue;
    }
    // Every value of a plain credentials entry is what Node-RED would have encrypted.
    const keys = entry !== null && typeof entry === 'object' ? Object.keys(entry).filter((k) => inClear((entry as Record<string, unknown>)[k])) : [];
    if (keys.length > 0) found.push({ nodeId: id, where: `credentials.${id}`, keys, code: 'credentials' });
  }
  for (const node of runtime.flows) {
    const id = node.id as string;
    const own = node.credentials;
    if (own !== null && typeof own === 'object' && !Array.isArray(own)) {
      const keys = Object.keys(own).filter((k) => inClear((own as Record<string, unknown>)[k]));
      if (keys.length > 0) found.push({ nodeId: id, where: 'credentials', keys, code: 'credentials' });
    }
    const keys = secretProperties(Object.fromEntries(Object.entries(node).filter(([key]) => key !== 'credentials')), '');
    if (keys.length > 0) found.push({ nodeId: id, where: 'properties', keys, code: 'property' });
  }
  const settings = secretProperties(runtime.settings ?? {}, 'settings');
  for (const key of settings) found.push({ where: key, keys: [key.slice(key.lastIndexOf('.') + 1)], code: 'property' });
  for (const [name, spec] of Object.entries(runtime.modules ?? {})) {
    if (redactSecrets(spec) !== spec) found.push({ where: `modules.${name}`, keys: ['spec'], code: 'module' });
  }
  return found;
}
