/**
 * The order the overhead section runs its sides in, block after block.
 */

/**
 * The order of `sides` in block `b`: rotated by one each block, so every side runs in every
 * position, and reversed every other round, so no side always runs right after the same one.
 */
export function blockOrder(sides, b) {
  const n = sides.length;
  const rotated = sides.map((_, i) => sides[(i + b) % n]);
  return Math.floor(b / n) % 2 === 1 ? rotated.reverse() : rotated;
}
