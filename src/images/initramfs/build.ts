import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ImageFormatError } from '../errors.js';
import { type ResolvedModule, resolveModuleSet } from '../kmod/modinfo.js';
import { CpioWriter, readCpio } from './cpio.js';

/** The Xen frontends a guest needs for its disk and network. */
export const DEFAULT_MODULES: readonly string[] = ['xen-blkfront', 'xen-netfront'];

/** A file to put into the archive; `path` may be written with or without a leading '/'. */
export interface InitramfsFile {
  path: string;
  data: Uint8Array | string;
  /** Permission bits; by default 0755 for scripts (#!) and ELF files, 0644 otherwise. */
  mode?: number;
}

export interface InitramfsOptions {
  /** A static busybox binary; installed as /bin/busybox with a symlink per applet. */
  busybox: string;
  /** The kernel's lib/modules/<release>/ directory, to take modules from. */
  modulesDir?: string;
  /** Defaults to the release in the modules' vermagic, else the name of `modulesDir`. */
  kernelRelease?: string;
  /** Modules to load at boot, with their dependencies (default: the Xen block and net frontends). */
  modules?: readonly string[];
  extraFiles?: readonly InitramfsFile[];
  /** A newc archive (plain or gzip-compressed) whose entries are added as well. */
  extraArchive?: Uint8Array;
  /** Replaces the generated /init. */
  init?: string | Uint8Array;
}

/** Written next to the modules: their paths (relative to that directory) in load order. */
export const MODULES_LOAD_FILE = 'modules.load';

const execFileAsync = promisify(execFile);
const APPLET_PATH = /^(?:[\w.+-]+\/)*[\w.+[\]-]+$/;

/**
 * Builds a gzip-compressed newc initramfs: busybox and its applet links, /dev/console and
 * /dev/null, the selected kernel modules with a modules.dep, and an /init that loads them and
 * starts a shell on hvc0. The same inputs always give the same bytes.
 */
export async function buildInitramfs(options: InitramfsOptions): Promise<Uint8Array> {
  const busybox = await readFile(options.busybox);
  const applets = await listApplets(options.busybox, busybox);
  const modules = await selectModules(options);
  const release = kernelRelease(options, modules);

  const cpio = new CpioWriter();
  for (const dir of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'proc', 'sys', 'dev', 'run']) {
    cpio.addDirectory(dir);
  }
  cpio.addDirectory('tmp', { mode: 0o1777 });
  cpio.addDirectory('root', { mode: 0o700 });
  cpio.addDirectory(release === undefined ? 'lib/modules' : `lib/modules/${release}`);
  cpio.addDevice('dev/console', 'char', 5, 1, { mode: 0o600 });
  cpio.addDevice('dev/null', 'char', 1, 3, { mode: 0o666 });
  cpio.addFile('bin/busybox', busybox, { mode: 0o755 });
  for (const applet of applets) {
    if (applet !== 'bin/busybox' && applet !== 'init' && cpio.get(applet) === undefined)
      cpio.addSymlink(applet, '/bin/busybox');
  }

  if (release !== undefined && modules.length > 0) {
    const moduleDir = `lib/modules/${release}`;
    for (const module of modules) {
      cpio.addFile(
        `${moduleDir}/${module.path}`,
        await readFile(join(options.modulesDir!, module.path)),
      );
    }
    cpio.addFile(`${moduleDir}/modules.dep`, modulesDep(modules));
    cpio.addFile(
      `${moduleDir}/${MODULES_LOAD_FILE}`,
      modules.map((module) => `${module.path}\n`).join(''),
    );
  }

  if (options.init === undefined) {
    const needed = [
      'sh',
      'mount',
      'mkdir',
      'setsid',
      'poweroff',
      ...(modules.length > 0 ? ['insmod'] : []),
    ];
    const names = new Set(applets.map((applet) => basename(applet)));
    const missing = needed.filter((name) => !names.has(name));
    if (missing.length > 0) {
      throw new ImageFormatError(
        `busybox at ${options.busybox} lacks the applets the default /init uses (${missing.join(', ')}); pass an init`,
      );
    }
    cpio.addFile('init', defaultInit(release), { mode: 0o755 });
  } else {
    cpio.addFile('init', options.init, { mode: 0o755 });
  }

  for (const file of options.extraFiles ?? []) {
    const data = typeof file.data === 'string' ? new TextEncoder().encode(file.data) : file.data;
    cpio.addFile(file.path.replace(/^\/+/, ''), data, { mode: file.mode ?? defaultMode(data) });
  }
  if (options.extraArchive !== undefined) {
    const archive = options.extraArchive;
    const plain = archive[0] === 0x1f && archive[1] === 0x8b ? gunzipArchive(archive) : archive;
    for (const entry of readCpio(plain)) {
      if (entry.type === 'directory' && cpio.get(entry.path)?.type === 'directory') continue;
      cpio.addEntry(entry);
    }
  }

  const gz = gzipSync(cpio.finish(), { level: 9 });
  gz[9] = 3; // The gzip header's OS byte, so that every host writes the same bytes (Unix).
  return new Uint8Array(gz.buffer, gz.byteOffset, gz.byteLength);
}

