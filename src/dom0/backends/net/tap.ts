/**
 * The bridge's uplink to the host: a Linux TAP device named like the bridge (xenbr0), so the
 * host can put an address on it and reach the guests, as it does on a Xen host's bridge.
 *
 * Node cannot issue ioctl(TUNSETIFF), so socat holds /dev/net/tun and relays between the TAP
 * and a UDP socket on the loopback, one datagram per Ethernet frame in each direction (a TAP
 * opened with IFF_NO_PI reads and writes bare frames, without FCS, one per read/write). Our
 * side is a dgram socket connected to socat's, so only socat's datagrams reach us. socat's
 * side takes datagrams from any loopback address (socat 1.7's sourceport check refuses the
 * right port), so a local process that finds its port can put frames on the bridge.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { constants } from 'node:fs';
import { access, readdir, readFile, readlink } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/** The host cannot give the bridge a TAP uplink; the message says why, for the operator. */
export class TapUnavailable extends Error {
  override name = 'TapUnavailable';
}

export interface TapDevice {
  readonly name: string;
  /** Sends one Ethernet frame to the host's side of the TAP. The frame is copied. */
  send(frame: Uint8Array): void;
  /** Frames the host sent into the TAP. */
  onFrame: ((frame: Uint8Array) => void) | undefined;
  /** Stops socat; the TAP device disappears with it. */
  close(): Promise<void>;
  /** False once socat has exited (closed, or died: the device is gone). */
  readonly alive: boolean;
}

export interface TapOptions {
  log(line: string): void;
  /**
   * Puts the device into this network namespace (a name `ip netns` knows). The device is
   * created in ours and then moved, because socat's UDP end must share our loopback.
   */
  netns?: string;
  /** The socat executable, a path or a name looked up in PATH; `socat` by default. */
  socat?: string;
}

// linux/capability.h
const CAP_NET_ADMIN = 12;
// linux/if.h
const IFF_UP = 0x1;
const IFNAMSIZ = 16;
// linux/if_ether.h: the smallest frame a TAP accepts (a shorter write fails with EINVAL).
const ETH_HLEN = 14;
// The largest UDP payload over IPv4 (65535 - IP header - UDP header).
const MAX_DATAGRAM = 65_507;

/**
 * Both UDP sockets' receive buffers: a burst of frames (a whole netif ring's worth) waits
 * there for socat or for us; the kernel caps it at net.core.rmem_max.
 */
const SOCKET_BUFFER = 4 << 20;

const READY_TIMEOUT_MS = 5_000;
const READY_POLL_MS = 10;
const STOP_TIMEOUT_MS = 2_000;
/**
 * Messages after start-up are capped per minute: socat reports each frame written while the
 * host has the device down.
 */
const LOG_LINES_PER_MINUTE = 5;

/**
 * Why `name` cannot name a network interface, or undefined when it can: the kernel's rules
 * (net/core/dev.c, dev_valid_name), plus the characters socat's address syntax or the
 * kernel's name templates ("tap%d") would give a meaning.
 */
export function interfaceNameProblem(name: string): string | undefined {
  if (name === '') return 'it is empty';
  if (Buffer.byteLength(name) >= IFNAMSIZ) return `it is longer than ${IFNAMSIZ - 1} characters`;
  if (name === '.' || name === '..') return 'it is "." or ".."';
  for (const c of name) {
    if (/\s/.test(c)) return 'it contains whitespace';
    if ('/:,!"\'\\()[]{}%'.includes(c)) return `it contains '${c}'`;
    const code = c.codePointAt(0) ?? 0;
    if (code < 0x21 || code > 0x7e) return 'it contains a character that is not printable ASCII';
  }
  return undefined;
}

/**
 * Why this process may not create a TAP device, or undefined when it may. TUNSETIFF needs
 * CAP_NET_ADMIN: `status` is /proc/self/status, whose CapEff is the effective set in hex;
 * without it, only root is assumed to have the capability.
 */
