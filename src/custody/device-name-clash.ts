/**
 * Whether a new device's name collides with, or only looks like, a device the account already
 * has (issue 15 §4: a join request named like your own phone, homoglyphs included). Looks-like
 * is the Unicode confusables skeleton of UTS #39 §4: skeleton(X) = NFD(map(NFD(X))), with the
 * map from confusables.txt as the `unhomoglyph` package ships it (Unicode 13 data); names are
 * compared case-insensitively as well, since "k1" and "K1" read as one name on a card.
 * Pure; browser-safe.
 */
import unhomoglyph from 'unhomoglyph';

export interface NameClash {
  kind: 'same' | 'confusable';
  /** The existing device's name. */
  with: string;
}

export function nameSkeleton(name: string): string {
  return unhomoglyph(name.normalize('NFD')).normalize('NFD');
}

export function nameClash(name: string, existing: readonly string[]): NameClash | undefined {
  const fold = (s: string): string => s.normalize('NFKC').toLowerCase();
  const same = existing.find((e) => fold(e) === fold(name));
  if (same !== undefined) return { kind: 'same', with: same };
  const forms = (s: string): string[] => [nameSkeleton(s), nameSkeleton(fold(s)), fold(nameSkeleton(s))];
  const mine = new Set(forms(name));
  const like = existing.find((e) => forms(e).some((f) => mine.has(f)));
  return like === undefined ? undefined : { kind: 'confusable', with: like };
}
