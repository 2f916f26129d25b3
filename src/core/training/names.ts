// Names people tell apart: a new run or imported model whose name is taken gets the first free " 2", " 3"…
// suffix, so the runs table and the Play page's model list never show two entries under one name. Pure TS.

/** `name` itself when no entry of `taken` has it, else `name 2`, `name 3`… (the first that is free). */
export function distinctName(name: string, taken: Iterable<string>): string {
  const used = new Set(taken);
  if (!used.has(name)) return name;
  for (let n = 2; ; n++) {
    const candidate = `${name} ${n}`;
    if (!used.has(candidate)) return candidate;
  }
}
