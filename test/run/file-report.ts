/**
 * What one test file's own TAP output (.tap/test-results/<file>.tap) says about it: a file whose
 * process never printed its top-level plan did not report (crashed, killed, hung past the run):
 * whatever it had left is unknown; one whose plan came with top-level failures failed (a file
 * timeout is one: tap makes the file print `not ok N - timeout!` and its plan).
 */
export type FileOutcome = 'passed' | 'failed' | 'timed_out' | 'did_not_report';

export function fileOutcome(tap: string): FileOutcome {
  const lines = tap.split('\n');
  // Top level = not indented (subtests are indented by 4); YAML blocks and comments are indented or '#'.
  const plan = lines.some((l) => /^1\.\.\d+/.test(l));
  if (!plan || lines.some((l) => /^Bail out!/.test(l))) return 'did_not_report';
  const failures = lines.filter((l) => /^not ok \d+/.test(l) && !/#\s*(TODO|SKIP)\b/i.test(l));
  if (failures.some((l) => /^not ok \d+ - timeout!/.test(l))) return 'timed_out';
  return failures.length > 0 ? 'failed' : 'passed';
}
