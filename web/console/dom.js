// DevoX supervisor console: the two lookups every module uses — an element by id, and the URL of an
// API path under wherever the console is mounted (console.path).
const BASE = location.pathname.replace(/\/$/, '');

export const $ = (id) => document.getElementById(id);
export const api = (p) => `${BASE}/api/${p}`;