export function tapPrivilegeProblem(euid: number, status: string | undefined): string | undefined {
  const capEff = status && /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(status)?.[1];
  const allowed = capEff
    ? (Number.parseInt(capEff.slice(-8), 16) & (1 << CAP_NET_ADMIN)) !== 0
    : euid === 0;
  return allowed ? undefined : 'a TAP device needs root or CAP_NET_ADMIN';
}

export async function openTap(name: string, options: TapOptions): Promise<TapDevice> {
  const unavailable = (reason: string, cause?: unknown) =>
    new TapUnavailable(
      `${name}: no uplink to the host: ${reason}`,
      cause === undefined ? undefined : { cause },
    );

  const nameProblem = interfaceNameProblem(name);
  if (nameProblem) {
    throw unavailable(`${JSON.stringify(name)} is not a valid interface name: ${nameProblem}`);
  }
  if (!(await exists('/dev/net/tun'))) {
    throw unavailable(
      '/dev/net/tun is missing (load the tun kernel module, or give the container that device)',
    );
  }
  const privilegeProblem = tapPrivilegeProblem(
    process.geteuid?.() ?? -1,
    await readFile('/proc/self/status', 'utf8').catch(() => undefined),
  );
  if (privilegeProblem) throw unavailable(privilegeProblem);
  const socat = await findExecutable(options.socat ?? 'socat');
  if (!socat) throw unavailable('socat is not installed (install the `socat` package)');
  const { netns } = options;
  if (netns !== undefined && !(await exists(join('/run/netns', netns)))) {
    throw unavailable(`the network namespace ${JSON.stringify(netns)} does not exist`);
  }

  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: SOCKET_BUFFER });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const existedBefore = await exists(join('/sys/class/net', name));
  const relay = new SocatRelay({
    socat,
    setpriv: await findExecutable('setpriv'),
    name,
    ourPort: socket.address().port,
    log: options.log,
  });
  let socatPort: number;
  try {
    socatPort = await relay.ready(name);
  } catch (error) {
    socket.close();
    await relay.stop();
    if (!(error instanceof StartFailure)) throw error;
    const reason = explainSocatError(error.message, name, existedBefore);
    throw unavailable(`socat could not create the TAP device: ${reason}`, error);
  }

  if (netns !== undefined) {
    try {
      await ip(['link', 'set', 'dev', name, 'netns', netns]);
      await ip(['-n', netns, 'link', 'set', 'dev', name, 'up']);
    } catch (error) {
      socket.close();
      await relay.stop();
      throw unavailable(
        `could not move the TAP device into the network namespace ${netns}: ${(error as Error).message}`,
        error,
      );
    }
  }

  const device = new SocatTap(name, socket, socatPort, relay, options.log);
  await device.connect();
  options.log(
    `${name}: uplink to the host through the TAP device ${name}` +
      (netns === undefined ? '' : ` in the network namespace ${netns}`),
  );
  return device;
}

/** socat's start-up error, with what it usually means here. */
function explainSocatError(message: string, name: string, existedBefore: boolean): string {
  if (/Device or resource busy/.test(message)) {
    return `${message} (another process already has an interface named ${name})`;
  }
  if (/Invalid argument/.test(message) && existedBefore) {
    return `${message} (an interface named ${name} exists and is not a TAP device)`;
  }
  if (/Operation not permitted/.test(message)) {
    return `${message} (socat needs CAP_NET_ADMIN: run as root, or give it as an ambient capability)`;
  }
  return message;
}

/** A start-up error socat reported. */
class StartFailure extends Error {}

/** The socat process: TAP on one side, a UDP socket that sends to our port on the other. */
class SocatRelay {
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  private exitStatus: string | undefined;
  private started = false;
  private readonly startupErrors: string[] = [];
  private partialLine = '';
  /** Called once when socat exits after a successful start. */
  onExit: ((status: string) => void) | undefined;

  private readonly name: string;
  private readonly log: LimitedLog;

