// How the tests launch scale/train.py under torchrun on this machine (Node): the system Python (Debian's
// python3-torch), a free port per job, the launcher flags torch 1.13 needs on Python 3.11, and a hard time limit.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';

/** Debian's python3-torch lives in the system Python; a pyenv python3 on PATH usually has no torch. */
export const PYTHON = process.env['SCALE_PYTHON'] ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no TCP port for torchrun');
  return address.port;
}

/**
 * `python -m torch.distributed.run` arguments for `processes` local workers running `scale.train`. A port of its
 * own, not --standalone: torch 1.13's --standalone always takes port 29400, so two jobs on one machine (two
 * checkouts' test suites) joined one rendezvous and broke each other. The explicit --redirects/--tee (rank 1's
 * stdout to torchrun's log folder, rank 0's teed to ours) dodge torch 1.13's launcher on Python 3.11, whose default
 * "0" turns into None (enum.IntFlag no longer iterates its zero member) and crashes before training. Collectives
 * give up after 3 minutes (--timeout-minutes), so a stuck peer fails the test instead of waiting out gloo's 30.
 */
export async function torchrunArgs(processes: number): Promise<string[]> {
  return ['-m', 'torch.distributed.run', '--nnodes=1', `--nproc_per_node=${processes}`, '--master_addr=127.0.0.1', `--master_port=${await freePort()}`,
    '--redirects', '1:1', '--tee', '0:1', '-m', 'scale.train', '--timeout-minutes', '3'];
}

/** The processes of group `pgid`, one a line: pid, state, where the kernel has it waiting, command line. */
function listGroup(pgid: number): string {
  const ps = spawnSync('ps', ['-o', 'pid=,stat=,wchan:24=,args=', '-g', String(pgid)], { encoding: 'utf8' });
  return ps.stdout ?? '';
}

/** scale/train.py's worker processes in group `pgid` (torchrun's agent names the module too, but runs torch.distributed.run). */
function workersOf(pgid: number): number[] {
  return listGroup(pgid).split('\n').filter((line) => /scale\.train/.test(line) && !/torch\.distributed\.run/.test(line))
    .map((line) => Number.parseInt(line.trim(), 10)).filter((pid) => Number.isInteger(pid));
}

/**
 * Runs `PYTHON args` to the end and gives its stdout and stderr together. It never blocks the test runner's event
 * loop (execFileSync would, and then neither Playwright's nor Vitest's time limit can fire). Past `timeoutMs` it
 * lists the job's processes, asks scale/train.py's workers for their stacks, 3 s later kills the whole process group
 * (torchrun and its workers), and the promise rejects with what it printed.
 */
export function runPython(args: string[], options: { cwd: string; env?: Record<string, string>; timeoutMs: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid === undefined) return killGroup();
      // Before the kill, what each process of the job is doing: its state, and scale/train.py's Python stacks
      // (it prints them on SIGUSR1). torchrun's agent is left out: SIGUSR1 would end it without a word.
      output += `\n[runPython: past ${options.timeoutMs / 1000} s]\n${listGroup(child.pid)}`;
      for (const pid of workersOf(child.pid)) {
        try {
          process.kill(pid, 'SIGUSR1');
        } catch {
          // gone meanwhile
        }
      }
      setTimeout(killGroup, 3000);
    }, options.timeoutMs);
    child.on('error', (error) => { clearTimeout(timer); reject(new Error(`${PYTHON} could not start: ${error.message}`)); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0 && !timedOut) resolve(output);
      else {
        killGroup(); // workers torchrun left behind
        const why = timedOut ? `killed after ${options.timeoutMs / 1000} s` : `exit ${code ?? signal}`;
        reject(new Error(`${PYTHON} ${args.join(' ')}: ${why}\n${output.slice(-8000)}`));
      }
    });
  });
}
