// CPU benchmarks: the same static x86-64 programs (bench/cpu/workloads.c) run natively on this
// machine, under QEMU's TCG (qemu-x86_64) and in Xenotype's interpreter. MIPS figures divide the
// instruction count Xenotype retired by each run's time.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestMachine } from '../src/x86/testing/machine.js';
import { loadProgram, runProgram } from '../src/x86/testing/program.js';

const SOURCE = fileURLToPath(new URL('../../bench/cpu/workloads.c', import.meta.url));

interface Workload {
  name: string;
  id: number;
  iterations: number;
  /** Use 4 KiB pages for the low 128 MiB (the paging workload wants TLB misses). */
  smallPages: boolean;
}

const WORKLOADS: Workload[] = [
  { name: 'integer', id: 1, iterations: 12_000_000, smallPages: false },
  { name: 'memory', id: 2, iterations: 600, smallPages: false },
  { name: 'compress', id: 3, iterations: 60, smallPages: false },
  { name: 'paging', id: 4, iterations: 4_000_000, smallPages: true },
  { name: 'cold', id: 5, iterations: 1000, smallPages: false },
];

function build(directory: string, workload: Workload): string {
  const output = join(directory, workload.name);
  const result = spawnSync(
    'gcc',
    [
      '-O2',
      '-static',
      '-nostdlib',
      '-ffreestanding',
      '-fno-pic',
      '-no-pie',
      '-mgeneral-regs-only',
      '-fno-tree-loop-distribute-patterns',
      '-fno-stack-protector',
      `-DWORKLOAD=${workload.id}`,
      `-DITERATIONS=${workload.iterations}`,
      '-o',
      output,
      SOURCE,
    ],
    { encoding: 'utf8' },
  );
  if (result.status !== 0) throw new Error(`gcc failed for ${workload.name}: ${result.stderr}`);
  return output;
}

/** The best wall-clock time of `runs` runs of a command, in seconds. */
function timeCommand(command: string, args: string[], runs: number): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    const result = spawnSync(command, args, { stdio: 'ignore' });
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (result.status !== 0)
      throw new Error(`${command} ${args.join(' ')} exited with ${result.status}`);
    best = Math.min(best, seconds);
  }
  return best;
}

export function benchCpu(report: (name: string, value: number, unit: string) => void): void {
  const directory = mkdtempSync(join(tmpdir(), 'xenotype-bench-cpu-'));
  try {
    for (const workload of WORKLOADS) {
      const program = build(directory, workload);
      const machine = new TestMachine(24576);
      loadProgram(
        machine,
        new Uint8Array(readFileSync(program)),
        workload.smallPages ? 128 << 20 : 0,
      );
      const run = runProgram(machine);
      if (machine.cpu.gpr[0] !== 60)
        throw new Error(`${workload.name} did not reach its exit (exit ${run.exit.reason})`);
      const millions = run.instructions / 1e6;
      report(`cpu.mips.${workload.name}`, millions / run.seconds, 'MIPS');
      report(`cpu.mips.${workload.name}.native`, millions / timeCommand(program, [], 5), 'MIPS');
      report(
        `cpu.mips.${workload.name}.qemu_tcg`,
        millions / timeCommand('qemu-x86_64', [program], 3),
        'MIPS',
      );
      report(`cpu.instructions.${workload.name}`, millions, 'M');
    }
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}