  constructor(how: {
    socat: string;
    setpriv: string | undefined;
    name: string;
    ourPort: number;
    log(line: string): void;
  }) {
    const { socat, setpriv, name, ourPort } = how;
    this.name = name;
    this.log = new LimitedLog(how.log);
    // -s keeps socat running when a write to the TAP fails: writes fail with EIO while the
    // host has the device down, and must not tear the uplink down. Start-up errors are still
    // reported, and ready() treats them as fatal itself. -b lets any frame through in one read.
    const args = [
      '-s',
      '-b',
      '65536',
      `TUN,tun-type=tap,tun-name=${name},iff-no-pi,iff-up`,
      `UDP4-DATAGRAM:127.0.0.1:${ourPort},bind=127.0.0.1:0,range=127.0.0.1/32,rcvbuf=${SOCKET_BUFFER}`,
    ];
    // setpriv (util-linux, essential on Debian) makes the kernel stop socat when we die, so
    // a crash does not leave an orphan socat holding the name.
    const [file, argv] = setpriv
      ? [setpriv, ['--pdeathsig', 'TERM', '--', socat, ...args]]
      : [socat, args];
    this.child = spawn(file, argv, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
    this.exited = new Promise((resolve) => {
      this.child.once('error', (error) => {
        this.exitStatus ??= `could not be started: ${error.message}`;
        resolve();
      });
      // 'close' rather than 'exit': by then everything socat wrote to stderr has been read.
      this.child.once('close', (code, signal) => {
        this.exitStatus ??= signal ? `was killed by ${signal}` : `exited with status ${code}`;
        resolve();
      });
    });
    void this.exited.then(() => {
      if (this.started) this.onExit?.(this.exitStatus ?? 'exited');
    });
    this.child.stderr?.setEncoding('utf8');
    this.child.stderr?.on('data', (text: string) => this.stderr(text));
  }

  get running(): boolean {
    return this.exitStatus === undefined;
  }

  /**
   * Waits until socat holds the TAP device `name`, the device is up and socat's UDP socket
   * is bound; returns that socket's port. Throws a StartFailure with socat's message.
   */
  async ready(name: string): Promise<number> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (this.startupErrors.length > 0) throw new StartFailure(this.startupErrors.join('; '));
      if (!this.running) {
        const message = this.startupErrors.join('; ') || `socat ${this.exitStatus}`;
        throw new StartFailure(message);
      }
      const port = await this.boundPort(name).catch(() => undefined);
      if (port !== undefined && (await interfaceIsUp(name))) {
        this.started = true;
        return port;
      }
      if (Date.now() > deadline) {
        throw new StartFailure(`it did not appear within ${READY_TIMEOUT_MS / 1000} s`);
      }
      await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
    }
  }

  /**
   * The port of socat's UDP socket once socat also holds a TAP fd attached to `name`
   * (/proc/PID/fdinfo of a tun fd says "iff: NAME"), else undefined.
   */
  private async boundPort(name: string): Promise<number | undefined> {
    const pid = this.child.pid;
    if (pid === undefined) return undefined;
    const fds = await readdir(`/proc/${pid}/fd`);
    const socketInodes = new Set<string>();
    let attached = false;
    for (const fd of fds) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode) socketInodes.add(inode);
      if (target === '/dev/net/tun') {
        const info = await readFile(`/proc/${pid}/fdinfo/${fd}`, 'utf8').catch(() => '');
        if (info.split('\n').some((line) => line === `iff:\t${name}`)) attached = true;
      }
    }
    if (!attached) return undefined;
    const table = await readFile(`/proc/${pid}/net/udp`, 'utf8');
    for (const line of table.split('\n').slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      const inode = fields[9];
      if (!local || !inode || !socketInodes.has(inode)) continue;
      const port = Number.parseInt(local.split(':')[1] ?? '', 16);
      if (port > 0) return port;
    }
    return undefined;
  }

  private stderr(text: string): void {
    const lines = (this.partialLine + text).split('\n');
    this.partialLine = lines.pop() ?? '';
    for (const raw of lines) {
      // "2026/11/22 00:12:30 socat[22981] E ioctl(...): Device or resource busy"
      const match = /^\S+ \S+ socat\[\d+\] ([A-Z]) (.*)$/.exec(raw);
      const message = match?.[2] ?? raw;
      if (message === '') continue;
      if (!this.started) {
        if (!match || match[1] === 'E' || match[1] === 'F') this.startupErrors.push(message);
      } else {
        this.log.line(`${this.name}: socat: ${message}`);
      }
    }
  }

  /** Stops socat (TERM, then KILL) and waits until it has exited, and with it the device. */
  async stop(): Promise<void> {
    this.started = false;
    if (this.running) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await this.exited;
      clearTimeout(timer);
    }
  }
}

