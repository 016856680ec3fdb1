// How every benchmark prints a figure: one `name: value unit` line on stdout.
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export type Report = (name: string, value: number, unit: string) => void;

/** One decimal, or two significant digits below 1 (ours moves 0.027 MB/s between guests). */
export const report: Report = (name, value, unit) => {
  const digits = Math.abs(value) < 1 && value !== 0 ? value.toPrecision(2) : value.toFixed(1);
  console.log(`${name}: ${digits} ${unit}`);
};

/** Whether the module at `moduleUrl` is the program node was started with (`node bench/x.js`). */
export function isMain(moduleUrl: string): boolean {
  const program = process.argv[1];
  return program !== undefined && pathToFileURL(realpathSync(program)).href === moduleUrl;
}
