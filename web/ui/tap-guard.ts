/**
 * Tap-jacking guard for the request cards' Approve buttons (issue 5; issue 16 §3).
 *
 * An Approve button answers a tap only once it has stayed where it is, under the finger, for
 * ARM_MS, and ARM_MS has passed since any card appeared or went. Where it is means its box in
 * the viewport, measured every animation frame and again at the tap itself, so ANY layout change
 * under the pointer re-arms it, whatever caused it: a card appearing, going, or moving, a status
 * line that grows, a screen re-rendered below that makes the page scroll. Scrolling the user
 * starts (wheel, touch, keys) only re-baselines: it is the user moving the page, not the page
 * moving under the user.
 *
 * This complements request-cards.ts keeping cards still (answered cards keep their space while
 * any card is open): the guard is the check, the stillness is what makes it rarely needed.
 */

/** How long a button must stay put before a tap on it counts. */
export const ARM_MS = 700;
/** Input that means the user is scrolling: position changes within this window are theirs. */
const USER_SCROLL_MS = 500;

interface Tracked {
  x: number;
  y: number;
  w: number;
  h: number;
  /** performance.now() of the last move (or of arming's start). */
  since: number;
}

const tracked = new Map<HTMLButtonElement, Tracked>();
let allSince = -Infinity;
let lastUserInput = -Infinity;
let lastScroll = { x: 0, y: 0 };
let frame: number | undefined;

for (const type of ['wheel', 'touchmove', 'keydown'] as const) {
  addEventListener(type, () => (lastUserInput = performance.now()), { capture: true, passive: true });
}
// A tab shown again: whatever moved while hidden, the user has not aimed at it yet.
document.addEventListener('visibilitychange', () => rearmAll());

function box(b: HTMLButtonElement): Omit<Tracked, 'since'> {
  const r = b.getBoundingClientRect();
  return { x: r.left, y: r.top, w: r.width, h: r.height };
}

function same(a: Omit<Tracked, 'since'>, b: Omit<Tracked, 'since'>): boolean {
  // Sub-pixel jitter (zoom, fractional layout) is not a move.
  return Math.abs(a.x - b.x) < 1 && Math.abs(a.y - b.y) < 1 && Math.abs(a.w - b.w) < 1 && Math.abs(a.h - b.h) < 1;
}

/** Measure every button; true when `b` (if given) has moved since last measured. */
function measure(now: number): void {
  const scroll = { x: scrollX, y: scrollY };
  const userScrolled = (scroll.x !== lastScroll.x || scroll.y !== lastScroll.y) && now - lastUserInput < USER_SCROLL_MS;
  lastScroll = scroll;
  for (const [b, t] of tracked) {
    const cur = box(b);
    if (same(cur, t)) continue;
    Object.assign(t, cur);
    if (!userScrolled) t.since = now;
  }
}

function armed(t: Tracked, now: number): boolean {
  return now - t.since >= ARM_MS && now - allSince >= ARM_MS;
}

function tick(): void {
  frame = undefined;
  const now = performance.now();
  measure(now);
  for (const [b, t] of tracked) b.disabled = !armed(t, now);
  if (tracked.size) frame = requestAnimationFrame(tick);
}

function schedule(): void {
  if (frame === undefined && tracked.size) frame = requestAnimationFrame(tick);
}

/** Every Approve waits ARM_MS again (a card appeared or went). */
export function rearmAll(): void {
  allSince = performance.now();
  for (const b of tracked.keys()) b.disabled = true;
  schedule();
}

/** Start guarding `b` (disabled until it has stayed put for ARM_MS). */
export function guard(b: HTMLButtonElement): void {
  tracked.set(b, { ...box(b), since: performance.now() });
  b.disabled = true;
  schedule();
}

export function unguard(b: HTMLButtonElement): void {
  tracked.delete(b);
}

/**
 * Whether a tap on `b` counts, checked in its click handler: the frame loop may not have run
 * since the layout last changed, so the box is measured again here.
 */
export function tapCounts(b: HTMLButtonElement): boolean {
  const t = tracked.get(b);
  if (!t) return false;
  const now = performance.now();
  measure(now);
  const ok = armed(t, now);
  if (!ok) b.disabled = true;
  schedule();
  return ok;
}
