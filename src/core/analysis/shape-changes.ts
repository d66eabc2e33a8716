/**
 * What changed between two runs of the same turns, statement shape by statement shape: for each
 * turn (paired by label) and section, the fingerprints sent more or less often after than before.
 * "3 queries fewer" says little; "select * from customers where id = $1: 7× → 0×" says what to look at.
 */
import type { TurnDetail } from '../../report/model.js';

/** One statement shape whose count changed in one turn and section. */
export interface ShapeChange {
  turn: string;
  /** The section the statements were sent in (`db.section`), or null. */
  section: string | null;
  fingerprint: string;
  before: number;
  after: number;
}

/**
 * The shapes added (after > before) and removed (after < before), turn by turn in the after
 * run's order, then by section and fingerprint. Turns on one side only are not compared.
 *
 * @example
 * shapeChanges(before.turnDetails, after.turnDetails)
 * // [{ turn: 'c1/m1', section: 'history', fingerprint: 'select * from "customers" where "id" = $1', before: 6, after: 0 }, …]
 */
export function shapeChanges(before: readonly TurnDetail[], after: readonly TurnDetail[]): ShapeChange[] {
  const byLabel = new Map(before.map((t) => [t.turn, t]));
  const out: ShapeChange[] = [];
  for (const t of after) {
    const was = byLabel.get(t.turn);
    if (was === undefined) continue;
    const counts = new Map<string, { section: string | null; fingerprint: string; before: number; after: number }>();
    const add = (d: TurnDetail, side: 'before' | 'after') => {
      for (const s of d.statements) {
        const key = `${s.section ?? ''}\u0000${s.fingerprint}`;
        const c = counts.get(key) ?? { section: s.section, fingerprint: s.fingerprint, before: 0, after: 0 };
        c[side] += 1;
        counts.set(key, c);
      }
    };
    add(was, 'before');
    add(t, 'after');
    const changed = [...counts.values()].filter((c) => c.before !== c.after);
    changed.sort((a, b) => cmp(a.section ?? '', b.section ?? '') || cmp(a.fingerprint, b.fingerprint));
    for (const c of changed) out.push({ turn: t.turn, ...c });
  }
  return out;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