function gunzipArchive(archive: Uint8Array): Uint8Array {
  try {
    return gunzipSync(archive);
  } catch (cause) {
    throw new ImageFormatError('extra initramfs archive is not valid gzip', { cause });
  }
}

const defaultMode = (data: Uint8Array): number => {
  const script = data[0] === 0x23 && data[1] === 0x21;
  const elf = data[0] === 0x7f && data[1] === 0x45 && data[2] === 0x4c && data[3] === 0x46;
  return script || elf ? 0o755 : 0o644;
};

async function selectModules(options: InitramfsOptions): Promise<ResolvedModule[]> {
  if (options.modulesDir === undefined) {
    if (options.modules !== undefined && options.modules.length > 0) {
      throw new ImageFormatError(
        `modules ${options.modules.join(', ')} were asked for without a modulesDir`,
      );
    }
    return [];
  }
  return resolveModuleSet(options.modulesDir, options.modules ?? DEFAULT_MODULES);
}

/** The release the modules go under; every module's vermagic must name that same release. */
function kernelRelease(
  options: InitramfsOptions,
  modules: readonly ResolvedModule[],
): string | undefined {
  const releaseOf = (module: ResolvedModule) => module.modinfo.vermagic?.split(' ')[0];
  const fromModules = modules.map(releaseOf).find((release) => release !== undefined);
  const release =
    options.kernelRelease ??
    fromModules ??
    (options.modulesDir === undefined ? undefined : basename(options.modulesDir));
  for (const module of modules) {
    const own = releaseOf(module);
    if (own !== undefined && own !== release) {
      throw new ImageFormatError(
        `kernel module ${module.path} was built for ${own}, not ${release}`,
      );
    }
  }
  if (release !== undefined && !/^[\w.+~-]+$/.test(release)) {
    throw new ImageFormatError(`bad kernel release ${JSON.stringify(release)}`);
  }
  return release;
}

/**
 * modules.dep as depmod writes it: "module.ko: dep.ko …", every dependency transitively, those
 * to load last first (modprobe loads the list from its end).
 */
function modulesDep(modules: readonly ResolvedModule[]): string {
  const byName = new Map(modules.map((module, index) => [module.name, { module, index }]));
  const lines = modules.map((module) => {
    const all = new Set<string>();
    const walk = (name: string) => {
      for (const dep of byName.get(name)?.module.depends ?? []) {
        if (!all.has(dep)) {
          all.add(dep);
          walk(dep);
        }
      }
    };
    walk(module.name);
    const deps = [...all].map((name) => byName.get(name)!);
    deps.sort((a, b) => b.index - a.index);
    return `${module.path}:${deps.map((dep) => ` ${dep.module.path}`).join('')}\n`;
  });
  return lines.join('');
}

/**
 * The applets, as paths like "sbin/insmod". Asks the binary itself (`busybox --list-full`);
 * where it cannot run here, reads the applet name table out of the binary and puts every
 * applet in bin/.
 */