/** A log that passes at most LOG_LINES_PER_MINUTE lines a minute, and counts the rest. */
class LimitedLog {
  private windowStart = Number.NEGATIVE_INFINITY;
  private logged = 0;
  private suppressed = 0;

  constructor(private readonly log: (line: string) => void) {}

  line(text: string): void {
    const now = Date.now();
    if (now - this.windowStart >= 60_000) {
      if (this.suppressed > 0) this.log(`(${this.suppressed} more messages were not logged)`);
      this.windowStart = now;
      this.logged = 0;
      this.suppressed = 0;
    }
    if (this.logged < LOG_LINES_PER_MINUTE) {
      this.logged++;
      this.log(text);
    } else {
      this.suppressed++;
    }
  }
}

class SocatTap implements TapDevice {
  onFrame: ((frame: Uint8Array) => void) | undefined;
  private closing: Promise<void> | undefined;
  private readonly errors: LimitedLog;

  constructor(
    readonly name: string,
    private readonly socket: dgram.Socket,
    private readonly socatPort: number,
    private readonly relay: SocatRelay,
    log: (line: string) => void,
  ) {
    this.errors = new LimitedLog(log);
    socket.on('message', (frame, from) => {
      // Until connect() has the kernel filter them, other senders' datagrams may arrive.
      if (from.port !== socatPort) return;
      // A plain Uint8Array: a Buffer's slice() would share memory where the type says copy.
      this.onFrame?.(new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength));
    });
    socket.on('error', (error) => this.socketError(error));
    relay.onExit = (status) => {
      log(`${name}: the uplink to the host is gone: socat ${status}`);
      this.socket.close();
    };
  }

  get alive(): boolean {
    return this.closing === undefined && this.relay.running;
  }

  connect(): Promise<void> {
    return new Promise((resolve) => this.socket.connect(this.socatPort, '127.0.0.1', resolve));
  }

  send(frame: Uint8Array): void {
    if (!this.alive || frame.length < ETH_HLEN || frame.length > MAX_DATAGRAM) return;
    // A copy: dgram may still read the bytes after send returns, and the caller's frame may
    // be a view of guest memory or a buffer it reuses.
    this.socket.send(Buffer.from(frame), this.sent);
  }

  private readonly sent = (error: Error | null): void => {
    if (error) this.socketError(error);
  };

  private socketError(error: Error): void {
    if (this.alive) this.errors.line(`${this.name}: uplink socket: ${error.message}`);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const wasRunning = this.relay.running;
      await this.relay.stop();
      if (wasRunning) this.socket.close();
    })();
    return this.closing;
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** `command`'s path if it names an executable (directly or through PATH), else undefined. */
async function findExecutable(command: string): Promise<string | undefined> {
  const candidates = command.includes('/')
    ? [command]
    : (process.env.PATH ?? '').split(delimiter).map((dir) => join(dir || '.', command));
  for (const candidate of candidates) {
    if (
      await access(candidate, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return candidate;
  }
  return undefined;
}

async function interfaceIsUp(name: string): Promise<boolean> {
  const flags = await readFile(join('/sys/class/net', name, 'flags'), 'utf8').catch(() => '');
  return (Number.parseInt(flags, 16) & IFF_UP) !== 0;
}

/** Runs iproute2's ip; a failure carries its stderr as the message. */
function ip(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, { env: { ...process.env, LC_ALL: 'C' } }, (error, _stdout, stderr) => {
      if (!error) return resolve();
      const code = (error as NodeJS.ErrnoException).code;
      const message =
        code === 'ENOENT' ? 'ip is not installed (install the `iproute2` package)' : stderr.trim();
      reject(new Error(message || error.message, { cause: error }));
    });
  });
}
