/**
 * Identity fields (callSid, custom parameters, from/to...) copied from a stream's metadata into
 * its StreamDescriptor, as SIP pass-through headers are. Bounded so a client cannot bloat events.
 */

const MAX_FIELDS = 32;
const MAX_KEY = 64;
const MAX_VALUE = 256;

/**
 * Scalar fields of `obj` (strings, numbers, booleans) as strings, keys prefixed; one level of
 * nested objects is flattened as `parent.key`. Keys in `skip` are left out.
 */
export function flattenIdentity(
  obj: Readonly<Record<string, unknown>>,
  skip: readonly string[],
  prefix = '',
): Record<string, string> {
  const out: Record<string, string> = {};
  let n = 0;
  const put = (key: string, v: unknown): void => {
    if (n >= MAX_FIELDS || key.length > MAX_KEY) return;
    if (typeof v === 'string') out[key] = v.slice(0, MAX_VALUE);
    else if (typeof v === 'number' || typeof v === 'boolean') out[key] = String(v);
    else return;
    n++;
  };
  for (const [k, v] of Object.entries(obj)) {
    if (skip.includes(k)) continue;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      for (const [k2, v2] of Object.entries(v as Record<string, unknown>)) put(`${prefix}${k}.${k2}`, v2);
    } else {
      put(`${prefix}${k}`, v);
    }
  }
  return out;
}