async function listApplets(path: string, binary: Uint8Array): Promise<string[]> {
  let failure: unknown;
  try {
    const { stdout } = await execFileAsync(path, ['--list-full'], {
      timeout: 30_000,
      maxBuffer: 1 << 20,
    });
    const applets = stdout.split('\n').filter((line) => line !== '');
    const bad = applets.find(
      (applet) => !APPLET_PATH.test(applet) || applet.split('/').includes('..'),
    );
    if (applets.length > 0 && bad === undefined) return applets;
    failure = new Error(
      bad === undefined ? 'it listed no applets' : `it listed ${JSON.stringify(bad)}`,
    );
  } catch (cause) {
    failure = cause;
  }
  const names = scanAppletNames(binary);
  if (names !== undefined) return names.map((name) => `bin/${name}`);
  const why = failure instanceof Error ? failure.message : String(failure);
  throw new ImageFormatError(
    `cannot list the applets of busybox ${path}: running it with --list-full failed (${why}), ` +
      'and the binary holds no applet name table',
    { cause: failure },
  );
}

/**
 * Busybox keeps its applet names as one sorted run of NUL-terminated strings, "[", "[[",
 * "acpid" …; finds it in the binary, or returns undefined.
 */
export function scanAppletNames(binary: Uint8Array): string[] | undefined {
  const start = Buffer.from(binary.buffer, binary.byteOffset, binary.byteLength).indexOf(
    '[\0[[\0',
    0,
    'latin1',
  );
  if (start < 0) return undefined;
  const names: string[] = [];
  let offset = start;
  for (;;) {
    const end = binary.indexOf(0, offset);
    if (end <= offset) break;
    const name = String.fromCharCode(...binary.subarray(offset, end));
    if (!/^[\w.+[\]-]+$/.test(name) || (names.length > 0 && name <= names.at(-1)!)) break;
    names.push(name);
    offset = end + 1;
  }
  return names.length >= 8 ? names : undefined;
}

/** What the default /init prints on the console just before it starts the shell. */
export const SHELL_BANNER = 'Xenotype initramfs: Linux ';
/** busybox sh's prompt there (no /etc/passwd, so no "~" for /root). */
export const SHELL_PROMPT = '/root # ';

/** Whether console output shows the shell's prompt after the default /init's banner. */
export function atShellPrompt(text: string): boolean {
  const banner = text.indexOf(SHELL_BANNER);
  return banner >= 0 && text.indexOf(SHELL_PROMPT, banner) >= 0;
}

/** The generated /init (a busybox sh script). */
export function defaultInit(release: string | undefined): string {
  const modules =
    release === undefined
      ? ''
      : `
moddir=/lib/modules/${release}
if [ -f "$moddir/${MODULES_LOAD_FILE}" ]; then
  while read -r module; do
    [ -n "$module" ] || continue
    echo "init: insmod $module"
    insmod "$moddir/$module" || echo "init: $module did not load; carrying on"
  done <"$moddir/${MODULES_LOAD_FILE}"
fi
`;
  return `#!/bin/busybox sh
# /init of a Xenotype initramfs: mount the kernel filesystems, load the modules, then hand over
# to busybox init, which runs an interactive shell on the Xen console (hvc0). Leaving the
# shell, or poweroff in it, or xl shutdown (the kernel runs /sbin/poweroff), powers the domain
# off; reboot and xl reboot reboot it.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/root TERM=linux

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev || echo "init: no devtmpfs; keeping the archive's /dev"
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
${modules}
tty=/dev/console
[ -c /dev/hvc0 ] && tty=/dev/hvc0
mkdir -p /etc /root
cat >/etc/console-shell <<EOF
#!/bin/sh
echo
echo "${SHELL_BANNER}\\$(uname -r), busybox shell on $tty"
echo "Leave the shell to power the domain off."
echo
cd /root
# A new session whose controlling terminal is the console (setsid -c: TIOCSCTTY on stdin),
# so that the shell has job control and ^C.
setsid -c sh -l
echo "init: shell exited; powering off"
poweroff
EOF
chmod 755 /etc/console-shell
# busybox init runs the shell once, on the console, and powers off or reboots on the signals
# poweroff and reboot send it (USR2, TERM).
cat >/etc/inittab <<EOF
\${tty#/dev/}::once:/etc/console-shell
::shutdown:/bin/sync
EOF
exec /bin/busybox init
`;
}
