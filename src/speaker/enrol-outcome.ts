/**
 * What an enrolment request answers, whichever door it came through (enrol-api.ts,
 * enrol-from-call-api.ts): an HTTP-style status and a JSON body. A refusal (EnrolmentError,
 * AudioFileError) becomes its status and `{error, code, ...details}`; anything else is rethrown.
 */
import { AudioFileError } from '../media/errors.js';
import { EnrolmentError, type EnrolmentRefusal } from './enrolment.js';

export type Outcome = { status: number; body: Record<string, unknown> };

const STATUS: Partial<Record<EnrolmentRefusal, number>> = {
  invalid_account: 400,
  ambiguous_leg: 400,
  unknown_call: 404,
  unknown_leg: 404,
  capture_in_progress: 409,
  capture_cancelled: 503,
};

export function refusal(err: unknown): Outcome {
  if (err instanceof EnrolmentError) return { status: STATUS[err.code] ?? 422, body: { error: err.message, code: err.code, ...err.details } };
  if (err instanceof AudioFileError) return { status: 422, body: { error: err.message, code: 'bad_audio' } };
  throw err;
}

/** The body of a bad request (a schema's first issue). */
export function badRequest(issue: { path: readonly PropertyKey[]; message: string }): Outcome {
  return { status: 400, body: { error: `bad request: ${issue.path.map(String).join('.')}: ${issue.message}`, code: 'bad_request' } };
}
