// Enough of curses for xentop's screen: a grid of cells written with wrapping like printw, a
// cursor, reverse/bold/colour attributes, and a render to ANSI escape sequences.
import { Attr, type TopPrinter, type TopView } from './top-render.js';

/** COLOR_PAIR(1): xentop marks the options that are on with a yellow background. */
const HIGHLIGHT = 4;

interface Cell {
  ch: string;
  attr: number;
}

export class TopScreen implements TopPrinter {
  /** initscr: the alternate screen, cursor hidden; endwin undoes it. */
  static readonly ENTER = '\x1b[?1049h\x1b[?25l';
  static readonly LEAVE = '\x1b[?25h\x1b[?1049l';

  private cells: Cell[][] = [];
  private y = 0;
  private x = 0;
  private attr = 0;

  constructor(
    readonly lines: number,
    readonly cols: number,
  ) {
    this.erase();
  }

  erase(): void {
    this.cells = Array.from({ length: this.lines }, () =>
      Array.from({ length: this.cols }, () => ({ ch: ' ', attr: 0 })),
    );
    this.y = 0;
    this.x = 0;
    this.attr = 0;
  }

  row(): number {
    return this.y;
  }

  /** xentop's print(): nothing once the cursor reaches the last line. */
  print(text: string): void {
    if (this.y < this.lines - 1) this.addstr(text);
  }

  attron(a: Attr | number): void {
    this.attr |= a;
  }

  attroff(a: Attr | number): void {
    this.attr &= ~a;
  }

  /** waddstr: a newline clears the rest of the line; text wraps at the right edge. */
  addstr(text: string, attr = this.attr): void {
    for (const ch of text) {
      if (this.y >= this.lines) return;
      if (ch === '\n') {
        for (let x = this.x; x < this.cols; x++) this.cells[this.y]![x] = { ch: ' ', attr: 0 };
        this.y++;
        this.x = 0;
        continue;
      }
      this.cells[this.y]![this.x] = { ch, attr };
      if (++this.x >= this.cols) {
        this.x = 0;
        this.y++;
      }
    }
  }

  /** do_bottom_line: the prompt, or the key help with the options that are on highlighted. */
  bottomLine(prompt: { text: string; value: string } | null, view: TopView): void {
    this.y = this.lines - 1;
    this.x = 2;
    if (prompt) {
      this.addstr(`${prompt.text}: ${prompt.value}`, 0);
      return;
    }
    const key = (k: string): void => this.addstr(k, Attr.Reverse);
    const on = (b: boolean, s: string): void => this.addstr(s, b ? HIGHLIGHT : 0);
    key('D');
    this.addstr('elay  ', 0);
    key('N');
    on(view.showNetworks, 'etworks');
    this.addstr('  ', 0);
    on(view.showVbds, 'v');
    key('B');
    on(view.showVbds, 'ds');
    this.addstr('  ', 0);
    key('V');
    on(view.showVcpus, 'CPUs');
    this.addstr('  ', 0);
    key('R');
    on(view.repeatHeader, 'epeat header');
    this.addstr('  ', 0);
    key('S');
    this.addstr('ort order  ', 0);
    key('Q');
    this.addstr('uit  ', 0);
  }

  /** refresh(): the whole screen from the top-left corner. */
  render(): string {
    const rows = this.cells.map((row) => {
      let out = '';
      let attr = 0;
      const last = row.reduce((end, c, i) => (c.ch !== ' ' || c.attr !== 0 ? i + 1 : end), 0);
      for (const c of row.slice(0, last)) {
        if (c.attr !== attr) {
          out += sgr(c.attr);
          attr = c.attr;
        }
        out += c.ch;
      }
      return `${out}${attr !== 0 ? '\x1b[0m' : ''}\x1b[K`;
    });
    return `\x1b[H${rows.join('\r\n')}`;
  }
}

function sgr(attr: number): string {
  const codes = ['0'];
  if (attr & Attr.Reverse) codes.push('7');
  if (attr & Attr.Bold) codes.push('1');
  if (attr & HIGHLIGHT) codes.push('43');
  return `\x1b[${codes.join(';')}m`;
}
