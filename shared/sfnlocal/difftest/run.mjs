// Runs an ASL definition on the independent interpreter aws-local-stepfunctions
// with scripted Task handlers, and prints what happened as JSON.
//
//   node run.mjs DEFINITION.json SCENARIO.json
//
// SCENARIO: {"input": ..., "handlers": {"StateName": [response, ...]},
// "context": the Context Object's execution, as the engine gives it, and
// the task token, as difftest.TaskToken}
// A Task state's call number n (0-based, counted per state name) gets
// response n, or the last one past the end of the list. A response is
// {"return": value}, {"echo": true} (the input back) or
// {"throw": {"error": "Name", "cause": "text"}}.
// Waits and retry pauses take no time. Output:
// {"status", "output", "error", "cause", "calls": [{"state", "input"}],
// "transitions"}.
import { readFileSync } from 'node:fs';
import { StateMachine } from 'aws-local-stepfunctions';

const [definitionFile, scenarioFile] = process.argv.slice(2);
const definition = JSON.parse(readFileSync(definitionFile, 'utf8'));
const scenario = JSON.parse(readFileSync(scenarioFile, 'utf8'));

const calls = [];
const counts = {};
const taskHandlers = {};
const waitOverrides = {};
const retryOverrides = {};

function respond(state, input) {
  calls.push({ state, input });
  const script = (scenario.handlers ?? {})[state];
  if (!script || script.length === 0) {
    throw Object.assign(new Error(`no script for state ${state}`), { name: 'Harness.NoScript' });
  }
  const n = counts[state] ?? 0;
  counts[state] = n + 1;
  const r = script[Math.min(n, script.length - 1)];
  if (r.throw) {
    const err = new Error(r.throw.cause ?? '');
    err.name = r.throw.error;
    throw err;
  }
  if (r.echo) return input;
  return r.return;
}

// Every state of the definition, Map item processors included.
// "ResultPath": "$" is the default written out; the library writes the
// result under a key named "$" instead, so it is given the default.
function visit(states) {
  for (const [name, state] of Object.entries(states)) {
    if (state.ResultPath === '$') delete state.ResultPath;
    for (const c of state.Catch ?? []) if (c.ResultPath === '$') delete c.ResultPath;
    if (state.Type === 'Task') taskHandlers[name] = async (input) => respond(name, input);
    // The library reads TimeoutSecondsPath from the effective input (after
    // Parameters); Step Functions and the engine read the state input.
    // Handlers answer at once here, so no timeout fires: drop the path.
    if (state.Type === 'Task') delete state.TimeoutSecondsPath;
    if (state.Type === 'Wait') waitOverrides[name] = 0;
    if (state.Retry) retryOverrides[name] = 0;
    const proc = state.ItemProcessor ?? state.Iterator;
    if (proc) visit(proc.States);
  }
}
visit(definition.States);

const sm = new StateMachine(definition, { validationOptions: { checkPaths: false, checkArn: false } });
const out = { status: 'SUCCEEDED', output: null, error: '', cause: '', calls, transitions: 0 };
try {
  const execution = sm.run(scenario.input ?? {}, {
    context: scenario.context,
    overrides: {
      taskResourceLocalHandlers: taskHandlers,
      waitTimeOverrides: waitOverrides,
      retryIntervalOverrides: retryOverrides,
    },
  });
  // State transitions, as Step Functions bills them: each state entered,
  // each retry.
  const counted = (async () => {
    for await (const ev of execution.eventLogs) {
      if (ev.type === 'StateEntered' || ev.type === 'StateRetried') out.transitions++;
    }
  })();
  out.output = await execution.result;
  await counted;
} catch (e) {
  const cause = e.cause ?? e;
  out.status = 'FAILED';
  out.error = cause.name ?? 'Error';
  out.cause = cause.message ?? '';
}
process.stdout.write(JSON.stringify(out));
