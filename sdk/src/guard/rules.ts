// Rule matching (internal/guard/rules.go). The rules themselves are Go's,
// in tables.ts: a sequence of slots, each a set of words, where at most gap
// other words may sit between two matched slots.

import { fnv64 } from "./hash.js";
import { maxSlots, rules } from "./tables.js";

/** slotWords is the number of 32-bit words of one word's slot bit set. */
export const slotWords = maxSlots / 32;

/**
 * RuleSet is the rules compiled for matching: every distinct word maps to
 * the set of (rule, slot) pairs it can fill, as a bit set.
 */
export class RuleSet {
  private readonly words = new Map<string, Uint32Array>();
  readonly first: number[] = []; // first[r] is the bit of rule r's first slot
  // The words by the low 30 bits of their FNV hash, which the extractor
  // computes anyway: no string is built to look a word up.
  private readonly byHash = new Map<number, { word: Uint8Array; bits: Uint32Array }[]>();
  private readonly any = new Uint32Array(slotWords);

  constructor() {
    let bit = 0;
    for (const r of rules) {
      this.first.push(bit);
      for (const slot of r.slots) {
        if (bit >= maxSlots) throw new Error("guard: too many rule slots");
        for (const w of slot.split(" ")) {
          if (w === "") continue;
          let b = this.words.get(w);
          if (!b) this.words.set(w, (b = new Uint32Array(slotWords)));
          b[bit >> 5]! |= 1 << (bit & 31);
        }
        bit++;
      }
    }
    for (const [w, bits] of this.words) {
      const key = fnv64(w)[1] & 0x3fffffff;
      const list = this.byHash.get(key) ?? [];
      list.push({ word: Uint8Array.from(w, (c) => c.charCodeAt(0)), bits });
      this.byHash.set(key, list);
    }
  }

  /** lookup returns the slot bits of the word s[i:j], whose FNV hash has low half lo. */
  lookup(lo: number, s: Uint8Array, i: number, j: number): Uint32Array | undefined {
    const list = this.byHash.get(lo & 0x3fffffff);
    if (list === undefined) return undefined;
    next: for (const { word, bits } of list) {
      if (word.length !== j - i) continue;
      for (let k = 0; k < word.length; k++) if (word[k] !== s[i + k]) continue next;
      return bits;
    }
    return undefined;
  }

  /**
   * match sets hits[r] for every rule r that matches the n words whose
   * slot bits are bits[i*slotWords:(i+1)*slotWords].
   */
  match(bits: Uint32Array, n: number, hits: Uint8Array): void {
    const any = this.any.fill(0);
    for (let i = 0; i < n; i++) for (let k = 0; k < slotWords; k++) any[k]! |= bits[i * slotWords + k]!;
    for (let r = 0; r < rules.length; r++) {
      const first = this.first[r]!;
      if (!has(any, 0, first)) continue;
      for (let i = 0; i < n; i++) {
        if (has(bits, i, first) && matchFrom(bits, n, i + 1, first + 1, rules[r]!.slots.length - 1, rules[r]!.gap)) {
          hits[r] = 1;
          break;
        }
      }
    }
  }
}

function has(bits: Uint32Array, word: number, bit: number): boolean {
  return (bits[word * slotWords + (bit >> 5)]! & (1 << (bit & 31))) !== 0;
}

/**
 * matchFrom reports whether the remaining n slots, starting at bit, can be
 * filled in order from word pos on with at most gap words between slots.
 */
function matchFrom(bits: Uint32Array, words: number, pos: number, bit: number, n: number, gap: number): boolean {
  if (n === 0) return true;
  for (let j = pos; j < words && j <= pos + gap; j++) {
    if (has(bits, j, bit) && matchFrom(bits, words, j + 1, bit + 1, n - 1, gap)) return true;
  }
  return false;
}
