// The two aiWARE API calls pause-for-callback makes in the platform mode (seed
// callbacks-aiware.md): `getEngineJWT` for the wake-up URL's token, and the task status update
// to `paused`. GraphQL at the task's `veritoneApiBaseUrl`, authorised by the task's `token`.
import { ProtocolError, errorMessage } from '../protocol/errors';
import type { FailureReason } from '../protocol/constants';

export interface WakeupResource {
  engineId: string;
  tdoId?: string;
  jobId: string;
  taskId: string;
}

const GET_ENGINE_JWT = `mutation getWakeupToken($engineId: ID!, $tdoId: ID, $jobId: ID!, $taskId: ID!) {
  getEngineJWT(input: { engineId: $engineId, resource: { tdoId: $tdoId, jobId: $jobId, taskId: $taskId } }) {
    engineId
    token
    resource { applicationId tdoId jobId taskId }
  }
}`;

const UPDATE_TASK = `mutation pauseTask($taskId: ID!, $status: TaskStatus!) {
  updateTask(input: { id: $taskId, status: $status }) { id status }
}`;

/** `https://api.veritone.com` → `https://api.veritone.com/v3/graphql`; a URL already ending in /graphql is kept. */
export function graphqlUrl(apiBase: string): string {
  const base = apiBase.replace(/\/+$/, '');
  return base.endsWith('/graphql') ? base : `${base}/v3/graphql`;
}

function reasonFor(status: number): FailureReason {
  if (status === 401 || status === 403) return 'api_authentication_error';
  if (status === 404) return 'api_not_found';
  if (status === 429) return 'rate_limited';
  return 'api_error';
}

/** One GraphQL call; its `data`, or a ProtocolError whose reason says what went wrong. */
async function graphql(apiBase: string, token: string, query: string, variables: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>> {
  // Loaded on first use: only engines that pause in the platform mode make these calls.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const axios = (require('axios') as typeof import('axios')).default;
  const url = graphqlUrl(apiBase);
  let response;
  try {
    response = await axios.post(url, { query, variables }, { headers: { Authorization: `Bearer ${token}` }, timeout: timeoutMs, validateStatus: () => true, maxRedirects: 0 });
  } catch (err) {
    throw new ProtocolError(502, `the aiWARE API at ${url} could not be reached: ${errorMessage(err)}`, { reason: 'api_error' });
  }
  const body = (typeof response.data === 'object' && response.data !== null ? response.data : {}) as { data?: Record<string, unknown>; errors?: { message?: string }[] };
  const problems = (body.errors ?? []).map((e) => e.message ?? JSON.stringify(e)).join('; ');
  if (response.status < 200 || response.status >= 300 || problems || !body.data) {
    const status = response.status >= 300 ? response.status : 502;
    const unauthorised = /unauthori[sz]ed|not authori[sz]ed|authenticat/i.test(problems);
    throw new ProtocolError(502, `the aiWARE API at ${url} answered ${response.status}${problems ? `: ${problems}` : ''}`, {
      reason: unauthorised ? 'api_authentication_error' : reasonFor(status),
    });
  }
  return body.data;
}

/** A wake-up JWT for the task (the `jwt` of the wake-up URL). */
export async function getEngineJWT(apiBase: string, token: string, resource: WakeupResource, timeoutMs = 10_000): Promise<string> {
  const data = await graphql(apiBase, token, GET_ENGINE_JWT, { ...resource }, timeoutMs);
  const jwt = (data.getEngineJWT as { token?: unknown } | undefined)?.token;
  if (typeof jwt !== 'string' || jwt === '') {
    throw new ProtocolError(502, 'the aiWARE API answered getEngineJWT without a token', { reason: 'api_error' });
  }
  return jwt;
}

/** Sets the task's status in aiWARE (`paused` before the engine goes idle). */
export async function updateTaskStatus(apiBase: string, token: string, taskId: string, status: string, timeoutMs = 10_000): Promise<void> {
  await graphql(apiBase, token, UPDATE_TASK, { taskId, status }, timeoutMs);
}
