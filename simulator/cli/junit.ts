// JUnit XML for CI systems that show test reports: one <testsuite> per test file, one <testcase>
// per case, a <failure> for a case whose result is not what its file expects, an <error> for a case
// that could not run (the engine did not start). The format as Jenkins, GitLab and GitHub read it.

export interface JUnitCase {
  name: string;
  /** The suite's name again, or a grouping: CI tools show `classname.name`. */
  classname: string;
  seconds: number;
  failure?: { message: string; type: string; text: string };
  error?: { message: string; type: string; text: string };
}

export interface JUnitSuite {
  name: string;
  timestamp: string;
  seconds: number;
  cases: JUnitCase[];
}

// XML 1.0 allows no control characters but tab, LF and CR, not even escaped: they go, as \xNN.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const NOT_XML = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g;

/** Text for an XML attribute or element: markup escaped, characters XML cannot hold written out. */
export function xmlText(text: string): string {
  return text
    .replace(NOT_XML, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/\r/g, '&#13;');
}

const seconds = (s: number): string => s.toFixed(3);

function attributes(values: Record<string, string | number>): string {
  return Object.entries(values)
    .map(([k, v]) => ` ${k}="${xmlText(String(v))}"`)
    .join('');
}

export function junitXml(suites: JUnitSuite[], name = 'aiware-sim test'): string {
  const count = (list: JUnitCase[], what: 'failure' | 'error') => list.filter((c) => c[what] !== undefined).length;
  const all = suites.flatMap((s) => s.cases);
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>'];
  lines.push(`<testsuites${attributes({ name, tests: all.length, failures: count(all, 'failure'), errors: count(all, 'error'), time: seconds(suites.reduce((sum, s) => sum + s.seconds, 0)) })}>`);
  for (const suite of suites) {
    lines.push(
      `  <testsuite${attributes({ name: suite.name, tests: suite.cases.length, failures: count(suite.cases, 'failure'), errors: count(suite.cases, 'error'), skipped: 0, timestamp: suite.timestamp, time: seconds(suite.seconds) })}>`,
    );
    for (const c of suite.cases) {
      const head = `    <testcase${attributes({ name: c.name, classname: c.classname, time: seconds(c.seconds) })}`;
      const problem = c.failure ? { tag: 'failure', ...c.failure } : c.error ? { tag: 'error', ...c.error } : undefined;
      if (!problem) {
        lines.push(`${head}/>`);
        continue;
      }
      lines.push(`${head}>`, `      <${problem.tag}${attributes({ message: problem.message, type: problem.type })}>${xmlText(problem.text)}</${problem.tag}>`, '    </testcase>');
    }
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>');
  return `${lines.join('\n')}\n`;
}
