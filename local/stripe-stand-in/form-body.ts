/** A decoded form body: Stripe's bracket nesting (`metadata[k]=v`, `expand[]=x`) as objects. */
export type FormValue = string | FormValue[] | { [key: string]: FormValue };
export type FormParams = Record<string, FormValue>;

export function decodeForm(body: string): FormParams {
  const params: FormParams = {};
  for (const [key, value] of new URLSearchParams(body)) {
    const [head = '', ...rest] = key.split('[').map((part) => part.replace(/\]$/, ''));
    setPath(params, head, rest, value);
  }
  return params;
}

function setPath(target: FormParams, head: string, rest: string[], value: string): void {
  if (rest.length === 0) {
    target[head] = value;
    return;
  }
  const [next = '', ...remaining] = rest;
  if (next === '') {
    const list = Array.isArray(target[head]) ? (target[head] as FormValue[]) : [];
    list.push(value);
    target[head] = list;
    return;
  }
  const child =
    typeof target[head] === 'object' && !Array.isArray(target[head])
      ? (target[head] as FormParams)
      : {};
  target[head] = child;
  setPath(child, next, remaining, value);
}

/** The same parameters in any order give the same fingerprint. */
export function fingerprint(method: string, path: string, body: string): string {
  const entries = [...new URLSearchParams(body)].sort(([a], [b]) => a.localeCompare(b));
  return JSON.stringify([method, path, entries]);
}
