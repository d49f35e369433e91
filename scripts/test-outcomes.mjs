// A node --test reporter beside TAP: one JSON line per finished test ({ file, name, outcome }),
// so that scripts/test.mjs can tell, over repeated runs, which tests did not pass every time.
// A test's name is its suites' names and its own, joined by ' > '.
export default async function* outcomes(source) {
  const open = new Map(); // file -> names of the tests started at each nesting level
  for await (const event of source) {
    const { type, data } = event;
    if (type !== 'test:start' && type !== 'test:pass' && type !== 'test:fail') continue;
    const file = data.file ?? '';
    const stack = open.get(file) ?? [];
    open.set(file, stack);
    if (type === 'test:start') {
      stack.length = data.nesting;
      stack.push(data.name);
      continue;
    }
    // A suite's own result repeats its tests' results: only tests (leaves) are counted.
    if (data.details?.type === 'suite') continue;
    const name = [...stack.slice(0, data.nesting), data.name].join(' > ');
    const outcome = type === 'test:fail' ? 'fail' : data.skip !== undefined ? 'skip' : data.todo !== undefined ? 'todo' : 'pass';
    yield `${JSON.stringify({ file, name, outcome })}\n`;
  }
}
